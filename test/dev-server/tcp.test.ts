// The dev server on real sockets: STLS and implicit TLS with the fixture certificate, the
// 1 GB status line without memory growth, closing the listener, and the main.ts entry.

import { spawn } from "node:child_process"
import net from "node:net"
import tls from "node:tls"
import { afterEach, describe, expect, it } from "vitest"
import { clientOverSocket, tcpClient } from "./raw-client.ts"
import { makeMailStore } from "../../dev-server/server.ts"
import type { ListenTcpOptions, TcpListener } from "../../dev-server/tcp.ts"
import { listenTcp } from "../../dev-server/tcp.ts"
import { testCert, testTls } from "../../dev-server/tls-fixture.ts"

function store() {
  return makeMailStore({ alice: { password: "pw", messages: ["Subject: one\n\n.hello\n"] } })
}

const listeners: TcpListener[] = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
})

async function listen(options: ListenTcpOptions, s = store()): Promise<TcpListener> {
  const l = await listenTcp(s, options)
  listeners.push(l)
  return l
}

/** Reads plain-text lines straight off the socket (the socket must stay free for TLS). */
function readPlainLines(socket: net.Socket, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = ""
    const onData = (d: Buffer): void => {
      text += d.toString("latin1")
      const lines = text.split("\r\n")
      if (lines.length > count) {
        socket.off("data", onData)
        socket.pause()
        resolve(lines.slice(0, count))
      }
    }
    socket.on("data", onData)
    socket.once("error", reject)
  })
}

function secureConnect(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect(options, () => resolve(secure))
    secure.once("error", reject)
  })
}

describe("STLS over TCP", () => {
  it("upgrades to TLS verified with the fixture certificate, then logs in", async () => {
    const l = await listen({ tls: testTls })
    const socket = net.connect(l.port, "127.0.0.1")
    const [greeting] = await readPlainLines(socket, 1)
    expect(greeting).toMatch(/^\+OK /)
    // "USER alice" pipelined behind STLS must be dropped (RFC 2595 §4).
    socket.write("STLS\r\nUSER alice\r\n")
    socket.resume()
    expect(await readPlainLines(socket, 1)).toEqual(["+OK Begin TLS negotiation"])
    const secure = await secureConnect({ socket, ca: testCert, servername: "localhost" })
    expect(secure.authorized).toBe(true)
    const client = clientOverSocket(secure)
    await client.send("PASS pw\r\nCAPA\r\nUSER alice\r\nPASS pw\r\nRETR 1\r\nQUIT\r\n")
    expect(await client.line()).toBe("-ERR Send USER first")
    await client.line()
    expect(await client.body()).not.toContain("STLS")
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    await client.line()
    expect(await client.body()).toEqual(["Subject: one", "", "..hello"])
    expect(await client.line()).toMatch(/^\+OK .*signing off/)
    expect(await client.rest()).toBe("")
  })

  it("offers STLS in CAPA only when a certificate is configured", async () => {
    const withTls = await listen({ tls: testTls })
    const without = await listen({})
    for (const [l, expected] of [
      [withTls, true],
      [without, false]
    ] as const) {
      const { client } = await tcpClient(l.port)
      await client.line()
      await client.send("CAPA\r\n")
      await client.line()
      expect((await client.body()).includes("STLS")).toBe(expected)
      client.close()
    }
  })

  it("serves implicit TLS, verified for IP 127.0.0.1", async () => {
    const l = await listen({ tls: testTls, implicitTls: true })
    const secure = await secureConnect({ host: "127.0.0.1", port: l.port, ca: testCert })
    expect(secure.authorized).toBe(true)
    const client = clientOverSocket(secure)
    expect(await client.line()).toMatch(/^\+OK .*<.*@.*>$/)
    await client.send("CAPA\r\nQUIT\r\n")
    await client.line()
    expect(await client.body()).not.toContain("STLS")
    expect(await client.line()).toMatch(/^\+OK/)
  })

  it("survives a client that fails the handshake", async () => {
    const l = await listen({ tls: testTls, implicitTls: true })
    await expect(secureConnect({ host: "127.0.0.1", port: l.port })).rejects.toThrow() // untrusted
    const ok = await secureConnect({ host: "127.0.0.1", port: l.port, ca: testCert })
    expect(await clientOverSocket(ok).line()).toMatch(/^\+OK/)
    ok.destroy()
  })
})

describe("listener", () => {
  it("answers on a free port and drops live connections on close", async () => {
    const s = store()
    const l = await listenTcp(s, { port: 0 })
    expect(l.port).toBeGreaterThan(0)
    expect(l.host).toBe("127.0.0.1")
    const { client } = await tcpClient(l.port)
    await client.line()
    await client.send("USER alice\r\nPASS pw\r\n")
    await client.line()
    await client.line()
    expect(s.isLocked("alice")).toBe(true)
    await l.close()
    expect(await client.rest()).toBe("")
    expect(s.isLocked("alice")).toBe(false)
    await expect(tcpClient(l.port)).rejects.toThrow()
  })

  it("streams a 1 GB status line lazily: 64 MB read with no memory growth", async () => {
    const l = await listen({ behaviour: { hugeStatusLine: 1_000_000_000 } })
    const socket = net.connect(l.port, "127.0.0.1")
    const rss = (): number => process.memoryUsage.rss()
    const before = rss()
    let peak = before
    let received = 0
    let head = ""
    await new Promise<void>((resolve, reject) => {
      socket.on("error", reject)
      socket.on("data", (d: Buffer) => {
        if (head.length < 8) head += d.subarray(0, 8).toString("latin1")
        received += d.length
        if ((received & 0xfffff) < d.length) peak = Math.max(peak, rss())
        if (received >= 64 * 1024 * 1024) {
          socket.destroy()
          resolve()
        }
      })
    })
    expect(head.startsWith("+OK AAAA")).toBe(true)
    // Buffering the line (or running ahead of the reader) would cost up to 1 GB.
    // Garbage from 64 MiB of reads costs some tens of MiB until collected; a server
    // that buffered or ran ahead of the reader grows by about 1 GB here (measured).
    expect(peak - before, `rss grew ${((peak - before) / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(256 * 1024 * 1024)
    await l.close() // the session noticed the disconnect and ended
  }, 30_000)

  it("sends a 16 MiB message intact to a slow reader", async () => {
    const head = `Subject: big\r\n\r\n${"x".repeat(998)}\r\n`
    const body = `${"y".repeat(1022)}\r\n`.repeat(16 * 1024)
    const s = makeMailStore({ alice: { password: "pw", messages: [head + body] } })
    const l = await listen({}, s)
    const { client } = await tcpClient(l.port)
    await client.line()
    await client.send("USER alice\r\nPASS pw\r\nRETR 1\r\n")
    await client.line()
    await client.line()
    expect(await client.line()).toMatch(/^\+OK \d+ octets$/)
    let lines = 0
    for (let line = await client.line(); line !== "."; line = await client.line()) lines++
    expect(lines).toBe(3 + 16 * 1024)
    client.close()
  }, 30_000)
})

describe("main.ts", () => {
  it("serves the sample mailbox with STLS and implicit TLS, stops on SIGTERM", async () => {
    const child = spawn(process.execPath, ["dev-server/main.ts", "--port", "0", "--tls-port", "0"], {
      cwd: new URL("../../", import.meta.url),
      stdio: ["ignore", "pipe", "pipe"]
    })
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        let out = ""
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString()
          const got = out.split("\n").filter((x) => x !== "")
          if (got.length >= 2) resolve(got)
        })
        child.once("exit", (code) => reject(new Error(`exited with ${code}`)))
      })
      expect(lines[0]).toMatch(/^pop3 dev server: pop3:\/\/127\.0\.0\.1:\d+ .*user demo password demo$/)
      expect(lines[1]).toMatch(/^pop3 dev server: pop3s:\/\/127\.0\.0\.1:\d+ .*user demo password demo$/)
      const plainPort = Number(/:(\d+) /.exec(lines[0]!)![1])
      const tlsPort = Number(/:(\d+) /.exec(lines[1]!)![1])

      const { client } = await tcpClient(plainPort)
      await client.line()
      await client.send("CAPA\r\nUSER demo\r\nPASS demo\r\nSTAT\r\nQUIT\r\n")
      await client.line()
      expect(await client.body()).toContain("STLS")
      await client.line()
      await client.line()
      expect(await client.line()).toMatch(/^\+OK 1[2-9] \d+$/)

      const secure = await secureConnect({ host: "127.0.0.1", port: tlsPort, ca: testCert })
      expect(await clientOverSocket(secure).line()).toMatch(/^\+OK/)
      secure.destroy()

      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
    } finally {
      child.kill("SIGKILL")
    }
  }, 20_000)
})
