// The Workers bridge's settings from its environment (bridge/worker-config.ts): the same
// defaults and rules as the Node bridge's flags, and errors that name the variable.
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { DEFAULTS } from "../../bridge/defaults.ts"
import { workerSettingsFrom } from "../../bridge/worker-config.ts"

describe("workerSettingsFrom", () => {
  it("defaults to deny-all, no browsers, no token, and the Node bridge's limits", () => {
    expect(workerSettingsFrom({})).toEqual({
      allow: [],
      allowOrigin: [],
      requireOrigin: false,
      token: undefined,
      maxConnections: DEFAULTS.maxConnections,
      maxConnectionsPerClient: DEFAULTS.maxConnectionsPerClient,
      sessionRate: DEFAULTS.sessionRate,
      sessionBurst: DEFAULTS.sessionBurst,
      connectTimeoutMs: DEFAULTS.connectTimeoutMs,
      idleTimeoutMs: DEFAULTS.idleTimeoutMs,
      maxSessionMs: DEFAULTS.maxSessionMs,
      maxMessageBytes: DEFAULTS.maxMessageBytes,
      maxBufferedBytes: DEFAULTS.maxBufferedBytes,
      log: true
    })
  })

  it("reads lists separated by commas or spaces, or given as arrays (wrangler.toml)", () => {
    const fromString = workerSettingsFrom({
      ALLOW: "Pop.Example.com:995, [::1]:110  192.0.2.1:110",
      ALLOW_ORIGIN: "https://a.test https://b.test"
    })
    expect(fromString.allow).toEqual([
      { host: "pop.example.com", port: 995, isIp: false, modes: ["implicit"] },
      { host: "0:0:0:0:0:0:0:1", port: 110, isIp: true, modes: ["implicit", "none"] },
      { host: "192.0.2.1", port: 110, isIp: true, modes: ["implicit", "none"] }
    ])
    expect(fromString.allowOrigin).toEqual(["https://a.test", "https://b.test"])
    expect(workerSettingsFrom({ ALLOW: ["pop.example.com:995"], ALLOW_ORIGIN: ["*"] })).toMatchObject({
      allow: [{ host: "pop.example.com", port: 995 }],
      allowOrigin: ["*"]
    })
  })

  it("reads flags, TIME and BYTES values like the command line", () => {
    expect(
      workerSettingsFrom({
        REQUIRE_ORIGIN: "true",
        TOKEN: "0123456789abcdef",
        MAX_CONNECTIONS: "50",
        MAX_CONNECTIONS_PER_CLIENT: 2,
        CONNECT_TIMEOUT: "5s",
        IDLE_TIMEOUT: "2m",
        MAX_SESSION: "1h",
        MAX_MESSAGE: "16k",
        MAX_BUFFERED: "2m",
        LOG: "off"
      })
    ).toMatchObject({
      requireOrigin: true,
      token: "0123456789abcdef",
      maxConnections: 50,
      maxConnectionsPerClient: 2,
      connectTimeoutMs: 5_000,
      idleTimeoutMs: 120_000,
      maxSessionMs: 3_600_000,
      maxMessageBytes: 16 * 1024,
      maxBufferedBytes: 2 * 1024 * 1024,
      log: false
    })
    expect(workerSettingsFrom({ TOKEN: "" }).token).toBeUndefined()
  })

  it.each([
    [{ ALLOW: "pop.example.com" }, /^ALLOW: "pop.example.com" is not HOST:PORT/],
    [{ ALLOW: "::1:110" }, /^ALLOW: .*brackets/],
    [{ ALLOW: 42 }, /^ALLOW must be a list of strings/],
    [{ TOKEN: "short-secret" }, /^TOKEN must be at least 16 characters/],
    [{ REQUIRE_ORIGIN: "yes" }, /^REQUIRE_ORIGIN must be true or false/],
    [{ IDLE_TIMEOUT: "soon" }, /^IDLE_TIMEOUT: "soon" is not a duration/],
    [{ MAX_CONNECTIONS: "0" }, /^MAX_CONNECTIONS must be between 1 and 1000000, got 0/],
    [{ MAX_BUFFERED: "lots" }, /^MAX_BUFFERED: "lots" is not a size/],
    [{ LOG: "verbose" }, /^LOG must be json or off/]
  ])("refuses %j, naming the variable", (env, message) => {
    expect(() => workerSettingsFrom(env)).toThrow(message)
  })

  it("never echoes the token in an error", () => {
    const secret = "tiny-secret"
    expect(() => workerSettingsFrom({ TOKEN: secret })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(secret) })
    )
  })
})

describe("bridge/wrangler.toml (the example configuration)", () => {
  const toml = readFileSync(new URL("../../bridge/wrangler.toml", import.meta.url), "utf8")
  it("has [vars] the Worker accepts", () => {
    // Only `KEY = "string"` lines are used in the example, so a line reader is enough here.
    const vars = toml.split("[vars]")[1]?.split(/^\[/m)[0] ?? ""
    const env = Object.fromEntries(
      [...vars.matchAll(/^([A-Z_]+)\s*=\s*"([^"]*)"/gm)].map((m) => [m[1] ?? "", m[2] ?? ""])
    )
    expect(Object.keys(env)).toEqual(["ALLOW", "ALLOW_ORIGIN"])
    expect(workerSettingsFrom(env)).toMatchObject({
      allow: [{ host: "pop.example.com", port: 995 }],
      allowOrigin: ["https://mail.example.com"]
    })
  })
  it("points at the Worker and dates it on or after 2026-03-17 (binaryType blob by default)", () => {
    expect(toml).toMatch(/^main = "worker\.ts"$/m)
    const date = /^compatibility_date = "(\d{4}-\d{2}-\d{2})"$/m.exec(toml)?.[1] ?? ""
    expect(date >= "2026-03-17").toBe(true)
  })
})
