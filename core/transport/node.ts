/**
 * The Node transport: TCP and TLS through `@effect/platform-node-shared`'s `NodeSocket`, with
 * STLS through `reader.upgrade`. The only file of the client that imports Node.
 *
 * @module
 */
import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
import * as Layer from "effect/Layer"
import { isIP } from "node:net"
import { rootCertificates } from "node:tls"
import { Transport } from "./transport.ts"
import type { Target } from "./transport.ts"

// SNI must not carry an IP address (RFC 6066; Node prints DEP0123 to stderr when it does).
// Without `servername` Node checks the certificate against the host, which is the same name.
const sni = (target: Target): { readonly servername?: string } =>
  isIP(target.servername) !== 0 && target.servername === target.host ? {} : { servername: target.servername }

/**
 * The Node TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "node",
  startTls: true,
  upgradeOptions: (target) => ({
    // Always the name here, even an IP (Node then prints DEP0123): without it, an upgraded
    // socket's certificate is NOT checked against the host — a test showed a certificate for
    // 127.0.0.1 accepted from 127.0.0.2. makeTls below has `host`, so it can omit SNI.
    servername: target.servername,
    rejectUnauthorized: !target.insecure,
    ...(target.ca !== undefined ? { ca: [...rootCertificates, ...target.ca] } : {})
  }),
  open: (target) =>
    target.tls === "implicit"
      ? NodeSocket.makeTls({
        host: target.host,
        port: target.port,
        ...sni(target),
        rejectUnauthorized: !target.insecure,
        openTimeout: target.connectTimeoutMillis,
        // Node replaces its default roots when `ca` is given; keep them and add ours.
        ...(target.ca !== undefined ? { ca: [...rootCertificates, ...target.ca] } : {})
      })
      : NodeSocket.makeNet({ host: target.host, port: target.port, openTimeout: target.connectTimeoutMillis })
})
