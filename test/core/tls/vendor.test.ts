// The vendored subtls (core/tls/vendor/subtls.js) is the pinned npm release with only its
// Node fallback replaced and the fixes of scripts/vendor-subtls.ts applied, and its
// hand-written declarations agree with the published ones.
import { readFileSync } from "node:fs"
import type * as Published from "subtls"
import { describe, expect, it } from "vitest"
import type * as Vendored from "../../../core/tls/vendor/subtls.js"
import { FIXES, vendoredSubtls } from "../../../scripts/vendor-subtls.ts"

// Compile-time: what core/tls calls must be callable as the published declarations say.
const startTls: typeof Vendored.startTls = undefined as unknown as typeof Published.startTls
const databaseFromPEM: typeof Vendored.TrustedCert.databaseFromPEM =
  undefined as unknown as typeof Published.TrustedCert.databaseFromPEM
const Queue: typeof Vendored.LazyReadFunctionReadQueue =
  undefined as unknown as typeof Published.LazyReadFunctionReadQueue

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8")

describe("the vendored subtls", () => {
  it("is what npm run subtls makes of node_modules/subtls/index.js: the fallbacks rejected, the fixes applied, nothing else", () => {
    const published = read("../../../node_modules/subtls/index.js")
    const vendored = read("../../../core/tls/vendor/subtls.js")
    expect(vendored).toBe(vendoredSubtls())
    const body = vendored.slice(vendored.indexOf("*/\n") + 3)
    expect(body).not.toContain('import("crypto")')
    // Undo each fix: the published code comes back, but for the two fallbacks.
    let undone = body
    for (const fix of FIXES) undone = undone.replace(fix.replace, () => fix.find)
    const differing = undone.split("\n").filter((line, i) => line !== published.split("\n")[i])
    expect(differing).toEqual([
      '  Promise.reject(new Error("end-to-end TLS needs WebCrypto (globalThis.crypto)"))',
      '  Promise.reject(new Error("end-to-end TLS needs WebCrypto (globalThis.crypto)"))'
    ])
    expect(JSON.parse(read("../../../node_modules/subtls/package.json")).version).toBe("0.5.0")
    expect([startTls, databaseFromPEM, Queue]).toHaveLength(3)
  })
})
