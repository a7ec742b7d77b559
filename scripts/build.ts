/**
 * Builds what the package ships into `dist/`:
 *
 *   dist/lib/**           ← core/ without cli/: the library, compiled by `tsc -p tsconfig.lib.json`
 *                           to ES modules with `.d.ts` files and source maps (what `exports` points at)
 *
 * and the executables, with rolldown:
 *
 *   dist/pop3.js         ← core/cli/bin.ts  (the `pop3` command)
 *   dist/pop3-bridge.js  ← bridge/main.ts   (the `pop3-bridge` command)
 *   dist/chunks/*.js     ← what they load (shared code, the transports main.ts picks at run time)
 *
 * and the web demo as a static site, with Vite (vite.config.ts):
 *
 *   dist/web-demo/**     ← web-demo/: index.html, the page's script, the playground's Worker.
 *                           Any static file server can serve it; its Playground needs no bridge
 *                           or server. Skipped with --skip-demo (the `prepare` script does).
 *
 *   node scripts/build.ts [--out DIR] [--quiet] [--skip-demo]
 *
 * Why: run from source, every `pop3` start loads ~200 modules and has Node type-strip the
 * TypeScript ones (about 0.2 s and 110 MiB before the first byte on the network); bundled,
 * it starts in about 0.05 s and 60 MiB. And Node refuses to type-strip `.ts` files inside
 * `node_modules`, so an installed package needs JavaScript executables anyway. The sources
 * stay the entry points: `node core/cli/bin.ts` keeps working, as do Deno and Bun on the
 * `.ts` files.
 *
 * What the bundle is:
 * - ES modules with every dependency inside (effect, @noble/hashes, the vendored subtls,
 *   ws), tree-shaken; nothing is loaded from `node_modules` at run time.
 * - Split at bin.ts's dynamic `import("./main.ts")`, which comes after bin.ts turns on
 *   Node's compile cache: the big chunk is then compiled once and read from the cache on
 *   later starts (measured: 60 → 50 ms per start; a single file cannot use the cache).
 * - Node's built-in modules are taken with `process.getBuiltinModule()` rather than
 *   `import … from "node:…"`: an ES import of a built-in makes Node build its whole export
 *   facade, running every lazy getter (`fs.promises`, `util.TextDecoder`, streams, …) —
 *   about 10 ms of each start. The export names are read from this Node at build time; a
 *   name another Node version lacks reads as undefined instead of failing to link.
 * - `ws`'s zlib (for permessage-deflate, which neither executable uses) is required when
 *   first used, not as `ws` loads (`lazyZlibPlugin`): 5–7 ms of the start of `pop3 --bridge`.
 * - Not minified: minifying saved nothing measurable with the compile cache, and the
 *   `// path/to/module` comments rolldown leaves between modules let
 *   `bench/profile-summary.ts` attribute CPU profiles of the bundle to source files.
 * - Entry files keep their `#!/usr/bin/env node` line and get mode 0755.
 *
 * @module
 */
import { execFile } from "node:child_process"
import { builtinModules } from "node:module"
import { chmod, cp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs, promisify } from "node:util"
import { build, type Plugin } from "rolldown"

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..")

/** The executables: output name (without `.js`) → source entry. */
export const ENTRIES: Readonly<Record<string, string>> = {
  pop3: "core/cli/bin.ts",
  "pop3-bridge": "bridge/main.ts"
}

const SHEBANG = "#!/usr/bin/env node"
const BUILTIN_PREFIX = "\0builtin:"
const builtins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)])

/** Built-in modules through `process.getBuiltinModule()` (see the module comment). */
const builtinsPlugin: Plugin = {
  name: "pop3-builtins",
  resolveId(id, _importer, extra) {
    if (!builtins.has(id)) return null
    // A CommonJS require (ws) wants the module itself, not a namespace: leave it to Node.
    if (extra.kind === "require-call") return { id, external: true }
    return { id: `${BUILTIN_PREFIX}${id.startsWith("node:") ? id : `node:${id}`}`, moduleSideEffects: false }
  },
  async load(id) {
    if (!id.startsWith(BUILTIN_PREFIX)) return null
    const name = id.slice(BUILTIN_PREFIX.length)
    const exports = Object.keys((await import(name)) as object).filter(
      (n) => n !== "default" && /^[A-Za-z_$][\w$]*$/.test(n)
    )
    // Each export is read when its binding is first evaluated, and only if something
    // imports it: the PURE call lets tree-shaking drop the others.
    return [
      `const m = process.getBuiltinModule(${JSON.stringify(name)});`,
      "export default m;",
      ...exports.map((n) => `export const ${n} = /* @__PURE__ */ (() => m.${n})();`)
    ].join("\n")
  }
}

/**
 * `ws` requires zlib as it loads, for permessage-deflate, which neither executable uses
 * (pop3-bridge and the CLI's WebSocket turn it off); loading zlib took 5–7 ms of the start
 * of `pop3 --bridge`. In the bundles zlib is required when first used instead. The build
 * fails if `ws` no longer has the line, rather than quietly loading zlib again.
 */
const EAGER_ZLIB = "const zlib = require('zlib');"
const lazyZlibPlugin: Plugin = {
  name: "pop3-lazy-zlib",
  transform(code, id) {
    if (!/[\\/]node_modules[\\/]ws[\\/]lib[\\/]permessage-deflate\.js$/.test(id)) return null
    if (!code.includes(EAGER_ZLIB))
      throw new Error(`${id} no longer has ${EAGER_ZLIB}: see lazyZlibPlugin in scripts/build.ts`)
    return code.replace(
      EAGER_ZLIB,
      "let zlibModule;\nconst zlib = new Proxy({}, { get: (_, key) => (zlibModule ??= require('zlib'))[key] });"
    )
  }
}

/**
 * Bundles every entry into `outDir` (default `dist/`); returns the entry files written.
 * @category build
 */
export const buildAll = async (options: { readonly outDir?: string } = {}): Promise<Array<string>> => {
  const outDir = resolve(ROOT, options.outDir ?? "dist")
  await mkdir(outDir, { recursive: true })
  // Only what an earlier build wrote: stale chunks would pile up otherwise.
  await rm(join(outDir, "chunks"), { recursive: true, force: true })
  for (const name of Object.keys(ENTRIES)) await rm(join(outDir, `${name}.js`), { force: true })
  await build({
    input: Object.fromEntries(Object.entries(ENTRIES).map(([name, entry]) => [name, join(ROOT, entry)])),
    platform: "node",
    plugins: [builtinsPlugin, lazyZlibPlugin],
    logLevel: "warn",
    treeshake: true,
    output: {
      dir: outDir,
      format: "esm",
      entryFileNames: "[name].js",
      chunkFileNames: "chunks/[name]-[hash].js",
      minify: false,
      comments: { legal: false, annotation: false, jsdoc: false },
      sourcemap: false
    }
  })
  const written: Array<string> = []
  for (const name of Object.keys(ENTRIES)) {
    const target = join(outDir, `${name}.js`)
    // rolldown keeps the entry's own "#!" line; make sure it is there (npm links bin files as they are).
    const text = await readFile(target, "utf8")
    if (!text.startsWith(`${SHEBANG}\n`)) await writeFile(target, `${SHEBANG}\n${text}`)
    await chmod(target, 0o755)
    written.push(target)
  }
  // `"type": "module"` from the package's package.json makes Node load these as ES modules;
  // one next to them keeps that true wherever the directory is copied.
  await writeFile(join(outDir, "package.json"), JSON.stringify({ type: "module" }) + "\n")
  return written
}

/**
 * Compiles the library into `dist/lib/` (a fresh copy each time, so no stale module is
 * shipped); returns the directory.
 * @category build
 */
export const buildLibrary = async (): Promise<string> => {
  const outDir = join(ROOT, "dist", "lib")
  await rm(outDir, { recursive: true, force: true })
  await promisify(execFile)(
    process.execPath,
    [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.lib.json")],
    { cwd: ROOT }
  )
  // tsc compiles TypeScript only: the vendored subtls (core/tls/vendor/) is copied as it is.
  await cp(join(ROOT, "core", "tls", "vendor"), join(outDir, "tls", "vendor"), { recursive: true })
  return outDir
}

/**
 * Builds the web demo into `dist/web-demo/` (or `outDir`) with Vite and vite.config.ts; returns the directory.
 * @category build
 */
export const buildDemo = async (options: { readonly outDir?: string } = {}): Promise<string> => {
  const { build: vite } = await import("vite")
  const outDir = resolve(ROOT, options.outDir ?? join("dist", "web-demo"))
  // `npm start` prefills the form's password from VITE_POP3_PASSWORD; a static site is
  // published, so a password in the environment must not end up in its bundle.
  const password = process.env["VITE_POP3_PASSWORD"]
  delete process.env["VITE_POP3_PASSWORD"]
  try {
    await vite({ configFile: join(ROOT, "vite.config.ts"), logLevel: "warn", build: { outDir, emptyOutDir: true } })
  } finally {
    if (password !== undefined) process.env["VITE_POP3_PASSWORD"] = password
  }
  return outDir
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { out: { type: "string" }, quiet: { type: "boolean" }, "skip-demo": { type: "boolean" } }
  })
  const started = performance.now()
  try {
    if (values.out === undefined) {
      const lib = await buildLibrary()
      if (values.quiet !== true)
        process.stdout.write(`${relative(process.cwd(), lib)}/  the library (ES modules, .d.ts, source maps)\n`)
    }
    const files = await buildAll(values.out !== undefined ? { outDir: values.out } : {})
    if (values.out === undefined && values["skip-demo"] !== true) {
      const demo = await buildDemo()
      if (values.quiet !== true)
        process.stdout.write(`${relative(process.cwd(), demo)}/  the web demo, a static site\n`)
    }
    if (values.quiet !== true) {
      for (const f of files)
        process.stdout.write(`${relative(process.cwd(), f)}  ${((await stat(f)).size / 1024).toFixed(0)} KiB\n`)
      process.stdout.write(`built in ${((performance.now() - started) / 1000).toFixed(2)} s\n`)
    }
  } catch (error) {
    process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  }
}
