/**
 * Refusal log lines under a rate limit, for both bridges: a flood of refused requests
 * must not become a flood of log lines. A line that gets through after some were left out
 * says how many (`suppressed`). Pure and runtime-neutral.
 */
import { REFUSAL_LOG_BURST, REFUSAL_LOG_RATE } from "./defaults.ts"
import { makeRateLimiter } from "./rate-limit.ts"

/** Writes a refusal record if the rate allows; returns whether it was written. @category logging */
export type RefusalLog = (entry: Readonly<Record<string, unknown>>) => boolean

/** A refusal log in front of `write`, counting what it leaves out in `onSuppressed`. @category logging */
export const makeRefusalLog = (
  write: (entry: Readonly<Record<string, unknown>>) => void,
  now: () => number,
  onSuppressed: () => void = () => {}
): RefusalLog => {
  const bucket = makeRateLimiter(REFUSAL_LOG_RATE, REFUSAL_LOG_BURST, now)
  let suppressed = 0
  return (entry) => {
    if (!bucket.take("")) {
      suppressed += 1
      onSuppressed()
      return false
    }
    write(suppressed === 0 ? entry : { ...entry, suppressed })
    suppressed = 0
    return true
  }
}
