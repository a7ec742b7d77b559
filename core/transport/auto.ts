/**
 * The transport for the runtime this code runs on: `node.ts` on Node, `deno.ts` on Deno
 * (native `Deno.startTls` for STLS), `bun.ts` on Bun. Only the chosen file is loaded, by
 * a dynamic `import()`, so no runtime ever loads another's modules.
 *
 * Cloudflare Workers are not detected here: their transport imports `cloudflare:sockets`,
 * which no other runtime (or bundle) can resolve, so Workers code imports it itself —
 * `pop3-everywhere/cloudflare`. In a browser there is no TCP: use `pop3-everywhere/websocket` with a bridge.
 * On those platforms this layer still builds, and connecting fails with a `ConnectError`
 * that says which transport to use.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { advice as browserAdvice } from "./browser.ts"
import { detectRuntime, type Runtime } from "./detect-runtime.ts"
import type { Transport } from "./transport.ts"
import { unsupported as unsupportedLayer } from "./unsupported.ts"

export { detectRuntime, type Runtime } from "./detect-runtime.ts"

/**
 * What a transport module exports.
 * @category models
 */
export interface TransportModule {
  readonly layer: Layer.Layer<Transport>
}

/**
 * Loads the transport module for `runtime`, or undefined when it has none. Each branch
 * names its file literally (so bundlers and `deno compile` can follow it); `as string`
 * keeps node.ts, which needs Node's types, out of core/'s type-check.
 * @category loading
 */
export const loadTransport = (runtime: Runtime): Promise<TransportModule> | undefined => {
  switch (runtime) {
    case "deno":
      return import("./deno.ts")
    case "bun":
      return import("./bun.ts")
    case "node":
      return import("./node.ts" as string) as Promise<TransportModule>
    default:
      return undefined
  }
}

const advice: Record<Runtime, string> = {
  deno: "",
  bun: "",
  node: "",
  workerd: "on Cloudflare Workers, provide the layer of pop3-everywhere/cloudflare instead of the automatic transport",
  browser: browserAdvice,
  unknown:
    "no TCP transport is known for this runtime: provide a transport layer (pop3-everywhere/node, /deno, /bun, /cloudflare, /websocket)"
}

/**
 * A transport for a runtime without one: connecting fails, saying what to use instead.
 * @category layers
 */
export const unsupported = (runtime: Runtime): Layer.Layer<Transport> =>
  unsupportedLayer(`auto (${runtime}: unsupported)`, advice[runtime])

/**
 * The transport for `runtime`, loaded when the layer is built.
 * @category layers
 */
export const layerFor = (runtime: Runtime): Layer.Layer<Transport> =>
  Layer.unwrap(
    Effect.suspend(() => {
      const module = loadTransport(runtime)
      return module === undefined
        ? Effect.succeed(unsupported(runtime))
        : Effect.map(
            Effect.promise(() => module),
            (m) => m.layer
          )
    })
  )

/**
 * The transport for the runtime this code runs on.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.suspend(() => layerFor(detectRuntime()))
