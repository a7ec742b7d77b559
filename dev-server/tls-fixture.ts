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
