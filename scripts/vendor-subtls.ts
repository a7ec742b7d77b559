// `npm run subtls`: writes core/tls/vendor/subtls.js, the copy of subtls (the TLS 1.3 client
// of end-to-end TLS, see docs/end-to-end-tls.md) that the library ships, from the pinned
// devDependency in node_modules/subtls. One change is made, and checked: subtls falls back
// to `import("crypto")` (Node's module) when `globalThis.crypto` is missing; a bundler
// then puts a Node built-in into every browser bundle that might use end-to-end TLS, which
// this package never does (test/package/). Every runtime we support has
// `globalThis.crypto`, so the fallback becomes an error that says so. To update subtls:
// bump the exact version in package.json, `npm install`, `npm run subtls`, review the
// diff, and run the tests of core/tls.
import { readFileSync, writeFileSync } from "node:fs"

const PINNED = "0.5.0"
const source = new URL("../node_modules/subtls/", import.meta.url)
const target = new URL("../core/tls/vendor/subtls.js", import.meta.url)

const { version } = JSON.parse(readFileSync(new URL("package.json", source), "utf8")) as { version: string }
if (version !== PINNED) throw new Error(`node_modules/subtls is ${version}; this script vendors ${PINNED}`)

const code = readFileSync(new URL("index.js", source), "utf8")
const FALLBACK = /import\("crypto"\)\.then\(\(c\) => c\.webcrypto(\.subtle)?\)/g
const fallbacks = code.match(FALLBACK)?.length ?? 0
if (fallbacks !== 2) throw new Error(`expected subtls's 2 import("crypto") fallbacks, found ${fallbacks}`)
const patched = code.replace(
  FALLBACK,
  'Promise.reject(new Error("end-to-end TLS needs WebCrypto (globalThis.crypto)"))'
)
if (/import\(|require\(|from\s*["']/.test(patched)) throw new Error("subtls imports something: review it")

const license = readFileSync(new URL("LICENSE", source), "utf8")
  .trim()
  .split("\n")
  .map((line) => ` * ${line}`.trimEnd())
  .join("\n")

writeFileSync(
  target,
  `/*
 * subtls ${PINNED} (https://github.com/jawj/subtls), with hextreme bundled in, as published
 * on npm; written by \`npm run subtls\` (scripts/vendor-subtls.ts), do not edit. The one
 * change: the two \`import("crypto")\` fallbacks for runtimes without globalThis.crypto
 * reject instead, so that no bundle holds a Node built-in.
 *
${license}
 */
${patched}`
)
process.stdout.write(`wrote ${target.pathname} (subtls ${version}, ${fallbacks} fallbacks replaced)\n`)
