// End-to-end TLS on Deno and Bun: the same core/tls over each runtime's own TCP transport
// (test/core/tls/runtime-client.ts), implicit and STLS, to the dev server with a
// certificate of a throwaway CA; and the TlsError without that CA. subtls needs only
// WebCrypto, which both have.
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { TcpListener } from "../../../dev-server/tcp.ts"
import { listenTcp } from "../../../dev-server/tcp.ts"
import { makePki, type Pki } from "../../support/pki.ts"
import { requireService } from "../../support/require-service.ts"
import { runtimeBin, runtimesAvailable } from "../../support/runtimes.ts"
import { makeStore, num, PASSWORD, stored } from "../client/harness.ts"

const ROOT = join(import.meta.dirname, "..", "..", "..")
const bin = runtimeBin
const CLIENT = join(import.meta.dirname, "runtime-client.ts")

const available = requireService("Deno and Bun", runtimesAvailable())

const commandLine = (runtime: "deno" | "bun"): ReadonlyArray<string> =>
  runtime === "deno" ? ["run", "--no-prompt", "--allow-net=127.0.0.1,localhost", "--allow-env", CLIENT] : [CLIENT]

describe.skipIf(!available)("end-to-end TLS on Deno and Bun", { timeout: 120_000 }, () => {
  let pki: Pki | undefined
  const listeners: Array<TcpListener> = []
  const store = makeStore()
  beforeAll(async () => {
    pki = await makePki()
    const cert = await pki.issue(["localhost"])
    listeners.push(await listenTcp(store, { tls: cert, implicitTls: true, onError: () => {} }))
    listeners.push(await listenTcp(store, { tls: cert, onError: () => {} }))
  }, 60_000)
  afterAll(async () => {
    await Promise.all(listeners.map((l) => l.close()))
    await pki?.remove()
  })

  describe.each(["deno", "bun"] as const)("%s", (runtime) => {
    it.each(["implicit", "starttls"] as const)(
      "%s: the message intact; without the CA untrusted-certificate",
      async (tls) => {
        const port = (tls === "implicit" ? listeners[0] : listeners[1])?.port
        const input = JSON.stringify({ port, tls, ca: pki?.ca, password: PASSWORD, message: num("long") })
        const stdout = await new Promise<string>((resolve, reject) =>
          execFile(bin(runtime), [...commandLine(runtime), input], { cwd: ROOT }, (error, out, err) =>
            error === null ? resolve(out) : reject(new Error(`${runtime} failed: ${err.slice(-2000)}`))
          )
        )
        const body = stored(store, num("long"))
        expect(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}")).toEqual({
          secure: true,
          length: body.length,
          sha256: createHash("sha256").update(body).digest("hex"),
          refused: "untrusted-certificate"
        })
      }
    )
  })
})
