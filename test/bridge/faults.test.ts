/**
 * Fault injection (issue 14, item 9), real sockets on loopback: the mail server resets the
 * connection in the middle of a body, the client vanishes without a close frame, the mail
 * server never answers (no greeting; no DNS answer), and half-open peers (a mail server
 * that half-closes, a client that stops answering altogether). After each: the
 * active-session gauge is back to 0, and no socket, file descriptor or timer created by
 * the bridge (or `ws` for it) is left — counted before and after.
 *
 * Timers are counted by wrapping the global timer functions while this file runs and
 * keeping those created from bridge/ or ws code that have neither fired nor been cleared.
 */
import { readdirSync } from "node:fs"
import type { Socket } from "node:net"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { CloseCode } from "../../bridge/close-codes.ts"
import type { BridgeOptions } from "../../bridge/config.ts"
import { closed, connect, opened, receive, startTestBridge, startUpstream, until, type Upstream } from "./helpers.ts"

// ---------------------------------------------------------------------------------------
// Counting what the bridge holds

const live = new Set<unknown>()
const originals = {
  setTimeout: globalThis.setTimeout,
  setInterval: globalThis.setInterval,
  clearTimeout: globalThis.clearTimeout,
  clearInterval: globalThis.clearInterval
}
const fromBridge = (): boolean => {
  const stack = new Error().stack ?? ""
  return /\/bridge\/[a-z-]+\.ts|node_modules\/ws\//.test(stack)
}

beforeAll(() => {
  const g = globalThis as unknown as Record<string, unknown>
  g["setTimeout"] = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const tracked = fromBridge()
    const t: unknown = originals.setTimeout(
      (...a: unknown[]) => {
        live.delete(t)
        fn(...a)
      },
      ms,
      ...args
    )
    if (tracked) live.add(t)
    return t
  }) as unknown
  g["setInterval"] = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t: unknown = originals.setInterval(fn, ms, ...args)
    if (fromBridge()) live.add(t)
    return t
  }) as unknown
  g["clearTimeout"] = ((t: unknown) => {
    live.delete(t)
    originals.clearTimeout(t as NodeJS.Timeout)
  }) as unknown
  g["clearInterval"] = ((t: unknown) => {
    live.delete(t)
    originals.clearInterval(t as NodeJS.Timeout)
  }) as unknown
})
afterAll(() => {
  Object.assign(globalThis, originals)
})

const fds = (): number => readdirSync("/proc/self/fd").length
const tcpHandles = (): number => process.getActiveResourcesInfo().filter((t) => t === "TCPSocketWrap").length

/** A snapshot taken once the bridge and the upstream listen; `settled` waits until everything is back to it. */
const baseline = () => {
  const before = { fds: fds(), tcp: tcpHandles(), timers: live.size }
  return {
    before,
    settled: async (bridge: { metrics: { sessionsActive: number } }): Promise<void> => {
      await until(() => bridge.metrics.sessionsActive === 0, 10_000, "the active-session gauge to return to 0")
      // No waiting for timers: when a session is over, its timers are gone (none left to
      // fire later, nothing kept alive by their closures).
      expect(live.size).toBe(before.timers)
      await until(
        () => tcpHandles() <= before.tcp && fds() <= before.fds,
        10_000,
        `sockets and fds to return to ${before.tcp}/${before.fds}`
      )
      expect(tcpHandles()).toBe(before.tcp)
      expect(fds()).toBe(before.fds)
    }
  }
}

// ---------------------------------------------------------------------------------------

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const setup = async (handle: (socket: Socket) => void, options: BridgeOptions = {}) => {
  const upstream: Upstream = await startUpstream(handle)
  cleanups.push(upstream.close)
  const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`], ...options })
  cleanups.push(() => bridge.close(0))
  return { upstream, bridge, query: `host=127.0.0.1&port=${upstream.port}&tls=none` }
}

describe("fault injection: afterwards nothing is left", () => {
  it("the mail server resets the connection in the middle of a body: 4010 ECONNRESET", async () => {
    const { bridge, query } = await setup((socket) => {
      socket.write("+OK ready\r\n")
      socket.once("data", () => {
        socket.write(`+OK 1048576 octets\r\n${"x".repeat(256 * 1024)}`, () => socket.resetAndDestroy())
      })
    })
    const base = baseline()
    const ws = connect(bridge, query)
    await receive(ws, 11)
    const got: Buffer[] = []
    ws.on("message", (d: Buffer) => got.push(d))
    ws.send(Buffer.from("RETR 1\r\n"))
    const result = await closed(ws)
    expect(result).toEqual({ code: CloseCode.UpstreamConnectFailed, reason: "upstream connection lost: ECONNRESET" })
    expect(Buffer.concat(got).length).toBeLessThanOrEqual(256 * 1024 + 20)
    await base.settled(bridge)
    expect(bridge.logs.at(-1)).toMatchObject({ event: "session", closeCode: 4010, closedBy: "upstream" })
  })

  it("the client vanishes without a close frame: the mail server's connection is closed too", async () => {
    const ends: string[] = []
    const { bridge, query } = await setup((socket) => {
      socket.write("+OK ready\r\n")
      socket.on("end", () => ends.push("end"))
      socket.on("close", () => ends.push("close"))
      socket.resume()
    })
    const base = baseline()
    const ws = connect(bridge, query)
    await receive(ws, 11)
    expect(live.size).toBeGreaterThan(base.before.timers) // the counter sees the session's timers
    ws.terminate() // destroys the TCP connection: no close frame
    await until(() => ends.includes("close"), 10_000, "the upstream connection to close")
    expect(ends[0]).toBe("end") // the bridge ended it (FIN), so a QUIT before would have been delivered
    await base.settled(bridge)
    expect(bridge.logs.at(-1)).toMatchObject({ closeCode: 1006, closedBy: "client" })
  })

  it("the mail server never answers (no greeting): the idle timeout ends it with 4008", async () => {
    const { bridge, query } = await setup((socket) => socket.resume(), { idleTimeoutMs: 300 })
    const base = baseline()
    const ws = connect(bridge, query)
    await opened(ws)
    expect(await closed(ws)).toEqual({ code: CloseCode.Limit, reason: "idle timeout" })
    await base.settled(bridge)
  })

  it("the mail server's name never resolves: the connect timeout ends it with 4012", async () => {
    const upstream = await startUpstream()
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({
      allow: [`mail.test:${upstream.port}`],
      connectTimeoutMs: 200,
      resolve: () => new Promise(() => {}) // never answers
    })
    cleanups.push(() => bridge.close(0))
    const base = baseline()
    const ws = connect(bridge, `host=mail.test&port=${upstream.port}&tls=none`)
    expect(await closed(ws)).toEqual({ code: CloseCode.UpstreamTimeout, reason: "upstream connect timed out" })
    await base.settled(bridge)
    expect(upstream.connections()).toBe(0)
  })

  it("a half-closing mail server (FIN after its last bytes): everything is delivered, then 1000", async () => {
    const { bridge, query } = await setup((socket) => {
      socket.end("+OK ready\r\n+OK bye\r\n") // half-close: it would still read
      socket.resume()
    })
    const base = baseline()
    const ws = connect(bridge, query)
    const got: Buffer[] = []
    ws.on("message", (d: Buffer) => got.push(d))
    expect(await closed(ws)).toEqual({ code: 1000, reason: "upstream closed" })
    expect(Buffer.concat(got).toString()).toBe("+OK ready\r\n+OK bye\r\n")
    await base.settled(bridge)
  })

  it("a half-open client (stops reading and never answers the close frame): cut off after the close grace", async () => {
    const { bridge, query, upstream } = await setup(
      (socket) => {
        socket.write("+OK ready\r\n")
        socket.resume()
      },
      { idleTimeoutMs: 200 }
    )
    const base = baseline()
    const ws = connect(bridge, query)
    await receive(ws, 11)
    // From now on the client's side reads nothing and answers nothing, like a peer that is gone.
    const raw = (ws as unknown as { _socket: Socket })._socket
    raw.removeAllListeners("data")
    raw.pause()
    await until(() => bridge.metrics.sessionsActive === 0, 15_000, "the bridge to give up on the client")
    expect(bridge.logs.at(-1)).toMatchObject({
      event: "session",
      closeCode: CloseCode.Limit,
      closeReason: "idle timeout"
    })
    raw.destroy()
    await base.settled(bridge)
    expect(upstream.connections()).toBe(1)
  }, 20_000)
})
