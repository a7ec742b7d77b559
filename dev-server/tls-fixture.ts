// The committed self-signed test certificate (CN=localhost, SAN DNS:localhost and
// IP:127.0.0.1) — test-only, see test/fixtures/tls/README.md. Node only: it reads files.

import { readFileSync } from "node:fs"

const dir = new URL("../test/fixtures/tls/", import.meta.url)

/** PEM certificate; clients in tests pass it as their CA to verify the dev server. */
export const testCert: string = readFileSync(new URL("cert.pem", dir), "utf8")
/** PEM private key of testCert. Public in the repository: protects nothing. */
export const testKey: string = readFileSync(new URL("key.pem", dir), "utf8")
/** Both, in the shape listenTcp's `tls` option takes. */
export const testTls: { readonly cert: string; readonly key: string } = { cert: testCert, key: testKey }

/**
 * The test CA (PEM) that issued `issuedTls`: what a client trusts for it. End-to-end TLS
 * verifies as browsers do, a chain to a CA, so it cannot trust the self-signed testCert.
 */
export const testCa: string = readFileSync(new URL("ca.pem", dir), "utf8")
/** A certificate and key for localhost/127.0.0.1 issued by testCa (npm start serves it). */
export const issuedTls: { readonly cert: string; readonly key: string } = {
  cert: readFileSync(new URL("issued-cert.pem", dir), "utf8"),
  key: readFileSync(new URL("issued-key.pem", dir), "utf8")
}
