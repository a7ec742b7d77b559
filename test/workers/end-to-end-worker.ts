/**
 * A Worker that runs end-to-end TLS (core/tls) inside workerd over the Cloudflare
 * transport's plain TCP (`secureTransport: "off"`): the client's own TLS on WebCrypto,
 * for test/interop/workers-end-to-end-tls.test.ts. POST { host, port, tls, ca, user,
 * password, message }; the answer is the message's length and SHA-256, and the TlsError
 * problem of the same connection without `ca`.
 */
import * as Effect from "effect/Effect"
import * as Pop3 from "../../core/index.ts"
import * as EndToEnd from "../../core/tls/index.ts"
import * as CloudflareTransport from "../../core/transport/cloudflare.ts"

interface Request {
  readonly host: string
  readonly port: number
  readonly tls: "implicit" | "starttls"
  readonly ca: string
  readonly user: string
  readonly password: string
  readonly message: number
}

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("")

const run = (request: Request) => {
  const target = { host: request.host, port: request.port, tls: request.tls, timeout: 60_000 }
  const fetched = Effect.scoped(
    Effect.gen(function* () {
      const session = yield* Pop3.connect({ ...target, ca: request.ca })
      const mailbox = yield* session.login({ user: request.user, password: request.password })
      return { secure: session.secure, body: yield* Pop3.collect(mailbox.retr(request.message)) }
    })
  )
  const untrusted = Effect.scoped(Pop3.connect(target)).pipe(
    Effect.flip,
    Effect.map((error) => (error._tag === "TlsError" ? (error.problem ?? "no problem") : error._tag))
  )
  return Effect.runPromise(
    Effect.all([fetched, untrusted]).pipe(Effect.provide(EndToEnd.layer(CloudflareTransport.layer)))
  ).then(async ([ok, refused]) => ({
    secure: ok.secure,
    length: ok.body.length,
    sha256: hex(await crypto.subtle.digest("SHA-256", new Uint8Array(ok.body))),
    refused
  }))
}

export default {
  async fetch(request: globalThis.Request): Promise<Response> {
    try {
      return Response.json(await run((await request.json()) as Request))
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 500 })
    }
  }
}
