/**
 * Connection counting for the "max connections, total and per client" limits. Pure: the
 * caller decides what a client key is (see `clientKey` in address.ts).
 */

/** Counts live sessions and says which limit, if any, a new one would exceed. @category limits */
export interface ConnectionLimiter {
  /** Take a slot for `key`, or name the limit that is full (nothing is taken then). */
  readonly acquire: (key: string) => "total" | "per_client" | null
  /** Give back a slot taken by `acquire`. */
  readonly release: (key: string) => void
  /** Live sessions. */
  readonly active: () => number
}

/** A limiter for `maxTotal` sessions, at most `maxPerClient` of them per client key. @category limits */
export const makeLimiter = (maxTotal: number, maxPerClient: number): ConnectionLimiter => {
  const perClient = new Map<string, number>()
  let total = 0
  return {
    acquire: (key) => {
      const mine = perClient.get(key) ?? 0
      if (total >= maxTotal) return "total"
      if (mine >= maxPerClient) return "per_client"
      total += 1
      perClient.set(key, mine + 1)
      return null
    },
    release: (key) => {
      const mine = perClient.get(key) ?? 0
      if (mine <= 0) return
      total -= 1
      // Delete at zero so the map holds only clients with live sessions.
      if (mine === 1) perClient.delete(key)
      else perClient.set(key, mine - 1)
    },
    active: () => total
  }
}
