/**
 * The Node transport: TCP and TLS through `@effect/platform-node`'s `NodeSocket`, with
 * STLS through `reader.upgrade`. The only file of the client that imports Node.
 *
 * @module
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Layer from "effect/Layer"
import { rootCertificates } from "node:tls"
import { Transport } from "./transport.ts"

/**
 * The Node TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "node",
  startTls: true,
  upgradeOptions: (target) => ({
    servername: target.servername,
    rejectUnauthorized: !target.insecure,
    ...(target.ca !== undefined ? { ca: [...rootCertificates, ...target.ca] } : {})
  }),
  open: (target) =>
    target.tls === "implicit"
      ? NodeSocket.makeTls({
        host: target.host,
        port: target.port,
        servername: target.servername,
        rejectUnauthorized: !target.insecure,
        openTimeout: target.connectTimeoutMillis,
        // Node replaces its default roots when `ca` is given; keep them and add ours.
        ...(target.ca !== undefined ? { ca: [...rootCertificates, ...target.ca] } : {})
      })
      : NodeSocket.makeNet({ host: target.host, port: target.port, openTimeout: target.connectTimeoutMillis })
})
