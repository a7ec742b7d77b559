/**
 * The bridge's settings: the programmatic options of `startBridge`, their defaults, and the
 * `pop3-bridge` command line and JSON config file that produce them.
 */
import { readFile } from "node:fs/promises"
import { dirname, resolve as resolvePath } from "node:path"
import { parseArgs } from "node:util"
import type { RangedSetting } from "./defaults.ts"
import { DEFAULTS, inRange, MIN_TOKEN_LENGTH } from "./defaults.ts"
import type { AllowEntry } from "./policy.ts"
import { parseAllowlist, parseHostPort } from "./policy.ts"
import type { Rate } from "./rate-limit.ts"
import { checkRate, parseRate } from "./rate-limit.ts"
import { parseCount, parseDuration, parseSize } from "./units.ts"
import type { Resolver } from "./upstream.ts"

/** One structured log record (one JSON line on stdout by default). @category config */
export type LogEntry = Readonly<Record<string, unknown>>

/** Options for `startBridge`; everything is optional and defaults to the safe choice. @category config */
export interface BridgeOptions {
  /** `HOST:PORT` to listen on; port 0 picks a free port. */
  readonly listen?: string
  /** `HOST:PORT` targets clients may reach. Empty (the default): nothing is reachable. */
  readonly allow?: readonly string[]
  /** Origins browsers may connect from; `*` allows any. Empty: no browser may connect. */
  readonly allowOrigin?: readonly string[]
  /** Refuse requests without an Origin header (non-browser clients). */
  readonly requireOrigin?: boolean
  /** Shared secret clients must present (Bearer header or `token` query parameter). */
  readonly token?: string
  /** PEM certificate and key: serve `wss:` directly. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer }
  /** Extra PEM CA certificates trusted for TLS to mail servers (added to Node's defaults). */
  readonly upstreamCa?: readonly (string | Buffer)[]
  /** Take the client address from the last X-Forwarded-For entry (behind a reverse proxy). */
  readonly trustProxy?: boolean
  readonly maxConnections?: number
  readonly maxConnectionsPerClient?: number
  /** New sessions per client address (token bucket refill); `"off"`: no limit. */
  readonly sessionRate?: Rate | "off"
  /** New sessions a client may open at once before `sessionRate` applies. */
  readonly sessionBurst?: number
  /** Before the upgrade: the TLS handshake and a complete request must arrive within this time. */
  readonly requestTimeoutMs?: number
  /** Connections that have not finished their request yet, in total. */
  readonly maxPending?: number
  /** … and per client address (IPv4, or IPv6 /64; the socket's peer, never X-Forwarded-For). */
  readonly maxPendingPerClient?: number
  /** The listen backlog (queued, not yet accepted connections). */
  readonly backlog?: number
  /** `HOST:PORT` for a second listener that serves only `/metrics` (and `/healthz`); then the main one does not serve `/metrics`. */
  readonly metricsListen?: string
  /** `HOST:PORT` allowlist targets that get a PROXY protocol v2 header with the client's address. */
  readonly proxyProtocol?: readonly string[]
  readonly connectTimeoutMs?: number
  readonly idleTimeoutMs?: number
  readonly maxSessionMs?: number
  /** Largest WebSocket message accepted from a client (`ws` maxPayload). */
  readonly maxMessageBytes?: number
  /** Per session: stop reading from the mail server while this much waits for the client. */
  readonly maxBufferedBytes?: number
  /** Default drain deadline for `close()` (and SIGTERM). */
  readonly shutdownTimeoutMs?: number
  /** How often to ping clients. */
  readonly pingIntervalMs?: number
  /** DNS resolution; injectable so tests can fake answers. */
  readonly resolve?: Resolver
  /** Where session and refusal records go; default: one JSON line each on stdout. */
  readonly log?: (entry: LogEntry) => void
}

// Still importable from here; they live in runtime-neutral modules the Workers bridge shares.
export { DEFAULTS, MIN_TOKEN_LENGTH, RANGES } from "./defaults.ts"
export { parseDuration, parseSize } from "./units.ts"

/** Options with defaults applied and the allowlist parsed. @category config */
export interface BridgeSettings {
  readonly listen: { readonly host: string; readonly port: number }
  readonly allow: readonly AllowEntry[]
  readonly allowOrigin: readonly string[]
  readonly requireOrigin: boolean
  readonly token: string | undefined
  readonly tls: BridgeOptions["tls"]
  readonly upstreamCa: readonly (string | Buffer)[] | undefined
  readonly trustProxy: boolean
  readonly maxConnections: number
  readonly maxConnectionsPerClient: number
  readonly sessionRate: Rate | "off"
  readonly sessionBurst: number
  readonly requestTimeoutMs: number
  readonly maxPending: number
  readonly maxPendingPerClient: number
  readonly backlog: number
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined
  /** Targets (`host`, `port`, as in the allowlist) that get a PROXY v2 header. */
  readonly proxyProtocol: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly connectTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxSessionMs: number
  readonly maxMessageBytes: number
  readonly maxBufferedBytes: number
  readonly shutdownTimeoutMs: number
  readonly pingIntervalMs: number
  readonly resolve: Resolver | undefined
  readonly log: (entry: LogEntry) => void
}

const logToStdout = (entry: LogEntry): void => {
  process.stdout.write(JSON.stringify(entry) + "\n")
}

/** Apply defaults and validate. Throws with a readable message. @category config */
export const settingsFrom = (options: BridgeOptions): BridgeSettings => {
  if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH) {
    throw new Error("token must be at least 16 characters (use a random secret)")
  }
  const listen = parseHostPort(options.listen ?? DEFAULTS.listen, true)
  const metricsListen = options.metricsListen === undefined ? undefined : parseHostPort(options.metricsListen, true)
  const allow = parseAllowlist(options.allow ?? [])
  const proxyProtocol = (options.proxyProtocol ?? []).map((text) => {
    const { host, port } = parseHostPort(text)
    if (!allow.some((entry) => entry.host === host && entry.port === port)) {
      throw new Error(`proxyProtocol "${text}" is not an allowlist entry (list it with --allow too)`)
    }
    return { host, port }
  })
  const ranged = (name: RangedSetting & keyof BridgeOptions): number =>
    inRange(name, name, options[name] ?? DEFAULTS[name])
  return {
    listen: { host: listen.host, port: listen.port },
    allow,
    allowOrigin: options.allowOrigin ?? [],
    requireOrigin: options.requireOrigin ?? false,
    token: options.token,
    tls: options.tls,
    upstreamCa: options.upstreamCa,
    trustProxy: options.trustProxy ?? false,
    maxConnections: ranged("maxConnections"),
    maxConnectionsPerClient: ranged("maxConnectionsPerClient"),
    sessionRate: checkRate("sessionRate", options.sessionRate ?? DEFAULTS.sessionRate),
    sessionBurst: ranged("sessionBurst"),
    requestTimeoutMs: ranged("requestTimeoutMs"),
    maxPending: ranged("maxPending"),
    maxPendingPerClient: ranged("maxPendingPerClient"),
    backlog: ranged("backlog"),
    metricsListen: metricsListen === undefined ? undefined : { host: metricsListen.host, port: metricsListen.port },
    proxyProtocol,
    connectTimeoutMs: ranged("connectTimeoutMs"),
    idleTimeoutMs: ranged("idleTimeoutMs"),
    maxSessionMs: ranged("maxSessionMs"),
    maxMessageBytes: ranged("maxMessageBytes"),
    maxBufferedBytes: ranged("maxBufferedBytes"),
    shutdownTimeoutMs: ranged("shutdownTimeoutMs"),
    pingIntervalMs: ranged("pingIntervalMs"),
    resolve: options.resolve,
    log: options.log ?? logToStdout
  }
}

// ---------------------------------------------------------------------------------------
// Command line and config file

type Kind = "string" | "list" | "boolean" | "count" | "duration" | "size" | "rate" | "file" | "files"

interface Flag {
  readonly kind: Kind
  readonly arg: string
  readonly help: string
  /** For numbers: the option it sets, whose range (defaults.ts RANGES) it must fall in. */
  readonly setting?: RangedSetting
}

/** Every flag; a config file uses the same names in camelCase (`allow-origin` → `allowOrigin`). */
const FLAGS: Readonly<Record<string, Flag>> = {
  listen: { kind: "string", arg: "HOST:PORT", help: `address to listen on (default ${DEFAULTS.listen})` },
  allow: {
    kind: "list",
    arg: "HOST:PORT[/MODES]",
    help:
      "a mail server clients may reach, with the TLS modes it allows (implicit,none,passthrough; default: 995 " +
      "implicit only, other ports implicit,none; passthrough only if written); repeatable (default: none, deny all)"
  },
  "allow-origin": {
    kind: "list",
    arg: "ORIGIN",
    help: "a web origin browsers may connect from, or *; repeatable (default: none)"
  },
  "require-origin": {
    kind: "boolean",
    arg: "",
    help: "also refuse requests without an Origin header (non-browser clients)"
  },
  token: { kind: "string", arg: "SECRET", help: "shared secret clients must present (or env POP3_BRIDGE_TOKEN)" },
  cert: { kind: "file", arg: "FILE", help: "PEM certificate (chain): serve wss:" },
  key: { kind: "file", arg: "FILE", help: "PEM private key for --cert" },
  "upstream-ca": { kind: "files", arg: "FILE", help: "extra PEM CAs for TLS to mail servers; repeatable" },
  "trust-proxy": { kind: "boolean", arg: "", help: "client address from the last X-Forwarded-For entry" },
  "proxy-protocol": {
    kind: "list",
    arg: "HOST:PORT",
    help: "send a PROXY protocol v2 header with the client's address to this --allow entry; repeatable"
  },
  "metrics-listen": {
    kind: "string",
    arg: "HOST:PORT",
    help: "serve /metrics here instead of on --listen (default: on --listen)"
  },
  "max-connections": {
    kind: "count",
    arg: "N",
    setting: "maxConnections",
    help: `sessions in total (default ${DEFAULTS.maxConnections})`
  },
  "max-connections-per-client": {
    kind: "count",
    arg: "N",
    setting: "maxConnectionsPerClient",
    help: `sessions per client IPv4 address or IPv6 /64 (default ${DEFAULTS.maxConnectionsPerClient})`
  },
  "session-rate": {
    kind: "rate",
    arg: "N/TIME",
    help: "new sessions per client address, sustained, or off (default 30/1m)"
  },
  "session-burst": {
    kind: "count",
    arg: "N",
    setting: "sessionBurst",
    help: `new sessions a client may open at once (default ${DEFAULTS.sessionBurst})`
  },
  "request-timeout": {
    kind: "duration",
    arg: "TIME",
    setting: "requestTimeoutMs",
    help: "before the upgrade: TLS handshake + complete request within this time (default 10s)"
  },
  "max-pending": {
    kind: "count",
    arg: "N",
    setting: "maxPending",
    help: `connections before the upgrade, in total (default ${DEFAULTS.maxPending})`
  },
  "max-pending-per-client": {
    kind: "count",
    arg: "N",
    setting: "maxPendingPerClient",
    help: `connections before the upgrade per client address (default ${DEFAULTS.maxPendingPerClient})`
  },
  backlog: {
    kind: "count",
    arg: "N",
    setting: "backlog",
    help: `listen backlog (default ${DEFAULTS.backlog}; capped by net.core.somaxconn)`
  },
  "connect-timeout": {
    kind: "duration",
    arg: "TIME",
    setting: "connectTimeoutMs",
    help: "DNS + TCP + TLS to the mail server (default 10s)"
  },
  "idle-timeout": {
    kind: "duration",
    arg: "TIME",
    setting: "idleTimeoutMs",
    help: "close after no bytes either way for this long (default 10m)"
  },
  "max-session": { kind: "duration", arg: "TIME", setting: "maxSessionMs", help: "longest session (default 1h)" },
  "max-message": {
    kind: "size",
    arg: "BYTES",
    setting: "maxMessageBytes",
    help: "largest WebSocket message from a client (default 64k)"
  },
  "max-buffered": {
    kind: "size",
    arg: "BYTES",
    setting: "maxBufferedBytes",
    help: "per session, bytes queued for a slow client before reading pauses (default 1m)"
  },
  "shutdown-timeout": {
    kind: "duration",
    arg: "TIME",
    setting: "shutdownTimeoutMs",
    help: "on SIGTERM/SIGINT, how long sessions may finish (default 20s)"
  },
  "ping-interval": {
    kind: "duration",
    arg: "TIME",
    setting: "pingIntervalMs",
    help: "ping clients this often, so proxies keep quiet sessions (default 30s)"
  },
  config: { kind: "file", arg: "FILE", help: "JSON file with any of these settings (flags win)" }
}

/** The `--help` text. @category config */
export const usage = (): string =>
  [
    "Usage: pop3-bridge --allow HOST:PORT [options]",
    "",
    "A WebSocket-to-TCP relay that lets browsers reach POP3 servers on an allowlist.",
    "Clients connect to ws(s)://BRIDGE/pop3?host=H&port=P&tls=implicit|none|passthrough",
    "",
    ...Object.entries(FLAGS).map(([name, f]) => `  ${`--${name} ${f.arg}`.padEnd(34)} ${f.help}`),
    `  ${"--help".padEnd(34)} this text`,
    "",
    "TIME: 500ms, 10s, 5m, 1h, 2d (a bare number is seconds). BYTES: 65536, 64k, 1m.",
    "Every number has a range; the error says which."
  ].join("\n")

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

/** What the command line asked for: run with options, or print help. @category config */
export type CliRequest = { readonly help: true } | { readonly help: false; readonly options: BridgeOptions }

/**
 * Parse `pop3-bridge` arguments (plus `POP3_BRIDGE_TOKEN` and the `--config` file) into
 * `startBridge` options. A flag given on the command line replaces the file's value, lists
 * included. Paths in the file are relative to the file. Throws with a readable message.
 * @category config
 */
export const parseCommandLine = async (
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env
): Promise<CliRequest> => {
  const parsed = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(
        Object.entries(FLAGS).map(([name, f]) => [
          name,
          f.kind === "boolean"
            ? { type: "boolean" as const }
            : { type: "string" as const, multiple: f.kind === "list" || f.kind === "files" }
        ])
      )
    }
  })
  const values = parsed.values as Readonly<Record<string, string | boolean | string[] | undefined>>
  if (values["help"] === true) return { help: true }

  let file: Record<string, unknown> = {}
  let fileDir = process.cwd()
  const configPath = values["config"]
  if (typeof configPath === "string") {
    fileDir = dirname(resolvePath(configPath))
    const json: unknown = JSON.parse(await readFile(configPath, "utf8"))
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new Error(`${configPath}: expected a JSON object`)
    }
    file = json as Record<string, unknown>
    const known = new Set(
      Object.keys(FLAGS)
        .filter((f) => f !== "config")
        .map(camel)
    )
    for (const key of Object.keys(file)) {
      if (!known.has(key)) throw new Error(`${configPath}: unknown setting "${key}"`)
    }
  }

  // The value of a setting: command line first, then the file (whose paths are file-relative).
  const read = (flag: string): unknown => {
    const cli = values[flag]
    if (cli !== undefined) return cli
    const fromFile = file[camel(flag)]
    const kind = FLAGS[flag]?.kind
    if (kind === "file" && typeof fromFile === "string") return resolvePath(fileDir, fromFile)
    if (kind === "files" && Array.isArray(fromFile)) return fromFile.map((p) => resolvePath(fileDir, String(p)))
    return fromFile
  }
  const str = (flag: string): string | undefined => {
    const v = read(flag)
    if (v === undefined) return undefined
    if (typeof v !== "string") throw new Error(`--${flag} must be a string`)
    return v
  }
  const list = (flag: string): string[] | undefined => {
    const v = read(flag)
    if (v === undefined) return undefined
    if (typeof v === "string") return [v]
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
      throw new Error(`--${flag} must be a list of strings`)
    return v
  }
  const bool = (flag: string): boolean | undefined => {
    const v = read(flag)
    if (v === undefined || typeof v === "boolean") return v
    throw new Error(`--${flag} must be true or false`)
  }
  const scalar = (flag: string): string | number | undefined => {
    const v = read(flag)
    if (v === undefined || typeof v === "string" || typeof v === "number") return v
    throw new Error(`--${flag} must be a string or number`)
  }
  /** A number in the flag's unit, checked against its setting's range (the error names the flag). */
  const mapped = (flag: string, parse: (v: string | number) => number): number | undefined => {
    const v = scalar(flag)
    if (v === undefined) return undefined
    let value: number
    try {
      value = parse(v)
    } catch (e) {
      throw new Error(`--${flag}: ${(e as Error).message}`)
    }
    const setting = FLAGS[flag]?.setting
    return setting === undefined ? value : inRange(`--${flag}`, setting, value)
  }
  const rate = (flag: string): Rate | "off" | undefined => {
    const v = scalar(flag)
    if (v === undefined) return undefined
    if (String(v).trim() === "off") return "off"
    try {
      return checkRate(`--${flag}`, parseRate(String(v), parseDuration))
    } catch (e) {
      const message = (e as Error).message
      throw new Error(message.startsWith(`--${flag}`) ? message : `--${flag}: ${message}`)
    }
  }

  const certPath = str("cert")
  const keyPath = str("key")
  if ((certPath === undefined) !== (keyPath === undefined)) throw new Error("--cert and --key go together")
  const caPaths = list("upstream-ca")
  const token = str("token") ?? env["POP3_BRIDGE_TOKEN"] ?? undefined

  // Built by spreading only the settings that are present (exactOptionalPropertyTypes).
  const entries: Array<[keyof BridgeOptions, unknown]> = [
    ["listen", str("listen")],
    ["allow", list("allow")],
    ["allowOrigin", list("allow-origin")],
    ["requireOrigin", bool("require-origin")],
    ["token", token === "" ? undefined : token],
    [
      "tls",
      certPath !== undefined && keyPath !== undefined
        ? { cert: await readFile(certPath), key: await readFile(keyPath) }
        : undefined
    ],
    ["upstreamCa", caPaths === undefined ? undefined : await Promise.all(caPaths.map((p) => readFile(p)))],
    ["trustProxy", bool("trust-proxy")],
    ["proxyProtocol", list("proxy-protocol")],
    ["metricsListen", str("metrics-listen")],
    ["maxConnections", mapped("max-connections", parseCount)],
    ["maxConnectionsPerClient", mapped("max-connections-per-client", parseCount)],
    ["sessionRate", rate("session-rate")],
    ["sessionBurst", mapped("session-burst", parseCount)],
    ["requestTimeoutMs", mapped("request-timeout", parseDuration)],
    ["maxPending", mapped("max-pending", parseCount)],
    ["maxPendingPerClient", mapped("max-pending-per-client", parseCount)],
    ["backlog", mapped("backlog", parseCount)],
    ["connectTimeoutMs", mapped("connect-timeout", parseDuration)],
    ["idleTimeoutMs", mapped("idle-timeout", parseDuration)],
    ["maxSessionMs", mapped("max-session", parseDuration)],
    ["maxMessageBytes", mapped("max-message", parseSize)],
    ["maxBufferedBytes", mapped("max-buffered", parseSize)],
    ["shutdownTimeoutMs", mapped("shutdown-timeout", parseDuration)],
    ["pingIntervalMs", mapped("ping-interval", parseDuration)]
  ]
  const options = Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as BridgeOptions
  settingsFrom(options) // validate now, so errors surface before anything listens
  return { help: false, options }
}
