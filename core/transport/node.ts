/**
 * The Node transport: TCP and TLS through `@effect/platform-node-shared`'s `NodeSocket`, with
 * STLS through `reader.upgrade`. The only file of the client that imports Node.
 *
 * @module
 */
import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Socket from "effect/socket/Socket"
import { isIP } from "node:net"
import { rootCertificates } from "node:tls"
import { Transport, verifyingUpgradeOptions } from "./transport.ts"
import type { Target } from "./transport.ts"

// SNI must not carry an IP address (RFC 6066; Node prints DEP0123 to stderr when it does).
// Without `servername` Node checks the certificate against the host, which is the same name.
const sni = (target: Target): { readonly servername?: string } =>
  isIP(target.servername) !== 0 && target.servername === target.host ? {} : { servername: target.servername }

// STLS to an IP address must name it as `servername` (see upgradeOptions), and Node then
// prints DEP0123 — two lines on stderr, where the CLI promises errors of one line. While
// such an upgrade starts, that one warning is dropped; every other warning passes.
let quieting = 0
let emitWarning: typeof process.emitWarning | undefined
const isDep0123 = (args: ReadonlyArray<unknown>): boolean =>
  args[2] === "DEP0123" ||
  (typeof args[1] === "object" && args[1] !== null && (args[1] as { code?: unknown }).code === "DEP0123")
const withoutDep0123 = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      if (quieting++ === 0) {
        const original = process.emitWarning
        emitWarning = original
        process.emitWarning = function (this: unknown, ...args: Array<unknown>) {
          if (isDep0123(args)) return
          return (original as (...args: Array<unknown>) => void).apply(process, args)
        } as typeof process.emitWarning
      }
    }),
    () => effect,
    () =>
      Effect.sync(() => {
        if (--quieting === 0 && emitWarning !== undefined) {
          process.emitWarning = emitWarning
          emitWarning = undefined
        }
      })
  )

const quietIpUpgrade =
  (target: Target) =>
  (socket: Socket.Socket): Socket.Socket =>
    isIP(target.servername) === 0
      ? socket
      : {
          ...socket,
          reader: Effect.map(socket.reader, (reader) => ({
            ...reader,
            upgrade: (options) => withoutDep0123(reader.upgrade(options))
          }))
        }

/**
 * The Node TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "node",
  startTls: true,
  // Always the name here, even an IP (Node's DEP0123 warning is dropped, see above): without it, an upgraded
  // socket's certificate is NOT checked against the host — a test showed a certificate for
  // 127.0.0.1 accepted from 127.0.0.2. makeTls below has `host`, so it can omit SNI.
  upgradeOptions: (target) => verifyingUpgradeOptions(target, rootCertificates),
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
      : Effect.map(
          NodeSocket.makeNet({ host: target.host, port: target.port, openTimeout: target.connectTimeoutMillis }),
          quietIpUpgrade(target)
        )
})
