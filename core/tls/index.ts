/**
 * End-to-end TLS (experimental): the client does TLS 1.3 itself, over any transport's byte
 * stream, so a relay between it and the mail server — a pop3-bridge in `tls=passthrough`
 * mode — sees only ciphertext. TLS 1.3 only, the chain verified to Mozilla's roots (or
 * `ca`), the host name checked against `servername`. The WebSocket transport offers it as
 * `layer(url, { endToEnd: true })`; `layer` here puts it over any other transport.
 *
 * @module
 */
export { endToEndTransport, layer, type OpenRaw } from "./end-to-end.ts"
export { tlsErrorOf, tlsSocket, type TunnelOptions } from "./tunnel.ts"
