// End-to-end TLS inside workerd (miniflare): core/tls over the Cloudflare transport's plain
// TCP (test/workers/end-to-end-worker.ts), implicit and STLS, to a real Dovecot serving a
// certificate of a throwaway CA. workerd trusts no certificate here: the TLS is the
// client's own, on the Worker's WebCrypto.
import { createHash } from "node:crypto"
import type { Miniflare } from "miniflare"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Dovecot, dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import { makePki, type Pki } from "../support/pki.ts"
import { requireService } from "../support/require-service.ts"
import { bundleWorker } from "../workers/bundle.ts"
import { startWorker } from "../workers/miniflare.ts"

const available = requireService("Dovecot", dovecotAvailable())

describe.skipIf(!available)("end-to-end TLS inside workerd (miniflare) against Dovecot", () => {
  let pki: Pki | undefined
  let server: Dovecot | undefined
  let worker: Miniflare | undefined

  beforeAll(async () => {
    pki = await makePki()
    const leaf = await pki.issue(["localhost"])
    const [script, dovecot] = await Promise.all([
      bundleWorker("test/workers/end-to-end-worker.ts"),
      startDovecot({ certificate: { ...leaf, ca: pki.ca } })
    ])
    server = dovecot
    worker = startWorker({ script })
    await worker.ready
  })
  afterAll(async () => {
    await worker?.dispose()
    await server?.stop()
    await pki?.remove()
  })

  it.each(["implicit", "starttls"] as const)(
    "%s: the 5 MB message intact; without the CA untrusted-certificate",
    async (tls) => {
      const d = server as Dovecot
      const response = await worker?.dispatchFetch("http://worker/", {
        method: "POST",
        body: JSON.stringify({
          host: "localhost",
          port: tls === "implicit" ? d.tlsPort : d.port,
          tls,
          ca: pki?.ca,
          user: "alice",
          password: d.users.alice.password,
          message: 5
        })
      })
      const answer = await response?.json()
      const message = d.messages("alice")[4]!
      expect(answer).toEqual({
        secure: true,
        length: message.length,
        sha256: createHash("sha256").update(message).digest("hex"),
        refused: "untrusted-certificate"
      })
    }
  )
})
