// The CLI is a user of the library like any other: every module of core/cli imports from
// core only what the package exports (the files package.json's `exports` point at under
// the @pop3-everywhere/source condition), never an internal module.

import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const cli = join(root, "core/cli")

/** Every file an `exports` entry points at for the sources, relative to the root. */
const publicEntries = (): Set<string> => {
  const entries = new Set<string>()
  const walk = (value: unknown, source: boolean): void => {
    if (typeof value === "string") {
      if (source) entries.add(relative(root, resolve(root, value)))
    } else if (value !== null && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(inner, source || key === "@pop3-everywhere/source")
    }
  }
  walk(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).exports, false)
  return entries
}

/** The module specifiers a file imports: static `from "…"`, side-effect `import "…"` and `import("…")`. */
const importsOf = (text: string): Array<string> =>
  [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map((m) => m[1]!)

describe("the CLI uses only the package's public API", () => {
  const allowed = publicEntries()
  const files = readdirSync(cli).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))

  it("knows the public entries (index, promise, protocol, the transports)", () => {
    for (const entry of [
      "core/index.ts",
      "core/promise.ts",
      "core/protocol/index.ts",
      "core/transport/auto.ts",
      "core/transport/websocket.ts"
    ]) {
      expect(allowed).toContain(entry)
    }
    expect(allowed).not.toContain("core/client/client.ts")
  })

  it.each(files)("core/cli/%s imports from core only public entry modules", (file) => {
    const outside = importsOf(readFileSync(join(cli, file), "utf8"))
      .filter((specifier) => specifier.startsWith("."))
      .map((specifier) => relative(root, resolve(cli, specifier)))
      .filter((path) => !path.startsWith("core/cli/"))
    expect(outside.filter((path) => !allowed.has(path))).toEqual([])
  })
})
