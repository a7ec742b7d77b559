/**
 * The certificates end-to-end TLS trusts: Mozilla's roots (`roots.ts`), plus the caller's
 * `ca`. Both subtls (the vendored copy) and the roots are loaded with `import()` on the
 * first end-to-end connection, so a bundle that never makes one does not carry ~290 KB it
 * does not use (a bundler puts them in chunks of their own). The roots' index is built
 * once (~60 ms unloaded on the 2-core test VM) and shared; a `ca` is indexed per
 * connection and laid over it.
 *
 * @module
 */
import type { RootCertsDatabase } from "./vendor/subtls.js"

type Subtls = typeof import("./vendor/subtls.js")

let subtls: Promise<Subtls> | undefined
let roots: Promise<RootCertsDatabase> | undefined

/**
 * subtls, loaded once.
 * @category loading
 */
export const loadSubtls = (): Promise<Subtls> => {
  subtls ??= import("./vendor/subtls.js")
  return subtls
}

const loadRoots = (): Promise<RootCertsDatabase> => {
  roots ??= Promise.all([loadSubtls(), import("./roots.ts")]).then(([{ TrustedCert }, { mozillaRoots }]) =>
    TrustedCert.databaseFromPEM(mozillaRoots.join("\n"))
  )
  // A failed load (a bundle chunk that did not arrive) is tried again next time.
  roots.catch(() => {
    roots = undefined
  })
  return roots
}

/**
 * The database to verify a server against: the roots, and `ca` (PEM) after them, so a
 * `ca` certificate with the subject of a root takes its place, as it would in Node.
 * @category trust
 */
export const trustDatabase = async (ca: ReadonlyArray<string> | undefined): Promise<RootCertsDatabase> => {
  const base = await loadRoots()
  if (ca === undefined || ca.length === 0) return base
  const { TrustedCert } = await loadSubtls()
  const extra = await TrustedCert.databaseFromPEM(ca.join("\n"))
  const count = base.index.offsets.length - 1
  const data = new Uint8Array(base.data.length + extra.data.length)
  data.set(base.data)
  data.set(extra.data, base.data.length)
  const subjects = { ...base.index.subjects }
  for (const [key, i] of Object.entries(extra.index.subjects)) subjects[key] = count + i
  return {
    index: {
      offsets: [...base.index.offsets, ...extra.index.offsets.slice(1).map((o) => o + base.data.length)],
      subjects
    },
    data
  }
}
