/**
 * A transport for a platform that has none of its own: connecting fails with a
 * `ConnectError` that says which transport to use instead. Used by `auto.ts` for runtimes
 * it does not know and by `browser.ts`, which `pop3-everywhere/transport` resolves to in
 * browser builds, so a browser bundle never carries Node, Deno or Bun code.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import { Transport } from "./transport.ts"

/**
 * A layer whose every connection fails to open with `advice` as the reason.
 * @category layers
 */
export const unsupported = (name: string, advice: string): Layer.Layer<Transport> =>
  Layer.succeed(Transport)({
    name,
    startTls: false,
    upgradeOptions: () => ({}),
    open: () =>
      Effect.succeed(
        Socket.make({
          reader: Effect.fail(
            new Socket.SocketError({
              reason: new Socket.SocketOpenError({ kind: "Unknown", cause: new Error(advice) })
            })
          ),
          writer: Effect.succeed({ write: () => Effect.void, writeAll: () => Effect.void })
        })
      )
  })
