/**
 * Which runtime this code runs on, told apart without loading anything: `auto.ts` picks the
 * transport by it, and the CLI's first lines (bin.ts) decide by it whether to connect early.
 *
 * @module
 */

/**
 * The runtimes told apart.
 * @category models
 */
export type Runtime = "deno" | "bun" | "node" | "workerd" | "browser" | "unknown"

/**
 * Which runtime `global` belongs to. Order matters: Deno and Bun also define
 * `process.versions.node` (Node compatibility), and Workers may too (`nodejs_compat`).
 * @category detection
 */
export const detectRuntime = (global: object = globalThis): Runtime => {
  const g = global as {
    readonly Deno?: { readonly version?: { readonly deno?: unknown } }
    readonly Bun?: { readonly version?: unknown }
    readonly navigator?: { readonly userAgent?: unknown }
    readonly process?: { readonly versions?: { readonly node?: unknown } }
    readonly document?: unknown
  }
  if (typeof g.Deno?.version?.deno === "string") return "deno"
  if (typeof g.Bun?.version === "string") return "bun"
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd"
  if (typeof g.process?.versions?.node === "string") return "node"
  if (g.document !== undefined) return "browser"
  return "unknown"
}
