// axe-core in a page, for the accessibility audits: a11y.test.ts walks the static site's
// screens; the tests that reach the screens needing the npm start stack (what the bridge sees
// in a session, a 20 MB message) audit them where they already are, at no extra start-up.
// axe is injected with playwright-core's evaluate, which a CSP without inline scripts does not block.
import { readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import type { Page } from "playwright-core"

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js")

interface Violation {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly nodes: ReadonlyArray<{ readonly target: ReadonlyArray<string>; readonly failureSummary?: string }>
}

/** Serious and critical violations on the page as it is now, as readable strings. */
export async function audit(page: Page): Promise<Array<string>> {
  const loaded = await page.evaluate(() => "axe" in window)
  if (!loaded) await page.evaluate(await readFile(AXE, "utf8"))
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (context: Document, options: object) => Promise<{ violations: Array<Violation> }> }
      }
    ).axe
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
      resultTypes: ["violations"]
    })
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary }))
    }))
  })
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} — ${v.nodes
          .slice(0, 4)
          .map((n) => n.target.join(" "))
          .join(", ")}`
    )
}
