/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time by area (our code,
 * Effect, Node internals, GC, idle) and the heaviest functions.
 *
 * Works for the TypeScript sources and for the bundle (`dist/`, scripts/build.ts): a frame
 * in a bundled file is put back into its source module by the `// path/to/module` comments
 * rolldown writes between modules.
 *
 *   node bench/profile-summary.ts DIR_OR_FILE
 */
import { readFileSync } from "node:fs"
import { readdir, readFile, stat } from "node:fs/promises"
import { join, relative } from "node:path"
import { REPO } from "./runners/contenders.ts"

/** Frames that mean "loading code": resolving, reading, type-stripping, compiling, linking, evaluating modules. */
const isLoading = (url: string): boolean =>
  url.startsWith("node:internal/modules/") || url.startsWith("node:internal/deps/amaro") || url.startsWith("wasm:")

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

// A bundled file: where each source module starts (0-based line), from rolldown's comments.
const bundleRegions = new Map<string, ReadonlyArray<{ readonly line: number; readonly module: string }>>()
const regionsOf = (path: string): ReadonlyArray<{ readonly line: number; readonly module: string }> => {
  let regions = bundleRegions.get(path)
  if (regions === undefined) {
    const found: Array<{ line: number; module: string }> = []
    try {
      readFileSync(path, "utf8")
        .split("\n")
        .forEach((text, line) => {
          const m = /^\/\/ (\S+)$/.exec(text)
          if (m !== null && (m[1]!.includes("/") || m[1]!.startsWith("\0"))) found.push({ line, module: m[1]! })
        })
    } catch {
      // not readable: attribute to the file itself
    }
    regions = found
    bundleRegions.set(path, regions)
  }
  return regions
}

const sourceModule = (path: string, line: number): string | undefined => {
  if (!path.endsWith(".js") || path.includes("/node_modules/")) return undefined
  let module: string | undefined
  for (const r of regionsOf(path)) {
    if (r.line > line) break
    module = r.module
  }
  return module
}

const area = (url: string, name: string, line = 0): string => {
  if (name === "(garbage collector)") return "GC"
  if (name === "(idle)") return "idle (waiting for I/O)"
  if (name === "(program)") return "V8/native (program)"
  if (url === "") return `native: ${name || "(anonymous)"}`
  if (url.startsWith("node:")) return `Node internals (${url.slice(5).split("/").slice(0, 3).join("/")})`
  const file = url.startsWith("file://") ? decodeURIComponent(new URL(url).pathname) : url
  const bundled = sourceModule(file, line)
  if (bundled?.startsWith("\0builtin:") === true) return `Node built-in (${bundled.slice(9)})`
  const path = bundled === undefined ? file : bundled.startsWith("node_modules/") ? `/${bundled}` : join(REPO, bundled)
  const nm = path.lastIndexOf("/node_modules/")
  if (nm >= 0) {
    const rest = path.slice(nm + 14).split("/")
    const pkg = rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
    return pkg === "effect" ? `effect (${rest.slice(1, 3).join("/")})` : `npm: ${pkg}`
  }
  return relative(REPO, path)
}

async function latestProfile(path: string): Promise<string> {
  if (!(await stat(path)).isDirectory()) return path
  const files = (await readdir(path)).filter((f) => f.endsWith(".cpuprofile"))
  if (files.length === 0) throw new Error(`no .cpuprofile in ${path}`)
  const withTimes = await Promise.all(files.map(async (f) => ({ f, t: (await stat(join(path, f))).mtimeMs })))
  withTimes.sort((a, b) => b.t - a.t)
  return join(path, withTimes[0]!.f)
}

export async function summarizeProfile(path: string, wallSeconds?: number, top = 25): Promise<string> {
  const file = await latestProfile(path)
  const profile = JSON.parse(await readFile(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  // Phases by whole stack: a sample under a module-loading frame is start-up work.
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const loadingCache = new Map<number, boolean>()
  const underLoading = (id: number): boolean => {
    const cached = loadingCache.get(id)
    if (cached !== undefined) return cached
    const node = byId.get(id)
    const up = parent.get(id)
    const result = node !== undefined && (isLoading(node.callFrame.url) || (up !== undefined && underLoading(up)))
    loadingCache.set(id, result)
    return result
  }
  const phases = new Map<string, number>()
  for (const [id, micros] of self) {
    const name = byId.get(id)?.callFrame.functionName ?? ""
    const phase =
      name === "(idle)"
        ? "idle (waiting for the network, the disk or the thread pool)"
        : name === "(garbage collector)"
          ? "garbage collection"
          : underLoading(id)
            ? "loading modules (resolve, read, strip types, compile, evaluate)"
            : "running (protocol, client, storage, Effect runtime)"
    phases.set(phase, (phases.get(phase) ?? 0) + micros)
  }
  const areas = new Map<string, number>()
  const functions = new Map<string, number>()
  for (const [id, micros] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    const a = area(url, functionName, lineNumber)
    areas.set(a, (areas.get(a) ?? 0) + micros)
    // In a bundle the line is the bundle's, not the module's: name the module only.
    const inBundle =
      url.startsWith("file://") && sourceModule(decodeURIComponent(new URL(url).pathname), lineNumber) !== undefined
    const where = url === "" ? "" : inBundle ? ` ${a}` : ` ${a}:${lineNumber + 1}`
    const key = `${functionName || "(anonymous)"}${where}`
    functions.set(key, (functions.get(key) ?? 0) + micros)
  }
  const pct = (us: number) =>
    `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms`
  const sorted = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
  // Areas rolled up: our code vs Effect vs Node vs GC vs idle.
  const rollup = new Map<string, number>()
  for (const [a, us] of areas) {
    const key = a.startsWith("effect")
      ? "effect (all)"
      : a.startsWith("Node internals")
        ? "Node internals (all)"
        : a.startsWith("core/")
          ? "core/ (pop3)"
          : a
    rollup.set(key, (rollup.get(key) ?? 0) + us)
  }
  return [
    `CPU profile of pop3 fetch: ${file}`,
    `sampled ${(total / 1000).toFixed(0)} ms${wallSeconds !== undefined ? ` of a ${(wallSeconds * 1000).toFixed(0)} ms run (the rest is process start-up before profiling begins)` : ""}`,
    "",
    "time by phase:",
    ...sorted(phases, 6).map(([k, us]) => `  ${pct(us)}  ${k}`),
    "",
    "self time by area:",
    ...sorted(rollup, 12).map(([k, us]) => `  ${pct(us)}  ${k}`),
    "",
    "self time by file:",
    ...sorted(areas, 15).map(([k, us]) => `  ${pct(us)}  ${k}`),
    "",
    `heaviest functions (self time):`,
    ...sorted(functions, top).map(([k, us]) => `  ${pct(us)}  ${k}`)
  ].join("\n")
}

if (import.meta.main) {
  const path = process.argv[2]
  if (path === undefined) {
    process.stderr.write("usage: node bench/profile-summary.ts DIR_OR_FILE.cpuprofile\n")
    process.exit(2)
  }
  process.stdout.write((await summarizeProfile(path)) + "\n")
}
