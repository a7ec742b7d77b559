/**
 * The Workers bridge's settings, read from the Worker's environment: `[vars]` in
 * wrangler.toml, and the token as a secret (`wrangler secret put TOKEN`). Same meanings and
 * defaults as the Node bridge's flags (bridge/README.md). Pure, so it is tested in Node.
 */
import { DEFAULTS, MIN_TOKEN_LENGTH } from "./defaults.ts"
// Type-only: the Node bridge's settings, of which the Worker takes the runtime-neutral part.
import type { BridgeSettings } from "./config.ts"
import type { AllowEntry } from "./policy.ts"
import { parseAllowlist } from "./policy.ts"
import { parseCount, parseDuration, parseSize, positive } from "./units.ts"

/**
 * The variables the Worker reads. Lists are strings separated by commas or spaces, or
 * (from wrangler.toml) arrays of strings. Anything else in `env` is ignored.
 * @category worker
 */
export interface WorkerEnv {
  /** `HOST:PORT` targets clients may reach. Unset: nothing is reachable. */
  readonly ALLOW?: unknown
  /** Origins browsers may connect from; `*` allows any. Unset: no browser may connect. */
  readonly ALLOW_ORIGIN?: unknown
  /** `true`: also refuse requests without Origin (non-browser clients). */
  readonly REQUIRE_ORIGIN?: unknown
  /** The shared secret (≥ 16 characters). Set it as a secret, not in wrangler.toml. */
  readonly TOKEN?: unknown
  /** Sessions per isolate, in total and per client address (IPv4, or IPv6 /64). */
  readonly MAX_CONNECTIONS?: unknown
  readonly MAX_CONNECTIONS_PER_CLIENT?: unknown
  /** TIME values: `500ms`, `10s`, `5m`, `1h`. */
  readonly CONNECT_TIMEOUT?: unknown
  readonly IDLE_TIMEOUT?: unknown
  readonly MAX_SESSION?: unknown
  /** BYTES values: `65536`, `64k`, `1m`. */
  readonly MAX_MESSAGE?: unknown
  readonly MAX_BUFFERED?: unknown
  /** `off`: no JSON log lines (Workers Logs) for sessions and refusals. */
  readonly LOG?: unknown
}

/** Settings with defaults applied. @category worker */
export type WorkerSettings =
  & Pick<
    BridgeSettings,
    | "allow"
    | "allowOrigin"
    | "requireOrigin"
    | "token"
    | "maxConnections"
    | "maxConnectionsPerClient"
    | "connectTimeoutMs"
    | "idleTimeoutMs"
    | "maxSessionMs"
    | "maxMessageBytes"
    | "maxBufferedBytes"
  >
  // Workers log with console.log; whether to log at all is the only choice.
  & { readonly log: boolean }

const list = (name: string, value: unknown): string[] => {
  if (value === undefined || value === "") return []
  if (typeof value === "string") return value.split(/[\s,]+/).filter((item) => item !== "")
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value
  throw new Error(`${name} must be a list of strings (comma or space separated)`)
}

const flag = (name: string, value: unknown): boolean => {
  if (value === undefined || value === "" || value === false || value === "false" || value === "0") return false
  if (value === true || value === "true" || value === "1") return true
  throw new Error(`${name} must be true or false`)
}

const number = (name: string, value: unknown, parse: (text: string | number) => number, fallback: number): number => {
  if (value === undefined || value === "") return fallback
  if (typeof value !== "string" && typeof value !== "number") throw new Error(`${name} must be a string or number`)
  let parsed: number
  try {
    parsed = parse(value)
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}`)
  }
  return positive(name, parsed)
}

/**
 * Read and validate the settings. Throws with a readable message naming the variable
 * (never echoing the token).
 * @category worker
 */
export const workerSettingsFrom = (env: WorkerEnv): WorkerSettings => {
  const token = env.TOKEN
  if (token !== undefined && typeof token !== "string") throw new Error("TOKEN must be a string")
  if (token !== undefined && token !== "" && token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`TOKEN must be at least ${MIN_TOKEN_LENGTH} characters (use a random secret)`)
  }
  const entries = list("ALLOW", env.ALLOW)
  let allow: readonly AllowEntry[]
  try {
    allow = parseAllowlist(entries)
  } catch (error) {
    throw new Error(`ALLOW: ${(error as Error).message}`)
  }
  const log = env.LOG
  if (log !== undefined && log !== "off" && log !== "json") throw new Error("LOG must be json or off")
  return {
    allow,
    allowOrigin: list("ALLOW_ORIGIN", env.ALLOW_ORIGIN),
    requireOrigin: flag("REQUIRE_ORIGIN", env.REQUIRE_ORIGIN),
    token: token === "" ? undefined : token,
    maxConnections: number("MAX_CONNECTIONS", env.MAX_CONNECTIONS, parseCount, DEFAULTS.maxConnections),
    maxConnectionsPerClient: number(
      "MAX_CONNECTIONS_PER_CLIENT",
      env.MAX_CONNECTIONS_PER_CLIENT,
      parseCount,
      DEFAULTS.maxConnectionsPerClient
    ),
    connectTimeoutMs: number("CONNECT_TIMEOUT", env.CONNECT_TIMEOUT, parseDuration, DEFAULTS.connectTimeoutMs),
    idleTimeoutMs: number("IDLE_TIMEOUT", env.IDLE_TIMEOUT, parseDuration, DEFAULTS.idleTimeoutMs),
    maxSessionMs: number("MAX_SESSION", env.MAX_SESSION, parseDuration, DEFAULTS.maxSessionMs),
    maxMessageBytes: number("MAX_MESSAGE", env.MAX_MESSAGE, parseSize, DEFAULTS.maxMessageBytes),
    maxBufferedBytes: number("MAX_BUFFERED", env.MAX_BUFFERED, parseSize, DEFAULTS.maxBufferedBytes),
    log: log !== "off"
  }
}
