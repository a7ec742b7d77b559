/**
 * End-to-end TLS as a transport: any transport's raw byte connection with the client's
 * own TLS on top (`tunnel.ts`), so that what relays the bytes — a pop3-bridge in
 * `tls=passthrough` mode above all — sees only ciphertext. Implicit TLS and STLS both
 * work; `insecure` is refused, since a connection that trusts any certificate would let
 * the relay itself read everything.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { TlsError } from "../errors.ts"
import { openError } from "../transport/reader.ts"
import { type Target, Transport } from "../transport/transport.ts"
import { tlsErrorOf, tlsSocket } from "./tunnel.ts"

/**
 * How the wrapped transport opens the raw connection that TLS runs over (default: its
 * `open` with `tls: "none"`, a plain byte stream).
 * @category models
 */
export type OpenRaw = (target: Target) => Effect.Effect<Socket.Socket>

/**
 * `inner` with end-to-end TLS: `open` gives a socket that does TLS itself (from the first
 * byte for `tls: "implicit"`, after STLS for `"none"`), verified against Mozilla's roots
 * and `target.ca`, for `target.servername`.
 * @category constructors
 */
export const endToEndTransport = (
  inner: Transport["Service"],
  openRaw: OpenRaw = (target) => inner.open({ ...target, tls: "none" })
): Transport["Service"] => ({
  name: `${inner.name}+e2e-tls`,
  startTls: true,
  // The TLS ends in this client: the path is encrypted whatever carries it.
  secure: (target) => target.tls === "implicit",
  upgradeOptions: (target) => ({ servername: target.servername }),
  classify: (error) => tlsErrorOf(error) ?? inner.classify?.(error),
  open: (target) =>
    target.insecure
      ? Effect.succeed(refused(target))
      : Effect.map(openRaw(target), (raw) =>
          tlsSocket(raw, {
            servername: target.servername,
            ca: target.ca,
            mode: target.tls === "implicit" ? "implicit" : "starttls"
          })
        )
})

// A socket whose connection fails at once: `open` itself cannot fail.
const refused = (target: Target): Socket.Socket => {
  const error = openError(
    new TlsError({
      host: target.servername,
      reason:
        "insecure (no certificate verification) is refused with end-to-end TLS: the relay could then read everything"
    })
  )
  return Socket.make({
    reader: Effect.fail(error),
    writer: Effect.succeed({ write: () => Effect.fail(error), writeAll: () => Effect.fail(error) })
  })
}

/**
 * The transport of `inner` with end-to-end TLS (e.g. over the memory transport in tests).
 * The WebSocket transport has it built in: `websocket.layer(url, { endToEnd: true })`.
 * @category layers
 */
export const layer = <E, R>(inner: Layer.Layer<Transport, E, R>): Layer.Layer<Transport, E, R> =>
  Layer.effect(Transport)(
    Effect.gen(function* () {
      return endToEndTransport(yield* Transport)
    })
  ).pipe(Layer.provide(inner))
