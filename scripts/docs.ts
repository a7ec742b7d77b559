/**
 * `npm run docs`: the API reference, generated from the JSDoc of every public subpath by
 * TypeDoc into `dist/docs/`, with warnings as errors (a broken link or a public type that
 * is not exported fails the build).
 *
 * TypeDoc drives the TypeScript compiler API, which TypeScript 7 (this repository's
 * compiler, a native binary) does not ship, so it lives in `docs/` with a TypeScript 6 of
 * its own and its own lockfile; this installs it there on first use.
 *
 * @module
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const DOCS = join(ROOT, "docs")

if (!existsSync(join(DOCS, "node_modules", "typedoc"))) {
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: DOCS, stdio: "inherit" })
}
execFileSync(
  process.execPath,
  [join(DOCS, "node_modules", "typedoc", "bin", "typedoc"), "--options", join(DOCS, "typedoc.json")],
  { cwd: DOCS, stdio: "inherit" }
)
