/**
 * Every numeric setting has a range (issue 14, item 5): `--max-session 600h` used to
 * overflow the 32-bit timer and end every session at once. The command line, the
 * programmatic options and the Workers variables check the same table (defaults.ts RANGES)
 * and name what the user wrote.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseCommandLine, settingsFrom } from "../../bridge/config.ts"
import { MAX_TIMER_MS, RANGES } from "../../bridge/defaults.ts"
import { workerSettingsFrom } from "../../bridge/worker-config.ts"

describe("command line", () => {
  it.each([
    [
      ["--max-session", "600h"],
      /^--max-session must be between 1ms and 24\.8d \(the longest timer JavaScript can hold\), got 25d$/
    ],
    [["--ping-interval", "30d"], /^--ping-interval must be between 10ms and 24\.8d/],
    [["--idle-timeout", "9999999h"], /^--idle-timeout must be between/],
    [["--connect-timeout", "0"], /^--connect-timeout must be between 1ms and/],
    [["--request-timeout", "1h"], /^--request-timeout must be between 1ms and 10m, got 1h$/],
    [["--max-connections", "99999999999999999999"], /^--max-connections must be between 1 and 1000000/],
    [["--max-connections-per-client", "0"], /^--max-connections-per-client must be between 1 and/],
    [["--max-pending", "0"], /^--max-pending must be between 1 and/],
    [["--max-pending-per-client", "2000000"], /^--max-pending-per-client must be between/],
    [["--backlog", "70000"], /^--backlog must be between 1 and 65535, got 70000$/],
    [["--session-burst", "0"], /^--session-burst must be between 1 and/],
    [["--session-rate", "0/1m"], /^--session-rate: the count must be between 1 and 1000000, got 0$/],
    [["--session-rate", "5/600h"], /^--session-rate: the period must be between/],
    [["--session-rate", "lots"], /^--session-rate: "lots" is not a rate like 10\/1m$/],
    [["--max-message", "100"], /^--max-message must be between 512 and 64m, got 100$/],
    [["--max-buffered", "4096m"], /^--max-buffered must be between 1k and 1024m, got 4096m$/],
    [["--shutdown-timeout", "30d"], /^--shutdown-timeout must be between 0ms and 24\.8d/]
  ])("refuses %j", async (argv, message) => {
    await expect(parseCommandLine(argv, {})).rejects.toThrow(message)
  })

  it("accepts the bounds themselves", async () => {
    const request = await parseCommandLine(
      ["--max-session", `${MAX_TIMER_MS}ms`, "--backlog", "65535", "--session-rate", "off"],
      {}
    )
    expect(request).toMatchObject({
      help: false,
      options: { maxSessionMs: MAX_TIMER_MS, backlog: 65535, sessionRate: "off" }
    })
  })

  it("checks the config file's values the same way", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs")
    const { tmpdir } = await import("node:os")
    const dir = mkdtempSync(join(tmpdir(), "bridge-ranges-"))
    writeFileSync(join(dir, "c.json"), JSON.stringify({ maxSession: "600h" }))
    await expect(parseCommandLine(["--config", join(dir, "c.json")], {})).rejects.toThrow(
      /^--max-session must be between/
    )
    rmSync(dir, { recursive: true })
  })

  it("pop3-bridge exits 2 with the message and the usage on stderr, before listening", async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "../../bridge/main.ts"), "--max-session", "600h"],
      {
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
    expect(code).toBe(2)
    expect(stderr).toMatch(/^pop3-bridge: --max-session must be between 1ms and 24\.8d/)
    expect(stderr).toMatch(/Usage: pop3-bridge/)
    expect(stdout).toBe("")
  })
})

describe("programmatic options and Workers variables use the same table", () => {
  it("startBridge options", () => {
    expect(() => settingsFrom({ maxSessionMs: 600 * 3_600_000 })).toThrow(
      /^maxSessionMs must be between 1ms and 24\.8d/
    )
    expect(() => settingsFrom({ maxConnections: 1.5 })).toThrow(
      /^maxConnections must be between 1 and 1000000, got 1.5$/
    )
    expect(() => settingsFrom({ pingIntervalMs: Number.NaN })).toThrow(/^pingIntervalMs must be between .*, got NaN$/)
  })
  it("Workers variables", () => {
    expect(() => workerSettingsFrom({ MAX_SESSION: "600h" })).toThrow(/^MAX_SESSION must be between 1ms and 24\.8d/)
    expect(() => workerSettingsFrom({ IDLE_TIMEOUT: "30d" })).toThrow(/^IDLE_TIMEOUT must be between/)
    expect(() => workerSettingsFrom({ SESSION_RATE: "0/1m" })).toThrow(/^SESSION_RATE: the count must be between/)
    expect(() => workerSettingsFrom({ MAX_MESSAGE: "1" })).toThrow(/^MAX_MESSAGE must be between 512 and 64m, got 1$/)
  })
  it("every time range stops at the longest timer", () => {
    for (const [name, range] of Object.entries(RANGES)) {
      if (range.unit === "ms") expect(range.max, name).toBeLessThanOrEqual(MAX_TIMER_MS)
    }
  })
})

describe("the new flags map to options", () => {
  it("--proxy-protocol, --metrics-listen, the pending caps, the backlog and the session rate", async () => {
    const request = await parseCommandLine(
      [
        "--allow",
        "pop.example.com:995/implicit",
        "--proxy-protocol",
        "pop.example.com:995",
        "--metrics-listen",
        "127.0.0.1:9110",
        "--request-timeout",
        "5s",
        "--max-pending",
        "100",
        "--max-pending-per-client",
        "4",
        "--backlog",
        "4096",
        "--session-rate",
        "10/1m",
        "--session-burst",
        "5"
      ],
      {}
    )
    expect(request).toEqual({
      help: false,
      options: {
        allow: ["pop.example.com:995/implicit"],
        proxyProtocol: ["pop.example.com:995"],
        metricsListen: "127.0.0.1:9110",
        requestTimeoutMs: 5000,
        maxPending: 100,
        maxPendingPerClient: 4,
        backlog: 4096,
        sessionRate: { count: 10, perMs: 60_000 },
        sessionBurst: 5
      }
    })
  })
  it("refuses --proxy-protocol for a target that is not an --allow entry", async () => {
    await expect(
      parseCommandLine(["--allow", "a.example:995", "--proxy-protocol", "b.example:995"], {})
    ).rejects.toThrow(/proxyProtocol "b.example:995" is not an allowlist entry/)
  })
})
