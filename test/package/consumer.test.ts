// The package as users get it: `npm pack`, then a fresh project outside this repository
// installs the tarball next to `effect` and uses it the way the README shows —
//   (a) plain `node` imports every subpath (their exports are compared with a snapshot, so
//       a change of the public surface shows as a diff) and runs a session against the dev
//       server with the Promise API (the runtime's own transport) and the Effect API;
//   (b) `tsc` (strict, NodeNext, skipLibCheck false) type-checks a program using both APIs;
//   (c) `vite build` bundles a page with the root and the WebSocket transport, and a minimal
//       Promise + WebSocket app: no Node built-in may reach the output (sizes printed);
//   (d) the same session under Deno and Bun, from node_modules;
//   (e) `npm ls effect` finds one copy of effect.
// Before the package was compiled, (a) failed with ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING.
import { execFile, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { gzipSync } from "node:zlib"
import { build } from "vite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeMailStore, toCrlf } from "../../dev-server/server.ts"
import { listenTcp, type TcpListener } from "../../dev-server/tcp.ts"
import { requireService } from "../support/require-service.ts"
import { runtimeBin, runtimesAvailable } from "../support/runtimes.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const bin = runtimeBin
const exec = promisify(execFile)

interface RepoPackage {
  readonly name: string
  readonly version: string
  readonly exports: Readonly<Record<string, unknown>>
  readonly devDependencies: Readonly<Record<string, string>>
}
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as RepoPackage
const NAME = pkg.name
/** Every subpath users may import, from `exports` itself (so a new one is tested too). */
const SUBPATHS = Object.keys(pkg.exports)
  .filter((key) => key !== "./package.json")
  .map((key) => (key === "." ? NAME : `${NAME}/${key.slice(2)}`))

const haveRuntimes = requireService("Deno and Bun", runtimesAvailable())

const dir = mkdtempSync(join(tmpdir(), "pop3-consumer-"))
const app = join(dir, "app")
let tarball: {
  readonly filename: string
  readonly size: number
  readonly unpackedSize: number
  readonly entryCount: number
}
let server: TcpListener
const MESSAGES = ["Subject: one\n\nfirst\n", "Subject: two\n\n.leading dot\nsecond\n"]

const run = (file: string, args: ReadonlyArray<string>, cwd = app) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    // Nothing from this repository's environment that could help: no NODE_OPTIONS, no
    // conditions, a cwd outside the repository.
    const child = spawn(file, args, {
      cwd,
      env: { PATH: process.env["PATH"] ?? "", HOME: dir },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (b: Buffer) => out.push(b))
    child.stderr.on("data", (b: Buffer) => err.push(b))
    child.once("error", reject)
    child.once("close", (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    )
  })

// Every export of every subpath, by name and kind: what the snapshot records.
const EXPORTS_SCRIPT = `
const subpaths = ${JSON.stringify(SUBPATHS)}
const kind = (value) =>
  typeof value === "function" ? (/^class[\\s{]/.test(Function.prototype.toString.call(value)) ? "class" : "function")
  : value === null ? "null" : Array.isArray(value) ? "array" : typeof value
const surface = {}
for (const subpath of subpaths) {
  const module = await import(subpath)
  surface[subpath] = Object.fromEntries(Object.keys(module).sort().map((name) => [name, kind(module[name])]))
}
console.log(JSON.stringify(surface, null, 2))
`

// A session with each API against the dev server, as the README shows it.
const SESSION_SCRIPT = `
import { Effect } from "effect"
import * as Pop3 from "${NAME}"
import { connect } from "${NAME}/promise"
import * as Transport from "${NAME}/transport"

const port = Number(process.argv[2] ?? globalThis.Deno?.args[0])
const options = { host: "127.0.0.1", port, tls: "none" }
const login = { user: "alice", password: "secret", allowPlaintext: true }

// The Promise API with the runtime's own transport; \`await using\` closes without committing.
let promise
{
  await using session = await connect(options)
  const mailbox = await session.login(login)
  const stat = await mailbox.stat()
  const second = new TextDecoder().decode(await mailbox.retr(2))
  await mailbox.dele(1)
  promise = { stat, second }
}

// The Effect API: the deletion above was never committed.
const effect = await Effect.runPromise(Effect.gen(function*() {
  const session = yield* Pop3.connect(options)
  const mailbox = yield* session.login(login)
  const stat = yield* mailbox.stat
  const first = new TextDecoder().decode(yield* Pop3.collect(mailbox.retr(1)))
  yield* mailbox.quit
  return { stat, first }
}).pipe(Effect.scoped, Effect.provide(Transport.layer)))
console.log(JSON.stringify({ promise, effect }))
`

// Both APIs, type-checked as a user's TypeScript program.
const TYPED_APP = `
import { Effect } from "effect"
import * as Pop3 from "${NAME}"
import { makeEngine, NeedData, type EngineEvent } from "${NAME}/protocol"
import { connect, type PromiseMailbox } from "${NAME}/promise"
import * as NodeTransport from "${NAME}/node"
import * as Transport from "${NAME}/transport"
import * as WebSocketTransport from "${NAME}/websocket"

export const program = Effect.gen(function*() {
  const session = yield* Pop3.connect({ host: "pop.example.com", port: 995 })
  const mailbox = yield* session.login({ user: "alice", password: "secret" })
  const { count } = yield* mailbox.stat
  const first: Uint8Array = yield* Pop3.collect(mailbox.retr(1))
  yield* mailbox.quit
  return { count, first }
}).pipe(
  Effect.scoped,
  Effect.provide(Transport.layer),
  Effect.catchTag("AuthError", (error) => Effect.succeed({ count: -1, first: new Uint8Array(error.attempts.length) }))
)
export const viaNode = program.pipe(Effect.provide(NodeTransport.layer))
export const viaBridge = program.pipe(Effect.provide(WebSocketTransport.layerGlobal("wss://bridge.example/pop3")))

export async function promises(): Promise<number> {
  await using session = await connect({ host: "pop.example.com", port: 995 })
  const mailbox: PromiseMailbox = await session.login({ user: "alice", password: "secret" })
  let total = 0
  for await (const { msg, bytes } of mailbox.retrMany([1, 2])) total += msg + bytes.length
  await mailbox.quit()
  return total
}

export function engineEvents(received: Uint8Array): Array<EngineEvent["_tag"]> {
  const engine = makeEngine()
  engine.receive(received)
  const tags: Array<EngineEvent["_tag"]> = []
  for (let event = engine.next(); event !== NeedData; event = engine.next()) tags.push(event._tag)
  return tags
}
`

// A page with the root and the WebSocket transport; and the smallest Promise + bridge app.
const PAGE = `
import * as Pop3 from "${NAME}"
import * as WebSocketTransport from "${NAME}/websocket"
import { Effect } from "effect"
document.querySelector("#go").addEventListener("click", () =>
  Effect.runPromise(Effect.scoped(Pop3.connect({ host: "pop.example.com", port: 995, tls: "implicit" })).pipe(
    Effect.provide(WebSocketTransport.layerGlobal("wss://bridge.example/pop3"))
  )).then(console.log))
`
const MINIMAL_PROMISE_APP = `
import { connect } from "${NAME}/promise"
import { layerGlobal } from "${NAME}/websocket"
const session = await connect({ host: "pop.example.com", port: 995, transport: layerGlobal("wss://bridge.example/pop3") })
const mailbox = await session.login({ user: "alice", password: prompt("password") ?? "" })
document.body.textContent = String((await mailbox.stat()).count)
await mailbox.quit()
`

const write = (path: string, text: string) => {
  mkdirSync(join(path, ".."), { recursive: true })
  writeFileSync(path, text)
}

beforeAll(async () => {
  // npm pack runs `prepare` (scripts/build.ts): the tarball holds what the build made.
  const packed = await exec("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024
  })
  ;[tarball] = JSON.parse(packed.stdout) as [typeof tarball]
  const version = (name: string) => {
    const v = pkg.devDependencies[name]
    if (v === undefined) throw new Error(`${name} is not a devDependency`)
    return v
  }
  write(
    join(app, "package.json"),
    JSON.stringify(
      {
        name: "consumer",
        private: true,
        type: "module",
        dependencies: {
          [NAME]: `file:${join(dir, tarball.filename)}`,
          effect: `^${version("effect")}`,
          // The optional peer of pop3-everywhere/node-websocket, which (a) imports.
          ws: `^${version("ws")}`
        },
        devDependencies: { "@types/node": version("@types/node") }
      },
      null,
      2
    )
  )
  await exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: app,
    maxBuffer: 64 * 1024 * 1024
  })
  write(join(app, "exports.mjs"), EXPORTS_SCRIPT)
  write(join(app, "session.mjs"), SESSION_SCRIPT)
  server = await listenTcp(makeMailStore({ alice: { password: "secret", messages: MESSAGES } }))
}, 240_000)

afterAll(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

const expectedSession = () => {
  const sizes = MESSAGES.map((m) => toCrlf(m).length)
  return {
    promise: {
      stat: { count: 2, size: sizes[0]! + sizes[1]! },
      second: new TextDecoder().decode(toCrlf(MESSAGES[1]!))
    },
    effect: { stat: { count: 2, size: sizes[0]! + sizes[1]! }, first: new TextDecoder().decode(toCrlf(MESSAGES[0]!)) }
  }
}

describe(`the packed package (${NAME}), installed in a fresh project`, () => {
  it("is built JavaScript with declarations, and says what it holds", () => {
    const files = (JSON.parse(readFileSync(join(app, "node_modules", NAME, "package.json"), "utf8")) as RepoPackage)
      .exports
    expect(files["./package.json"]).toBe("./package.json")
    const lib = readdirSync(join(app, "node_modules", NAME, "dist", "lib"))
    expect(lib).toEqual(
      expect.arrayContaining(["index.js", "index.d.ts", "index.js.map", "promise.js", "promise.d.ts"])
    )
    process.stdout.write(
      `package: ${tarball.filename} ${(tarball.size / 1024).toFixed(1)} KiB packed, ${(tarball.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${tarball.entryCount} files\n`
    )
  })

  it("(a) plain node imports every subpath; the public surface matches its snapshot", async () => {
    const result = await run(process.execPath, ["exports.mjs"])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    await expect(result.stdout).toMatchFileSnapshot("./__snapshots__/exports.json")
  })

  it("(a) plain node runs a session with the Promise API (the runtime's transport) and the Effect API", async () => {
    const result = await run(process.execPath, ["session.mjs", String(server.port)])
    expect(result.stderr).toBe("")
    expect(JSON.parse(result.stdout)).toEqual(expectedSession())
  })

  it("(a) the README's engine-over-node:net example runs as written", async () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    const example = /The engine alone[\s\S]*?\n```js\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(example).toContain(`from "${NAME}/protocol"`)
    const script = example!.replace(`connect(110, "pop.example.com")`, `connect(${server.port}, "127.0.0.1")`)
    expect(script).not.toBe(example)
    write(join(app, "engine.mjs"), script)
    const result = await run(process.execPath, ["engine.mjs"])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    // The CAPA body, unstuffed, CRLF kept: one capability a line.
    expect(result.stdout).toMatch(/^(?:[A-Z][A-Z0-9-]*(?: [^\r\n]*)?\r\n)+$/)
    expect(result.stdout).toContain("UIDL\r\n")
  })

  it("(b) tsc strict NodeNext with skipLibCheck false type-checks both APIs", async () => {
    write(join(app, "typed", "app.ts"), TYPED_APP)
    write(
      join(app, "typed", "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022", "ESNext.Disposable", "DOM"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          types: ["node"],
          strict: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          noEmit: true
        },
        include: ["app.ts"]
      })
    )
    const result = await run(bin("tsc"), ["-p", join(app, "typed", "tsconfig.json")])
    expect(result.stdout + result.stderr).toBe("")
    expect(result.code).toBe(0)
  })

  it("(c) vite builds a page without any Node built-in; sizes printed", async () => {
    const bundle = async (name: string, script: string) => {
      const root = join(app, name)
      write(
        join(root, "index.html"),
        `<!doctype html><button id="go">go</button><script type="module" src="./main.js"></script>`
      )
      write(join(root, "main.js"), script)
      const warnings: Array<string> = []
      // Every module that went into the bundle, as the bundler saw it.
      const modules: Array<string> = []
      await build({
        root,
        configFile: false,
        logLevel: "silent",
        plugins: [
          {
            name: "record-modules",
            generateBundle(_options, output) {
              for (const chunk of Object.values(output)) if (chunk.type === "chunk") modules.push(...chunk.moduleIds)
            }
          }
        ],
        customLogger: {
          info() {},
          warn: (msg: string) => warnings.push(msg),
          warnOnce: (msg: string) => warnings.push(msg),
          error: (msg: string) => warnings.push(msg),
          clearScreen() {},
          hasErrorLogged: () => false,
          hasWarned: false
        },
        build: { outDir: join(root, "dist"), target: "es2022", minify: true }
      })
      const assets = join(root, "dist", "assets")
      const js = readdirSync(assets)
        .filter((f) => f.endsWith(".js"))
        .map((f) => readFileSync(join(assets, f)))
      const text = Buffer.concat(js).toString()
      expect(warnings.join("\n")).not.toMatch(/externalized|node:/)
      // The matches themselves, so a failure names what leaked rather than printing the bundle.
      const leaks = (pattern: RegExp) =>
        [...text.matchAll(pattern)].map((m) => text.slice(Math.max(0, m.index - 40), m.index + 60))
      // Of the package, only runtime-neutral modules: no Node, Deno, Bun or Workers transport,
      // not the automatic one that loads them; and no stand-in for a Node built-in.
      const ours = modules
        .filter((id) => id.includes(`/node_modules/${NAME}/`))
        .map((id) => id.slice(id.indexOf(`/node_modules/${NAME}/`) + NAME.length + 15))
      expect(ours).toContain("dist/lib/transport/websocket.js")
      expect(ours.filter((id) => /transport\/(node|deno|bun|cloudflare|auto)\.js$/.test(id))).toEqual([])
      expect(modules.filter((id) => /node:|browser-external|@effect\/platform-node/.test(id))).toEqual([])
      // No import or require of a Node built-in, static or dynamic. (effect itself probes
      // `globalThis.process?.getBuiltinModule?.("node:async_hooks")` at run time, guarded;
      // that is not an import and stays.)
      const builtin =
        "(?:node:[a-z_/]+|net|tls|fs|fs/promises|crypto|child_process|os|path|stream|dns|http|https|zlib|module|url|util|buffer)"
      expect(
        leaks(
          new RegExp(`(?:\\bfrom\\s*|\\bimport\\s*\\(?[^)"'\`]{0,20}|\\brequire\\s*\\(\\s*)["'\`]${builtin}["'\`]`, "g")
        )
      ).toEqual([])
      expect(leaks(/Deno\.connect|Bun\.connect|@effect\/platform-node/g)).toEqual([])
      const raw = js.reduce((n, b) => n + b.length, 0)
      const gzip = js.reduce((n, b) => n + gzipSync(b, { level: 9 }).length, 0)
      process.stdout.write(
        `browser bundle, ${name}: ${(raw / 1024).toFixed(1)} KiB minified, ${(gzip / 1024).toFixed(1)} KiB gzip -9\n`
      )
    }
    await bundle("page", PAGE)
    await bundle("minimal-promise-app", MINIMAL_PROMISE_APP)
  })

  it("(e) npm ls finds exactly one copy of effect", async () => {
    const { stdout } = await exec("npm", ["ls", "effect", "--all", "--parseable"], { cwd: app })
    const copies = new Set(stdout.split("\n").filter((line) => line.endsWith(`${join("node_modules", "effect")}`)))
    expect([...copies]).toEqual([join(app, "node_modules", "effect")])
  })

  describe.skipIf(!haveRuntimes)("(d) Deno and Bun, from node_modules", () => {
    it("deno imports every subpath and runs the session", async () => {
      const denoArgs = ["run", "--no-prompt", "--allow-net=127.0.0.1", "--allow-read", "--allow-env", "--allow-sys"]
      const surface = await run(bin("deno"), [...denoArgs, "exports.mjs"])
      expect(surface.code, surface.stderr).toBe(0)
      expect(Object.keys(JSON.parse(surface.stdout) as object)).toEqual(SUBPATHS)
      const result = await run(bin("deno"), [...denoArgs, "session.mjs", String(server.port)])
      expect(result.code, result.stderr).toBe(0)
      expect(JSON.parse(result.stdout)).toEqual(expectedSession())
    })

    it("bun imports every subpath and runs the session", async () => {
      const surface = await run(bin("bun"), ["exports.mjs"])
      expect(surface.code, surface.stderr).toBe(0)
      expect(Object.keys(JSON.parse(surface.stdout) as object)).toEqual(SUBPATHS)
      const result = await run(bin("bun"), ["session.mjs", String(server.port)])
      expect(result.code, result.stderr).toBe(0)
      expect(JSON.parse(result.stdout)).toEqual(expectedSession())
    })
  })
})
