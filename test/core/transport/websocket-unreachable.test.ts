// A bridge that is not there: the error must name the bridge (not the mail server behind
// it), say something useful instead of the platform's bare Event, and keep the token out.
// Node's own global WebSocket and `ws` (node-websocket.ts, the CLI's), no msw: a real
// refused TCP connection on loopback.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { connect } from "../../../core/client/client.ts"
import { ConnectError } from "../../../core/errors.ts"
import * as NodeWebSocket from "../../../core/transport/node-websocket.ts"
import { layerGlobal } from "../../../core/transport/websocket.ts"

// Port 9 (discard) is closed on this machine and on CI's: the connection is refused at once.
const BRIDGE = "ws://127.0.0.1:9/pop3?token=bridge-secret-77"

describe.each([
  ["the global WebSocket", layerGlobal],
  ["ws", NodeWebSocket.layer]
])("WebSocket transport (%s) without a bridge", (_, layer) => {
  it("fails with ConnectError naming the bridge's address, a readable reason and no token", async () => {
    const exit = await Effect.runPromiseExit(
      connect({ host: "pop.example.com", port: 995, tls: "implicit", timeout: 5000 }).pipe(
        Effect.scoped,
        Effect.provide(layer(BRIDGE))
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit)
      ? exit.cause.reasons.map((r) => (r._tag === "Fail" ? r.error : undefined))[0]
      : undefined
    expect(error).toBeInstanceOf(ConnectError)
    const e = error as ConnectError
    expect({ host: e.host, port: e.port }).toEqual({ host: "127.0.0.1", port: 9 })
    expect(e.message).toContain("pop3-bridge at ws://127.0.0.1:9/pop3")
    expect(e.message).not.toContain("[object")
    expect(e.message).not.toContain("bridge-secret-77")
    expect(e.message).not.toContain("pop.example.com")
  })
})
