// The PROXY protocol v2 header from pop3-bridge to a real Dovecot (issue 14, item 3):
// Dovecot listens with `haproxy = yes` and `haproxy_trusted_networks = 127.0.0.0/8`
// (test/support/dovecot.ts, `haproxy: true`), the bridge lists those ports with
// `proxyProtocol`, and Dovecot's own login line must name the browser's address (`rip=`)
// instead of the bridge's, for plain TCP and for implicit TLS (where the header precedes
// the TLS handshake).
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { WebSocket } from "ws"
import { proxyV2Header } from "../../bridge/proxy-protocol.ts"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { closed, connect, opened } from "../bridge/helpers.ts"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"

const available = requireService("Dovecot", dovecotAvailable())

/** Log in as alice over the WebSocket and quit; resolves with everything the server sent. */
const loginAndQuit = async (ws: WebSocket, password: string): Promise<string> => {
  let text = ""
  const lines = (): string[] => text.split("\r\n").filter((l) => l !== "")
  const waitLines = (n: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (lines().length >= n) {
          ws.off("message", onMessage)
          resolve()
        }
      }
      const onMessage = (data: Buffer): void => {
        text += data.toString("latin1")
        check()
      }
      ws.on("message", onMessage)
      ws.once("close", (code: number) => reject(new Error(`closed with ${code} after ${JSON.stringify(text)}`)))
      check()
    })
  await waitLines(1)
  ws.send(Buffer.from("USER alice\r\n"))
  await waitLines(2)
  ws.send(Buffer.from(`PASS ${password}\r\n`))
  await waitLines(3)
  ws.send(Buffer.from("QUIT\r\n"))
  await closed(ws)
  return text
}

describe("proxyV2Header", () => {
  it("writes the v2 signature, PROXY command, family, length, addresses and ports", () => {
    const v4 = proxyV2Header({
      source: "203.0.113.7",
      sourcePort: 51000,
      destination: "127.0.0.1",
      destinationPort: 110
    })
    expect(Buffer.from(v4).toString("hex")).toBe(
      "0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "cb007107" + "7f000001" + "c738" + "006e"
    )
    // IPv4-mapped counts as IPv4; a mixed pair is written as IPv6 with ::ffff:a.b.c.d.
    expect(
      proxyV2Header({ source: "::ffff:203.0.113.7", sourcePort: 1, destination: "127.0.0.1", destinationPort: 2 })[13]
    ).toBe(0x11)
    const mixed = proxyV2Header({ source: "2001:db8::1", sourcePort: 1, destination: "127.0.0.1", destinationPort: 2 })
    expect(mixed[13]).toBe(0x21)
    expect(mixed.length).toBe(16 + 36)
    expect(Buffer.from(mixed.subarray(32, 48)).toString("hex")).toBe("00000000000000000000ffff7f000001")
  })
})

describe.skipIf(!available)("PROXY protocol v2 to Dovecot (haproxy = yes)", () => {
  let dovecot: Dovecot | undefined
  let bridge: RunningBridge | undefined
  let direct: RunningBridge | undefined
  const d = (): Dovecot => {
    if (dovecot === undefined) throw new Error("Dovecot did not start")
    return dovecot
  }
  const loginLines = (): string[] =>
    readFileSync(d().logFile, "utf8")
      .split("\n")
      .filter((l) => /pop3-login: .*Login: user=<alice>/.test(l))

  beforeAll(async () => {
    dovecot = await startDovecot({ bulkMessages: 0, haproxy: true })
    const plain = `127.0.0.1:${dovecot.haproxyPort}`
    const tls = `127.0.0.1:${dovecot.haproxyTlsPort}`
    // Behind a reverse proxy: the client is the last X-Forwarded-For hop.
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`${plain}/none`, `${tls}/implicit`],
      proxyProtocol: [plain, tls],
      trustProxy: true,
      upstreamCa: [dovecot.ca],
      log: () => {}
    })
    // Clients reach it directly: the client is the socket's peer, port included.
    direct = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`${plain}/none`],
      proxyProtocol: [plain],
      log: () => {}
    })
  })
  afterAll(async () => {
    await bridge?.close(1000)
    await direct?.close(1000)
    await dovecot?.stop()
  })

  it("plain TCP: Dovecot logs the X-Forwarded-For client as rip", async () => {
    const ws = connect(bridge!, `host=127.0.0.1&port=${d().haproxyPort}&tls=none`, {
      headers: { "X-Forwarded-For": "203.0.113.7" }
    })
    const text = await loginAndQuit(ws, d().users.alice.password)
    expect(text).toMatch(/^\+OK Dovecot test ready\.[^\r]*\r\n\+OK\r\n\+OK Logged in\.\r\n/)
    const line = loginLines().find((l) => l.includes("rip=203.0.113.7"))
    expect(line, readFileSync(d().logFile, "utf8").slice(-2000)).toMatch(/rip=203\.0\.113\.7, lip=127\.0\.0\.1/)
  })

  it("implicit TLS: the header goes before the handshake; Dovecot logs the client and a secured login", async () => {
    const ws = connect(bridge!, `host=127.0.0.1&port=${d().haproxyTlsPort}&tls=implicit`, {
      headers: { "X-Forwarded-For": "2001:db8::77" }
    })
    const text = await loginAndQuit(ws, d().users.alice.password)
    expect(text).toMatch(/\+OK Logged in\./)
    const line = loginLines().find((l) => l.includes("rip=2001:db8::77"))
    expect(line, readFileSync(d().logFile, "utf8").slice(-2000)).toMatch(
      /rip=2001:db8::77, lip=::ffff:127\.0\.0\.1.*\bTLS\b/
    )
  })

  it("without a proxy: the socket's peer address (127.0.0.2 here) reaches Dovecot", async () => {
    const ws = connect(direct!, `host=127.0.0.1&port=${d().haproxyPort}&tls=none`, { localAddress: "127.0.0.2" })
    await loginAndQuit(ws, d().users.alice.password)
    expect(loginLines().some((l) => /rip=127\.0\.0\.2, lip=127\.0\.0\.1/.test(l))).toBe(true)
  })

  it("a target without proxyProtocol gets no header (Dovecot's PROXY listener then refuses the connection)", async () => {
    const other = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`127.0.0.1:${d().haproxyPort}/none`],
      log: () => {}
    })
    try {
      const ws = connect(other, `host=127.0.0.1&port=${d().haproxyPort}&tls=none`)
      let received = 0
      ws.on("message", (data: Buffer) => (received += data.length))
      await opened(ws)
      ws.send(Buffer.from("USER alice\r\n"))
      // Relayed, and Dovecot hung up (FIN or RST) on the missing header without a greeting.
      expect([1000, 4010]).toContain((await closed(ws)).code)
      expect(received).toBe(0)
    } finally {
      await other.close(1000)
    }
  })
})
