// .ci/summary.ts, the last word of a CI run: it must fail the run on a skipped test, not
// only when nothing ran.
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const repo = fileURLToPath(new URL("../..", import.meta.url))
// The Node .ci/run uses (from devDependencies; it strips the script's types).
const node = join(repo, "node_modules/.bin/node")
const dir = mkdtempSync(join(tmpdir(), "pop3-ci-summary-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const summary = (counts: { passed: number; failed?: number; pending?: number; todo?: number }) => {
  const report = {
    numTotalTests: counts.passed + (counts.failed ?? 0) + (counts.pending ?? 0) + (counts.todo ?? 0),
    numPassedTests: counts.passed,
    numFailedTests: counts.failed ?? 0,
    numPendingTests: counts.pending ?? 0,
    numTodoTests: counts.todo ?? 0,
    testResults: [
      {
        name: "/repo/test/interop/client.test.ts",
        assertionResults: [
          { fullName: "the Effect client against Dovecot logs in", status: counts.pending ? "skipped" : "passed" }
        ]
      }
    ]
  }
  const file = join(dir, `${JSON.stringify(counts).replace(/\W/g, "_")}.json`)
  writeFileSync(file, JSON.stringify(report))
  const r = spawnSync(node, [join(repo, ".ci/summary.ts"), file], { encoding: "utf8" })
  return { code: r.status, out: r.stdout + r.stderr }
}

describe(".ci/summary.ts", () => {
  it("passes a run where every test ran and passed", () => {
    const { code, out } = summary({ passed: 12 })
    expect(out).toContain("12 passed, 0 failed, 0 skipped")
    expect(code).toBe(0)
  })

  it("fails a run with one skipped test, and names it", () => {
    const { code, out } = summary({ passed: 12, pending: 1 })
    expect(code).toBe(1)
    expect(out).toContain("CI fails: tests were skipped")
    expect(out).toContain("skipped: /repo/test/interop/client.test.ts > the Effect client against Dovecot logs in")
  })

  it("fails a run with a todo test", () => {
    expect(summary({ passed: 3, todo: 1 }).code).toBe(1)
  })

  it("fails a run where nothing ran, or something failed", () => {
    expect(summary({ passed: 0 }).code).toBe(1)
    expect(summary({ passed: 3, failed: 1 }).code).toBe(1)
  })
})
