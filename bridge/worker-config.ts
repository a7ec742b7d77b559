/**
 * The Workers bridge's settings, read from the Worker's environment: `[vars]` in
 * wrangler.toml, and the token as a secret (`wrangler secret put TOKEN`). Same meanings and
 * defaults as the Node bridge's flags (bridge/README.md). Pure, so it is tested in Node.
 */
import type { RangedSetting } from "./defaults.ts"
import { DEFAULTS, inRange, MIN_TOKEN_LENGTH } from "./defaults.ts"
// Type-only: the Node bridge's settings, of which the Worker takes the runtime-neutral part.
import type { BridgeSettings } from "./config.ts"
import type { AllowEntry } from "./policy.ts"
import { parseAllowlist, splitAllowlist } from "./policy.ts"
import type { Rate } from "./rate-limit.ts"
import { checkRate, parseRate } from "./rate-limit.ts"
import { parseCount, parseDuration, parseSize } from "./units.ts"

/**
 * The variables the Worker reads. Lists are strings separated by commas or spaces, or
 * (from wrangler.toml) arrays of strings. Anything else in `env` is ignored.
 * @category worker
 */
export interface WorkerEnv {
  /** `HOST:PORT[/MODE,…]` targets clients may reach (as `--allow`). Unset: nothing is reachable. */
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
  /** New sessions per client address (per isolate): `N/TIME` or `off`, and the burst. */
  readonly SESSION_RATE?: unknown
  readonly SESSION_BURST?: unknown
  /** TIME values: `500ms`, `10s`, `5m`, `1h`. */
  readonly CONNECT_TIMEOUT?: unknown
  readonly IDLE_TIMEOUT?: unknown
  readonly MAX_SESSION?: unknown
  /** BYTES values: `65536`, `64k`, `1m`. */
  readonly MAX_MESSAGE?: unknown
  readonly MAX_BUFFERED?: unknown
  /** `off`: no JSON log lines (Workers Logs) for sessions and refusals. */
  readonly LOG?: unknown
  /**
   * A DNS-over-HTTPS endpoint with the JSON API (e.g. `https://cloudflare-dns.com/dns-query`):
   * names are resolved and checked like on Node before connecting. Unset: no check before
   * connecting (see worker-relay.ts).
   */
  readonly RESOLVER?: unknown
}

/** Settings with defaults applied. @category worker */
export type WorkerSettings = Pick<
  BridgeSettings,
  | "allow"
  | "allowOrigin"
  | "requireOrigin"
  | "token"
  | "maxConnections"
  | "maxConnectionsPerClient"
  | "sessionRate"
  | "sessionBurst"
  | "connectTimeoutMs"
  | "idleTimeoutMs"
  | "maxSessionMs"
  | "maxMessageBytes"
  | "maxBufferedBytes"
> & { readonly log: boolean; readonly resolver: string | undefined } // Workers log with console.log; whether to log at all is the only choice.

const list = (
  name: string,
  value: unknown,
  split = (text: string) => text.split(/[\s,]+/).filter((item) => item !== "")
): string[] => {
  if (value === undefined || value === "") return []
  if (typeof value === "string") return split(value)
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value
  throw new Error(`${name} must be a list of strings (comma or space separated)`)
}

const flag = (name: string, value: unknown): boolean => {
  if (value === undefined || value === "" || value === false || value === "false" || value === "0") return false
  if (value === true || value === "true" || value === "1") return true
  throw new Error(`${name} must be true or false`)
}

const number = (
  name: string,
  value: unknown,
  parse: (text: string | number) => number,
  setting: RangedSetting & keyof typeof DEFAULTS
): number => {
  if (value === undefined || value === "") return DEFAULTS[setting]
  if (typeof value !== "string" && typeof value !== "number") throw new Error(`${name} must be a string or number`)
  let parsed: number
  try {
    parsed = parse(value)
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}`)
  }
  return inRange(name, setting, parsed)
}

const rate = (name: string, value: unknown): Rate | "off" => {
  if (value === undefined || value === "") return DEFAULTS.sessionRate
  if (typeof value !== "string") throw new Error(`${name} must be a string like 30/1m, or off`)
  if (value.trim() === "off") return "off"
  let parsed: Rate
  try {
    parsed = parseRate(value, parseDuration)
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}`)
  }
  return checkRate(name, parsed)
}

const resolverUrl = (value: unknown): string | undefined => {
  if (value === undefined || value === "") return undefined
  if (typeof value !== "string") throw new Error("RESOLVER must be a URL")
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error("RESOLVER must be a URL (a DNS-over-HTTPS JSON endpoint)")
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("RESOLVER must be an https: URL")
  return url.href
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
  const entries = list("ALLOW", env.ALLOW, splitAllowlist)
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
    maxConnections: number("MAX_CONNECTIONS", env.MAX_CONNECTIONS, parseCount, "maxConnections"),
    maxConnectionsPerClient: number(
      "MAX_CONNECTIONS_PER_CLIENT",
      env.MAX_CONNECTIONS_PER_CLIENT,
      parseCount,
      "maxConnectionsPerClient"
    ),
    sessionRate: rate("SESSION_RATE", env.SESSION_RATE),
    sessionBurst: number("SESSION_BURST", env.SESSION_BURST, parseCount, "sessionBurst"),
    connectTimeoutMs: number("CONNECT_TIMEOUT", env.CONNECT_TIMEOUT, parseDuration, "connectTimeoutMs"),
    idleTimeoutMs: number("IDLE_TIMEOUT", env.IDLE_TIMEOUT, parseDuration, "idleTimeoutMs"),
    maxSessionMs: number("MAX_SESSION", env.MAX_SESSION, parseDuration, "maxSessionMs"),
    maxMessageBytes: number("MAX_MESSAGE", env.MAX_MESSAGE, parseSize, "maxMessageBytes"),
    maxBufferedBytes: number("MAX_BUFFERED", env.MAX_BUFFERED, parseSize, "maxBufferedBytes"),
    log: log !== "off",
    resolver: resolverUrl(env.RESOLVER)
  }
}
