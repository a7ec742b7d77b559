import { isCI } from "./ci.ts"

/** Whether an external service a test file needs (a binary, a server, root) is usable. */
export type ServiceCheck = { ok: true } | { ok: false; why: string }

/**
 * Decides what a test file does when an external service is missing: under CI (any
 * non-empty `CI`) it throws,
 * so a broken CI machine fails the suite instead of passing it by skipping; on a
 * developer's machine it prints why once and returns false for `describe.skipIf(!available)`.
 */
export function requireService(
  name: string,
  check: ServiceCheck,
  env: Readonly<Record<string, string | undefined>> = process.env
): boolean {
  if (check.ok) return true
  if (isCI(env)) {
    throw new Error(`${name} is required under CI (CI=${env["CI"]}) but unavailable: ${check.why}`)
  }
  process.stderr.write(`skipping ${name} tests: ${check.why}\n`)
  return false
}
