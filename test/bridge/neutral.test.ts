/**
 * The bridge's runtime-neutral files (the rules both bridges share) import nothing from
 * Node and nothing from `ws`: the Workers bridge bundles them. Checked two ways: the listed
 * files, and every file the Worker (worker.ts) reaches through relative imports.
 */
import { readFileSync } from "node:fs"
import { dirname, join, normalize } from "node:path"
import { describe, expect, it } from "vitest"

const bridge = join(import.meta.dirname, "../../bridge")
const NEUTRAL = [
  "address.ts",
  "close-codes.ts",
  "defaults.ts",
  "limits.ts",
  "metrics.ts",
  "policy.ts",
  "proxy-protocol.ts",
  "rate-limit.ts",
  "refusal-log.ts",
  "session-record.ts",
  "units.ts"
]

/** Module specifiers a file imports at run time (type-only imports are erased). */
const imports = (file: string): string[] => {
  const text = readFileSync(file, "utf8")
  return [
    ...text.matchAll(/^import\s+(?!type\s)[^"']*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)
  ].map((m) => m[1] ?? m[2] ?? "")
}
const forbidden = (spec: string): boolean =>
  spec.startsWith("node:") || spec === "ws" || /^(fs|net|tls|http|https|dns|path|os|crypto|stream)(\/|$)/.test(spec)

describe("runtime-neutral bridge files", () => {
  it.each(NEUTRAL)("%s imports no node: module and no ws", (name) => {
    expect(imports(join(bridge, name)).filter(forbidden)).toEqual([])
  })

  it("everything the Worker reaches is neutral or Workers-only", () => {
    const seen = new Set<string>()
    const visit = (file: string): void => {
      if (seen.has(file)) return
      seen.add(file)
      for (const spec of imports(file)) {
        expect(forbidden(spec), `${file} imports ${spec}`).toBe(false)
        if (spec.startsWith(".")) visit(normalize(join(dirname(file), spec)))
      }
    }
    visit(join(bridge, "worker.ts"))
    const reached = [...seen].map((f) => f.slice(bridge.length + 1)).sort()
    expect(reached.filter((f) => !NEUTRAL.includes(f) && !f.startsWith("worker"))).toEqual([])
  })
})
