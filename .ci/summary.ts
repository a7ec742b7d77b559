// The closing line of a CI run: the totals vitest counted (its JSON report), and the exit
// status CI goes by. Fails when any test failed, none ran, or any was skipped or todo: a
// test CI did not run is not a test CI passed.
//   node .ci/summary.ts test-results/vitest.json
import { readFileSync } from "node:fs"

interface Report {
  readonly numTotalTests: number
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
  readonly numTodoTests: number
  readonly testResults?: ReadonlyArray<{
    readonly name: string
    readonly assertionResults: ReadonlyArray<{ readonly fullName: string; readonly status: string }>
  }>
}

const file = process.argv[2] ?? "test-results/vitest.json"
const r = JSON.parse(readFileSync(file, "utf8")) as Report
const skipped = r.numPendingTests + r.numTodoTests
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`)
if (skipped > 0) {
  for (const result of r.testResults ?? []) {
    for (const test of result.assertionResults) {
      if (test.status !== "passed" && test.status !== "failed")
        console.log(`  ${test.status}: ${result.name} > ${test.fullName}`)
    }
  }
}
const why =
  r.numTotalTests === 0
    ? "no tests ran"
    : r.numFailedTests > 0
      ? "tests failed"
      : skipped > 0
        ? "tests were skipped"
        : undefined
if (why !== undefined) {
  console.error(`CI fails: ${why}`)
  process.exit(1)
}
