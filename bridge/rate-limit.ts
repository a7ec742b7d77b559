/**
 * Token buckets, one per key: the per-client limit on how fast sessions may be created,
 * and the limit on refusal log lines. Pure and runtime-neutral (the clock is passed in):
 * the Node bridge and the Workers bridge share it.
 *
 * Why sessions are rate-limited: a mail server sees only the bridge's address, so
 * credential stuffing through the bridge looks like one client, and the server's fail2ban
 * would then lock out every user of the bridge at once. The bridge, which still sees the
 * real client, slows each client down instead.
 *
 * A bucket holds up to `burst` tokens and gains `perSecond` tokens a second; taking one
 * either succeeds or is refused (nothing queues). A bucket that has refilled completely is
 * the same as no bucket, so full ones are dropped: memory stays proportional to the clients
 * seen within the last `burst / perSecond` seconds, and `maxKeys` bounds it outright.
 */
import { inRange } from "./defaults.ts"

/** A rate: `count` events per `perMs` milliseconds (e.g. 10 per 60 000). @category limits */
export interface Rate {
  readonly count: number
  readonly perMs: number
}

/** Parse `N/TIME` (`10/1m`, `5/s`, `100/1h`; TIME as in units.ts, a bare unit meaning 1 of it). @category limits */
export const parseRate = (text: string, parseDuration: (t: string) => number): Rate => {
  const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text)
  if (m === null) throw new Error(`"${text}" is not a rate like 10/1m`)
  const unit = /^\d/.test(m[2] ?? "") ? (m[2] ?? "") : `1${m[2] ?? ""}`
  return { count: Number(m[1]), perMs: parseDuration(unit) }
}

/** The rate if usable (1 to 1 000 000 per period, a period a timer can hold), or `"off"`; else an error naming `label`. @category limits */
export const checkRate = (label: string, rate: Rate | "off"): Rate | "off" => {
  if (rate === "off") return rate
  if (!Number.isInteger(rate.count) || rate.count < 1 || rate.count > 1_000_000) {
    throw new Error(`${label}: the count must be between 1 and 1000000, got ${rate.count}`)
  }
  inRange(`${label}: the period`, "idleTimeoutMs", rate.perMs)
  return rate
}

/** Per-key token buckets. @category limits */
export interface RateLimiter {
  /** Take a token for `key`; false when its bucket is empty (then nothing is taken). */
  readonly take: (key: string) => boolean
  /** Buckets held now (not full). */
  readonly size: () => number
}

/**
 * Buckets of `burst` tokens refilled at `rate`. `now` is the clock in milliseconds (tests
 * pass their own). When more than `maxKeys` buckets are held, full ones are dropped; if
 * none is full the oldest-touched is dropped (an attacker with that many addresses could
 * only reset its own buckets).
 * @category limits
 */
export const makeRateLimiter = (rate: Rate, burst: number, now: () => number, maxKeys = 100_000): RateLimiter => {
  const perMs = rate.count / rate.perMs
  // Map order is insertion order; a touched bucket is re-inserted, so the first is the oldest.
  const buckets = new Map<string, { tokens: number; at: number }>()
  const level = (b: { tokens: number; at: number }, t: number): number => Math.min(burst, b.tokens + (t - b.at) * perMs)
  const sweep = (t: number): void => {
    for (const [key, b] of buckets) if (level(b, t) >= burst) buckets.delete(key)
    while (buckets.size > maxKeys) {
      const oldest = buckets.keys().next()
      if (oldest.done === true) break
      buckets.delete(oldest.value)
    }
  }
  return {
    take: (key) => {
      const t = now()
      const b = buckets.get(key)
      const tokens = b === undefined ? burst : level(b, t)
      if (tokens < 1) return false
      buckets.delete(key)
      buckets.set(key, { tokens: tokens - 1, at: t })
      if (buckets.size > maxKeys) sweep(t)
      return true
    },
    size: () => buckets.size
  }
}
