// Run by runtimes.test.ts under Deno and Bun: end-to-end TLS over that runtime's own TCP
// transport (plain TCP, the client's TLS on top) to the dev server the test started. Prints
// one JSON line: the message's length and SHA-256, and the TlsError problem without the CA.
import * as Effect from "effect/Effect"
import { collect, connect } from "../../../core/index.ts"
import * as EndToEnd from "../../../core/tls/index.ts"
import * as Auto from "../../../core/transport/auto.ts"

const input = JSON.parse(process.argv[2] ?? "{}") as {
  port: number
  tls: "implicit" | "starttls"
  ca: string
  password: string
  message: number
}
const target = { host: "localhost", port: input.port, tls: input.tls, timeout: 60_000 }

const fetched = Effect.scoped(
  Effect.gen(function* () {
    const session = yield* connect({ ...target, ca: input.ca })
    const mailbox = yield* session.login({ user: "alice", password: input.password, mechanism: "user" })
    return { secure: session.secure, body: yield* collect(mailbox.retr(input.message)) }
  })
)
const untrusted = Effect.scoped(connect(target)).pipe(
  Effect.flip,
  Effect.map((error) => (error._tag === "TlsError" ? (error.problem ?? "no problem") : error._tag))
)

const [ok, refused] = await Effect.runPromise(
  Effect.all([fetched, untrusted]).pipe(Effect.provide(EndToEnd.layer(Auto.layer)))
)
const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(ok.body)))
const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")
console.log(JSON.stringify({ secure: ok.secure, length: ok.body.length, sha256, refused }))
