// core/ runs on every runtime because only a few files may touch a runtime's own API: the
// transports made for one (node, deno, bun, cloudflare), the one that picks among them
// (auto), and the CLI. That rule lives in biome.json (noRestrictedImports and
// noRestrictedGlobals in an override for core/), and `npm run check` lints the tree with it.
// (A dynamic `import("node:…")` is not the linter's: core/tsconfig.json type-checks core/
// without Node's types, so such an import does not compile there.)
// This proves the rule itself bites: probe files with every kind of violation, laid out as
// core/ is, are linted with the project's own biome.json.
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "pop3-boundary-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// The project's config, outside git (no ignore file to read there).
const config = JSON.parse(readFileSync(join(ROOT, "biome.json"), "utf8")) as { vcs: object; $schema?: string }
config.vcs = { enabled: false }
delete config.$schema
writeFileSync(join(dir, "biome.json"), JSON.stringify(config))

const VIOLATIONS =
  [
    'import net from "node:net"',
    'import { readFileSync } from "fs"',
    'import { WebSocket } from "ws"',
    'import * as NodeSocket from "@effect/platform-node-shared/NodeSocket"',
    'import { connect } from "cloudflare:sockets"',
    "export const globals = [process.env, Buffer.from([]), Deno.version, Bun.version]"
  ].join("\n") + "\nexport const used = [net, readFileSync, WebSocket, NodeSocket, connect]\n"

const lint = (path: string) =>
  new Promise<string>((resolve) => {
    const file = join(dir, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, VIOLATIONS)
    execFile(
      join(ROOT, "node_modules", ".bin", "biome"),
      ["lint", "--max-diagnostics=100", path],
      { cwd: dir },
      (_error, stdout, stderr) => resolve(stdout + stderr)
    )
  })

const count = (output: string, rule: string) => output.split(rule).length - 1

describe("the runtime boundary of core/ (biome.json)", () => {
  it("refuses runtime modules and globals in a portable file", async () => {
    const output = await lint("core/client/probe.ts")
    expect(count(output, "lint/style/noRestrictedImports")).toBe(5)
    expect(count(output, "lint/style/noRestrictedGlobals")).toBe(4)
  })

  it.each([
    "core/transport/node.ts",
    "core/transport/deno.ts",
    "core/transport/bun.ts",
    "core/transport/cloudflare.ts",
    "core/transport/auto.ts",
    "core/transport/node-websocket.ts",
    "core/transport/node-byte-search.ts",
    "core/cli/probe.ts"
  ])("allows them in %s", async (path) => {
    const output = await lint(path)
    expect(count(output, "noRestrictedImports") + count(output, "noRestrictedGlobals")).toBe(0)
  })
})
