// The automatic transport: which runtime a global object belongs to, which transport file
// that loads, and what happens where there is no TCP transport (Workers, browsers). The
// real Deno and Bun transports are exercised on their runtimes in test/interop/runtimes.test.ts.
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { connect } from "../../../core/client/client.ts"
import {
  detectRuntime,
  layer,
  layerFor,
  loadTransport,
  type Runtime,
  unsupported
} from "../../../core/transport/auto.ts"
import { Transport } from "../../../core/transport/transport.ts"

// Shapes of each runtime's globals as far as detection looks (values seen on the real ones).
const node = { process: { versions: { node: "24.21.0" } }, navigator: { userAgent: "Node.js/24" } }
const deno = {
  Deno: { version: { deno: "2.9.6" } },
  process: { versions: { node: "26.3.0" } },
  navigator: { userAgent: "Deno/2.9.6" }
}
const bun = {
  Bun: { version: "1.4.5" },
  process: { versions: { node: "26.3.0" } },
  navigator: { userAgent: "Bun/1.4.5" }
}
// With nodejs_compat, Workers have a `process` too.
const workerd = { navigator: { userAgent: "Cloudflare-Workers" }, process: { versions: { node: "22.0.0" } } }
const browser = { document: {}, navigator: { userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" } }

describe("detectRuntime", () => {
  it.each([
    ["node", node],
    ["deno", deno],
    ["bun", bun],
    ["workerd", workerd],
    ["browser", browser],
    ["unknown", {}]
  ] as const)("%s", (expected, global) => {
    expect(detectRuntime(global)).toBe(expected)
  })

  it("is not fooled by a Deno or Bun global of the wrong shape", () => {
    expect(detectRuntime({ ...node, Deno: {} })).toBe("node")
    expect(detectRuntime({ ...node, Bun: true })).toBe("node")
  })

  it("says node for the process running this test", () => {
    expect(detectRuntime()).toBe("node")
  })
})

const transportName = Effect.gen(function* () {
  return (yield* Transport).name
})
const nameOf = (runtime: Runtime) => Effect.runPromise(transportName.pipe(Effect.provide(layerFor(runtime))))

describe("loading", () => {
  it("node loads node.ts", async () => {
    const module = await loadTransport("node")
    expect(module).toBeDefined()
    expect(await nameOf("node")).toBe("node")
  })

  // Loading deno.ts or bun.ts on Node is harmless (they touch Deno/Bun only when connecting),
  // so a wrong branch would show here as a wrong name.
  it.each(["deno", "bun"] as const)("%s loads %s.ts", async (runtime) => {
    expect(await nameOf(runtime)).toBe(runtime)
  })

  it("the default layer is this runtime's", async () => {
    expect(await Effect.runPromise(transportName.pipe(Effect.provide(layer)))).toBe("node")
  })

  it.each(["workerd", "browser", "unknown"] as const)("%s has no transport file", (runtime) => {
    expect(loadTransport(runtime)).toBeUndefined()
  })
})

describe("where there is no TCP transport", () => {
  const failure = (runtime: Runtime) =>
    Effect.runPromise(
      Effect.flip(Effect.scoped(connect({ host: "pop.example.com", tls: "implicit" }))).pipe(
        Effect.provide(unsupported(runtime))
      )
    )

  it("on Workers, connecting fails with a ConnectError naming pop3/cloudflare", async () => {
    const error = await failure("workerd")
    expect(error._tag).toBe("ConnectError")
    expect(error.message).toMatch(/pop3-everywhere\/cloudflare/)
  })

  it("in a browser, it names pop3/websocket", async () => {
    const error = await failure("browser")
    expect(error._tag).toBe("ConnectError")
    expect(error.message).toMatch(/pop3-everywhere\/websocket/)
  })

  it("STLS is not offered, so starttls fails before connecting", async () => {
    const error = await Effect.runPromise(
      Effect.flip(Effect.scoped(connect({ host: "pop.example.com", tls: "starttls" }))).pipe(
        Effect.provide(unsupported("unknown"))
      )
    )
    expect(error._tag).toBe("TlsError")
  })
})
