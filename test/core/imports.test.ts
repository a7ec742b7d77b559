// core/ runs on every runtime because only a few files may touch a runtime's own API: the
// transports made for one (node, deno, bun, cloudflare), the one that picks among them
// (auto), and the CLI (Node, Deno and Bun run it through their Node compatibility). This
// scans every other .ts file under core/ for imports of runtime modules and for uses of
// runtime globals. core/tsconfig.json (no Node types) catches most of it at type-check
// time; this also catches what types cannot: `Deno`/`Bun` declared locally, imports with
// `as string`, and files excluded from that project.
import { readdirSync, readFileSync } from "node:fs"
import { join, relative, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const CORE = join(ROOT, "core")

/** Files allowed to use one runtime's API (paths relative to the repository, with `/`). */
const ALLOWED = new Set(["node", "deno", "bun", "cloudflare", "auto"].map((name) => `core/transport/${name}.ts`))
const allowed = (path: string): boolean => ALLOWED.has(path) || path.startsWith("core/cli/")

// Node's built-in modules also resolve without the `node:` prefix.
const NODE_BUILTINS = new Set([
  "assert", "buffer", "child_process", "cluster", "crypto", "dgram", "dns", "events", "fs", "fs/promises", "http", "http2",
  "https", "module", "net", "os", "path", "perf_hooks", "process", "readline", "stream", "stream/web", "timers", "tls",
  "tty", "url", "util", "v8", "vm", "worker_threads", "zlib"
])

/** Why importing `specifier` ties a file to one runtime, or undefined when it does not. */
export const runtimeModule = (specifier: string): string | undefined => {
  if (/^(node|cloudflare|bun):/.test(specifier)) return `imports ${specifier}`
  if (/^@effect\/platform-node/.test(specifier)) return `imports ${specifier} (Node only)`
  if (specifier === "ws" || specifier.startsWith("ws/")) return `imports ${specifier} (a Node WebSocket library)`
  if (NODE_BUILTINS.has(specifier)) return `imports ${specifier} (a Node built-in)`
  return undefined
}

const GLOBALS = ["Deno", "Bun", "process", "Buffer"]

/**
 * Replaces comments with spaces and the contents of string, template and regular
 * expression literals with `_`, keeping the code inside `${…}`, line breaks and every
 * offset. What is left can be searched for identifiers without matching prose.
 */
export const codeOnly = (source: string): string => {
  const out = source.split("")
  const blank = (from: number, to: number, fill: string) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = fill
  }
  // Whether a `/` at this point starts a regular expression (not a division).
  const regexAllowed = (i: number): boolean => {
    let j = i - 1
    while (j >= 0 && /\s/.test(source[j]!)) j--
    if (j < 0) return true
    if ("(,=:[!&|?{};+-*%<>~^".includes(source[j]!)) return true
    const word = /[A-Za-z_$]+$/.exec(source.slice(Math.max(0, j - 10), j + 1))?.[0]
    return word !== undefined && ["return", "typeof", "case", "in", "of", "void", "yield", "await"].includes(word)
  }
  const braces: Array<"code" | "template"> = []
  let i = 0
  const template = (): void => {
    // i is just after a backtick or a `}` closing `${`.
    const start = i
    while (i < source.length) {
      const c = source[i]
      if (c === "\\") {
        i += 2
      } else if (c === "`") {
        blank(start, i, "_")
        i++
        return
      } else if (c === "$" && source[i + 1] === "{") {
        blank(start, i, "_")
        braces.push("template")
        i += 2
        return
      } else {
        i++
      }
    }
    blank(start, i, "_")
  }
  while (i < source.length) {
    const c = source[i]!
    const next = source[i + 1]
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i)
      const stop = end < 0 ? source.length : end
      blank(i, stop, " ")
      i = stop
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2)
      const stop = end < 0 ? source.length : end + 2
      blank(i, stop, " ")
      i = stop
    } else if (c === "\"" || c === "'") {
      let j = i + 1
      while (j < source.length && source[j] !== c && source[j] !== "\n") j += source[j] === "\\" ? 2 : 1
      blank(i + 1, j, "_")
      i = j + 1
    } else if (c === "`") {
      i++
      template()
    } else if (c === "{") {
      braces.push("code")
      i++
    } else if (c === "}") {
      i++
      if (braces.pop() === "template") template()
    } else if (c === "/" && regexAllowed(i)) {
      let j = i + 1
      let inClass = false
      while (j < source.length && source[j] !== "\n" && (inClass || source[j] !== "/")) {
        if (source[j] === "\\") j++
        else if (source[j] === "[") inClass = true
        else if (source[j] === "]") inClass = false
        j++
      }
      blank(i + 1, j, "_")
      i = j + 1
    } else {
      i++
    }
  }
  return out.join("")
}

const lineOf = (source: string, index: number): number => source.slice(0, index).split("\n").length

/** The runtime-specific imports and globals in `source`, one message per finding. */
export const findings = (source: string): Array<string> => {
  const found: Array<string> = []
  const code = codeOnly(source)
  // Specifiers are read from the source at the positions the code-only text shows a
  // statement, so an "import" inside a string or comment is never taken for one.
  const patterns = [
    /\b(?:import|export)\s[\w$*{}\s,]*?\bfrom\s*(["'])/g, // import … from "x", export … from "x"
    /\bimport\s*(["'])/g, // import "x"
    /\bimport\s*\(\s*(["'`])/g, // import("x")
    /\brequire\s*\(\s*(["'`])/g // require("x")
  ]
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) {
      const quoteAt = match.index + match[0].length - 1
      const quote = source[quoteAt]!
      const end = source.indexOf(quote, quoteAt + 1)
      const specifier = source.slice(quoteAt + 1, end)
      const why = runtimeModule(specifier)
      if (why !== undefined) found.push(`line ${lineOf(source, match.index)}: ${why}`)
    }
  }
  // import(expression): what it loads cannot be checked here.
  for (const match of code.matchAll(/\bimport\s*\(\s*(?!["'`])/g)) {
    found.push(`line ${lineOf(source, match.index)}: import() of a computed specifier`)
  }
  for (const name of GLOBALS) {
    // An identifier, not a property (`x.process`) nor an object key or member (`process:`).
    for (const match of code.matchAll(new RegExp(`(?<![.\\w$])${name}(?![\\w$])(?!\\s*\\??:)`, "g"))) {
      found.push(`line ${lineOf(source, match.index)}: uses the global ${name}`)
    }
  }
  return found
}

const tsFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return tsFiles(path)
    return entry.name.endsWith(".ts") ? [path] : []
  })

const repoPath = (path: string): string => relative(ROOT, path).split(sep).join("/")

describe("the scanner", () => {
  it.each([
    ["import { readFileSync } from \"node:fs\"", "imports node:fs"],
    ["import * as Net from 'net'", "imports net (a Node built-in)"],
    ["export { connect } from \"cloudflare:sockets\"", "imports cloudflare:sockets"],
    ["import type {\n  Database\n} from \"bun:sqlite\"", "imports bun:sqlite"],
    ["import \"ws\"", "imports ws (a Node WebSocket library)"],
    ["const m = await import(\"@effect/platform-node/NodeSocket\")", "imports @effect/platform-node/NodeSocket (Node only)"],
    ["const m = await import(\"node:tls\" as string)", "imports node:tls"],
    ["const m = await import(name)", "import() of a computed specifier"],
    ["const { createServer } = require(`node:http`)", "imports node:http"],
    ["const home = process.env.HOME", "uses the global process"],
    ["const b = Buffer.from(x)", "uses the global Buffer"],
    ["const conn = await Deno.connect({ port })", "uses the global Deno"],
    ["if (typeof Bun !== \"undefined\") {}", "uses the global Bun"],
    ["const f = `${process.argv[2]}`", "uses the global process"],
    ["const t = `a ${`b ${Buffer.name}`} c`", "uses the global Buffer"]
  ])("finds it in %j", (source, message) => {
    expect(findings(source).map((f) => f.replace(/^line \d+: /, ""))).toContain(message)
  })

  it.each([
    "// process, Buffer, Deno and Bun in a comment; import x from \"node:fs\"",
    "/* import(\"node:net\") */ const x = 1",
    "const text = \"runs on Deno and Bun, in the process, with a Buffer\"",
    "const text = 'import \"node:fs\"'",
    "const t = `Deno ${x} Bun`",
    "const re = /process|Buffer/g",
    "const a = b / c; const d = e.process / Buffer2",
    "const o = { process: 1, Deno: 2 }",
    "interface G { readonly Bun?: unknown; readonly process?: { env: unknown } }",
    "const g = globalThis.Deno",
    "import * as Socket from \"effect/socket/Socket\"",
    "import { wsUrl } from \"./ws-url.ts\"",
    "import { x } from \"ws-utils\""
  ])("finds nothing in %j", (source) => {
    expect(findings(source)).toEqual([])
  })

  it("reports the line", () => {
    expect(findings("const a = 1\n\nconst b = Buffer.alloc(1)")).toEqual(["line 3: uses the global Buffer"])
  })

  it("sees the runtime imports of the files that are allowed them (so it reads real files)", () => {
    const node = findings(readFileSync(join(CORE, "transport", "node.ts"), "utf8"))
    expect(node).toEqual(expect.arrayContaining([expect.stringMatching(/imports node:net$/), expect.stringMatching(/@effect\/platform-node/)]))
    expect(findings(readFileSync(join(CORE, "cli", "bin.ts"), "utf8"))).toEqual(
      expect.arrayContaining([expect.stringMatching(/imports node:module$/), expect.stringMatching(/uses the global process$/)])
    )
  })
})

describe("core/ outside the runtime-specific files", () => {
  const files = tsFiles(CORE).map((path) => ({ path: repoPath(path), source: readFileSync(path, "utf8") }))

  it("has files to check", () => {
    expect(files.filter((f) => !allowed(f.path)).length).toBeGreaterThan(20)
  })

  it("imports no runtime module and uses no runtime global", () => {
    const violations = files
      .filter((f) => !allowed(f.path))
      .flatMap((f) => findings(f.source).map((finding) => `${f.path} ${finding}`))
    expect(violations).toEqual([])
  })
})
