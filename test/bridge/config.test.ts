import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { describe, expect, it } from "vitest"
import { DEFAULTS, parseCommandLine, parseDuration, parseSize, settingsFrom } from "../../bridge/config.ts"
import { closed, connect, makeCertificate, receive, startGreeter } from "./helpers.ts"

const options = async (argv: string[], env: Record<string, string> = {}) => {
  const request = await parseCommandLine(argv, env)
  if (request.help) throw new Error("unexpected --help")
  return request.options
}

describe("durations and sizes", () => {
  it("parses units", () => {
    expect(parseDuration("500ms")).toBe(500)
    expect(parseDuration("10s")).toBe(10_000)
    expect(parseDuration("10")).toBe(10_000)
    expect(parseDuration(1.5)).toBe(1500)
    expect(parseDuration("5m")).toBe(300_000)
    expect(parseDuration("1h")).toBe(3_600_000)
    expect(() => parseDuration("soon")).toThrow(/duration/)
    expect(parseSize("65536")).toBe(65536)
    expect(parseSize("64k")).toBe(65536)
    expect(parseSize("1m")).toBe(1048576)
    expect(parseSize("2MiB")).toBe(2 * 1048576)
    expect(() => parseSize("-1")).toThrow(/size/)
  })
})

describe("parseCommandLine", () => {
  it("maps every flag to an option", async () => {
    const o = await options([
      "--listen",
      "0.0.0.0:9000",
      "--allow",
      "pop.example.com:995",
      "--allow",
      "[2001:db8::1]:110",
      "--allow-origin",
      "https://mail.example.com",
      "--require-origin",
      "--trust-proxy",
      "--max-connections",
      "50",
      "--max-connections-per-client",
      "3",
      "--connect-timeout",
      "5s",
      "--idle-timeout",
      "2m",
      "--max-session",
      "30m",
      "--max-message",
      "16k",
      "--max-buffered",
      "512k",
      "--shutdown-timeout",
      "3s",
      "--ping-interval",
      "20s"
    ])
    expect(o).toEqual({
      listen: "0.0.0.0:9000",
      allow: ["pop.example.com:995", "[2001:db8::1]:110"],
      allowOrigin: ["https://mail.example.com"],
      requireOrigin: true,
      trustProxy: true,
      maxConnections: 50,
      maxConnectionsPerClient: 3,
      connectTimeoutMs: 5000,
      idleTimeoutMs: 120_000,
      maxSessionMs: 1_800_000,
      maxMessageBytes: 16384,
      maxBufferedBytes: 524288,
      shutdownTimeoutMs: 3000,
      pingIntervalMs: 20_000
    })
  })

  it("has safe defaults: loopback, nothing allowed, no origins", async () => {
    const s = settingsFrom(await options([]))
    expect(s.listen).toEqual({ host: "127.0.0.1", port: 8110 })
    expect(s.allow).toEqual([])
    expect(s.allowOrigin).toEqual([])
    expect(s.requireOrigin).toBe(false)
    expect(s.maxMessageBytes).toBe(DEFAULTS.maxMessageBytes)
  })

  it("reads a JSON config file (paths relative to it); flags win", async () => {
    const { dir } = makeCertificate("bridge.test", { keepFiles: true })
    const file = join(dir, "bridge.json")
    writeFileSync(
      file,
      JSON.stringify({
        allow: ["a.example:995", "b.example:995"],
        allowOrigin: ["https://a.example"],
        idleTimeout: "90s",
        connectTimeout: 3,
        maxMessage: "32k",
        cert: "cert.pem",
        key: "key.pem",
        upstreamCa: ["cert.pem"]
      })
    )
    const o = await options(["--config", file, "--allow", "c.example:110"])
    expect(o.allow).toEqual(["c.example:110"])
    expect(o.allowOrigin).toEqual(["https://a.example"])
    expect(o.idleTimeoutMs).toBe(90_000)
    expect(o.connectTimeoutMs).toBe(3000)
    expect(o.maxMessageBytes).toBe(32768)
    expect(String(o.tls?.cert)).toContain("BEGIN CERTIFICATE")
    expect(o.upstreamCa).toHaveLength(1)
    rmSync(dir, { recursive: true })
  })

  it("takes the token from POP3_BRIDGE_TOKEN unless --token is given", async () => {
    expect((await options([], { POP3_BRIDGE_TOKEN: "from-the-environment" })).token).toBe("from-the-environment")
    expect(
      (await options(["--token", "from-the-command-line"], { POP3_BRIDGE_TOKEN: "from-the-environment" })).token
    ).toBe("from-the-command-line")
  })

  it.each([
    [["--allow", "no-port.example"], /not HOST:PORT/],
    [["--allow", "::1:110"], /brackets/],
    [["--listen", "127.0.0.1"], /not HOST:PORT/],
    [["--max-connections", "0"], /^--max-connections must be between 1 and 1000000, got 0$/],
    [["--idle-timeout", "forever"], /--idle-timeout/],
    [["--token", "short"], /at least 16/],
    [["--cert", "x.pem"], /--cert and --key go together/],
    [["--allow-orign", "x"], /Unknown option/]
  ])("rejects %j", async (argv, message) => {
    await expect(parseCommandLine(argv, {})).rejects.toThrow(message)
  })

  it("rejects unknown keys in the config file", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "bridge-conf-")), "c.json")
    writeFileSync(file, JSON.stringify({ allowOrigins: ["https://typo.example"] }))
    await expect(parseCommandLine(["--config", file], {})).rejects.toThrow(/unknown setting "allowOrigins"/)
    rmSync(dirname(file), { recursive: true })
  })

  it("--help asks for help", async () => {
    expect(await parseCommandLine(["--help"], {})).toEqual({ help: true })
  })
})

describe("pop3-bridge CLI", () => {
  it("starts, relays, and exits 0 after SIGTERM once sessions are drained", async () => {
    const upstream = await startGreeter()
    const child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, "../../bridge/main.ts"),
        "--listen",
        "127.0.0.1:0",
        "--allow",
        `127.0.0.1:${upstream.port}`
      ],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    const lines = createInterface({ input: child.stdout })
    const records: Array<Record<string, unknown>> = []
    const seen = (event: string) =>
      new Promise<Record<string, unknown>>((resolve) =>
        lines.on("line", (line) => {
          const record = JSON.parse(line) as Record<string, unknown>
          if (record["event"] === event) resolve(record)
        })
      )
    lines.on("line", (line) => records.push(JSON.parse(line) as Record<string, unknown>))
    const listening = seen("listening").then((r) => String(r["url"]))
    const draining = seen("draining")
    const url = await listening
    const ws = connect({ url }, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    expect((await receive(ws, 21)).toString()).toBe("+OK fake POP3 ready\r\n")
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    child.kill("SIGTERM")
    expect(await draining).toMatchObject({ signal: "SIGTERM", sessions: 1 })
    ws.send(Buffer.from("QUIT\r\n"))
    expect((await closed(ws)).code).toBe(1000)
    expect(await exited).toBe(0)
    const events = records.map((r) => r["event"])
    expect(events).toEqual(expect.arrayContaining(["listening", "draining", "session", "stopped"]))
    expect(events.indexOf("session")).toBeGreaterThan(events.indexOf("draining"))
    await upstream.close()
  }, 20_000)
})
