// The client's rules about a pop3-bridge, pure: loopback, whether the path is encrypted,
// and which socket failures are the bridge's (its 4000–4999 close codes, no WebSocket).

import * as Socket from "effect/socket/Socket"
import { describe, expect, it } from "vitest"
import { BridgeError, ConnectError } from "../../../core/errors.ts"
import {
  BRIDGE_CLOSE_CODES,
  classifyBridgeFailure,
  isLoopback,
  pathEncrypted
} from "../../../core/transport/bridge-rules.ts"

const closed = (code: number, closeReason?: string) =>
  new Socket.SocketError({ reason: new Socket.SocketCloseError({ code, closeReason }) })

describe("bridge rules", () => {
  it("knows loopback names and addresses", () => {
    for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "::1"])
      expect(isLoopback(host), host).toBe(true)
    for (const host of ["128.0.0.1", "localhost.example", "10.0.0.1", "[::2]", "127.0.0"])
      expect(isLoopback(host), host).toBe(false)
  })

  it("counts the path encrypted only with TLS upstream and wss: or a loopback bridge", () => {
    expect(pathEncrypted(new URL("wss://bridge.example/pop3"), { tls: "implicit" })).toBe(true)
    expect(pathEncrypted(new URL("ws://127.0.0.1:8080/pop3"), { tls: "implicit" })).toBe(true)
    expect(pathEncrypted(new URL("ws://bridge.example/pop3"), { tls: "implicit" })).toBe(false)
    expect(pathEncrypted(new URL("wss://bridge.example/pop3"), { tls: "none" })).toBe(false)
  })

  it("counts passthrough encrypted exactly when the client runs TLS itself, whatever the leg to the bridge", () => {
    for (const bridge of ["ws://bridge.example/pop3", "wss://bridge.example/pop3", "ws://127.0.0.1:8080/pop3"]) {
      expect(pathEncrypted(new URL(bridge), { tls: "passthrough" }, true), bridge).toBe(true)
      expect(pathEncrypted(new URL(bridge), { tls: "passthrough" }), bridge).toBe(false)
      expect(pathEncrypted(new URL(bridge), { tls: "passthrough" }, false), bridge).toBe(false)
    }
  })

  it("maps exactly the close codes 4000–4999 to BridgeError", () => {
    const bridge = new URL("wss://bridge.example/pop3?token=secret")
    expect(BRIDGE_CLOSE_CODES).toEqual({ min: 4000, max: 4999 })
    const refused = classifyBridgeFailure(bridge, closed(4001, "target not allowed"))
    expect(refused).toBeInstanceOf(BridgeError)
    expect(refused).toMatchObject({ code: 4001, reason: "target not allowed" })
    expect(classifyBridgeFailure(bridge, closed(4999))).toBeInstanceOf(BridgeError)
    expect(classifyBridgeFailure(bridge, closed(3999))).toBeUndefined()
    expect(classifyBridgeFailure(bridge, closed(5000))).toBeUndefined()
    expect(classifyBridgeFailure(bridge, closed(1000))).toBeUndefined()
  })

  it("a WebSocket that never opened is the bridge's ConnectError, without the token; a timeout is left alone", () => {
    const bridge = new URL("wss://bridge.example/pop3?token=secret")
    const open = (kind: "Unknown" | "Timeout") =>
      new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind, cause: new Error("x") }) })
    const error = classifyBridgeFailure(bridge, open("Unknown"))
    expect(error).toBeInstanceOf(ConnectError)
    expect(error).toMatchObject({ host: "bridge.example", port: 443 })
    expect(JSON.stringify(error)).not.toContain("secret")
    expect(classifyBridgeFailure(bridge, open("Timeout"))).toBeUndefined()
  })

  it("says which HTTP answer refused the upgrade (Node's ws names the status), and takes nothing else from the message", () => {
    const bridge = new URL("wss://bridge.example/pop3?token=secret")
    const answered = (message: string) =>
      classifyBridgeFailure(
        bridge,
        new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause: new Error(message) }) })
      )?.message ?? ""
    const at = "no WebSocket to the pop3-bridge at wss://bridge.example/pop3: "
    expect(answered("Unexpected server response: 401")).toContain(`${at}it refused the token (HTTP 401`)
    expect(answered("Unexpected server response: 403")).toContain(`${at}it refused this origin (HTTP 403`)
    expect(answered("Unexpected server response: 404")).toContain(
      `${at}nothing answers WebSockets at this path (HTTP 404`
    )
    expect(answered("Unexpected server response: 503")).toContain(`${at}it is shutting down (HTTP 503)`)
    expect(answered("Unexpected server response: 302")).toContain(
      `${at}it answered HTTP 302 instead of a WebSocket upgrade (is this a pop3-bridge's URL?)`
    )
    // Anything else in the message is not trusted as a status.
    for (const other of ["Unexpected server response: 302 token=secret", "Unexpected server response: 99999"])
      expect(answered(other), other).toMatch(/\(is it running\?/)
  })

  it("names the platform's error code when there is one (Node's ws), never its message, which may quote the URL", () => {
    const bridge = new URL("wss://bridge.example/pop3?token=secret")
    const failing = (cause: unknown) =>
      classifyBridgeFailure(
        bridge,
        new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })
      )
    const withCode = (code: string) =>
      Object.assign(new Error(`failed for wss://bridge.example/pop3?token=secret`), { code })
    const tls = failing(withCode("ERR_TLS_CERT_ALTNAME_INVALID"))
    expect(tls).toMatchObject({
      reason:
        "no WebSocket to the pop3-bridge at wss://bridge.example/pop3: its TLS certificate was not accepted (ERR_TLS_CERT_ALTNAME_INVALID)"
    })
    expect(failing(withCode("ECONNREFUSED"))).toMatchObject({
      reason: expect.stringMatching(
        /^no WebSocket to the pop3-bridge at wss:\/\/bridge\.example\/pop3 \(ECONNREFUSED\) \(is it running\?/
      )
    })
    // A browser's bare Event, or a code that is not one: no detail.
    expect(failing(new Event("error"))).toMatchObject({
      reason: expect.stringMatching(
        /^no WebSocket to the pop3-bridge at wss:\/\/bridge\.example\/pop3 \(is it running\?/
      )
    })
    expect(failing(withCode("token=secret"))).toMatchObject({
      reason: expect.stringMatching(
        /^no WebSocket to the pop3-bridge at wss:\/\/bridge\.example\/pop3 \(is it running\?/
      )
    })
    for (const cause of [withCode("ERR_TLS_CERT_ALTNAME_INVALID"), withCode("ECONNREFUSED"), withCode("token=secret")])
      expect(JSON.stringify(failing(cause))).not.toContain("secret")
  })
})
