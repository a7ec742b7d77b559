// The state file of `pop3 fetch` on its own: atomic replacement through a temporary file
// that nobody can plant in advance (issue 12, item 10).
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import { loadUids, saveUids } from "../../core/cli/fetch-state.ts"

// Every open of node:fs/promises, with its flags (the real open still runs).
const opened = vi.hoisted(() => [] as Array<{ readonly path: string; readonly flags: unknown }>)
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>()
  return {
    ...actual,
    open: (path: string, flags?: unknown, mode?: unknown) => {
      opened.push({ path: String(path), flags })
      return (actual.open as (...args: Array<unknown>) => unknown)(path, flags, mode)
    }
  }
})

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "pop3-state-"))
  dirs.push(dir)
  return dir
}

describe("saveUids", () => {
  it("does not follow a symlink planted at the old predictable temp name (<file>.<pid>.tmp)", async () => {
    const dir = tempDir()
    const path = join(dir, "state.json")
    const victim = join(dir, "victim")
    writeFileSync(victim, "precious\n")
    symlinkSync(victim, `${path}.${process.pid}.tmp`)
    await saveUids(path, "alice@pop.example.com:995", ["u1", "u2"])
    expect(readFileSync(victim, "utf8")).toBe("precious\n")
    expect(await loadUids(path, "alice@pop.example.com:995")).toEqual(new Set(["u1", "u2"]))
  })

  it("creates its temp file exclusively (wx) under a fresh random name each time, and leaves none behind", async () => {
    const dir = tempDir()
    const path = join(dir, "state.json")
    opened.length = 0
    for (let i = 0; i < 3; i++) await saveUids(path, "a@h:110", [`u${i}`])
    const temps = opened.filter((o) => o.path.endsWith(".tmp"))
    expect(temps).toHaveLength(3)
    for (const t of temps) {
      expect(t.flags).toBe("wx")
      expect(t.path).toMatch(/\/state\.json\.[0-9a-f]{16}\.tmp$/)
    }
    expect(new Set(temps.map((t) => t.path)).size).toBe(3)
    expect(readdirSync(dir)).toEqual(["state.json"])
    expect(await loadUids(path, "a@h:110")).toEqual(new Set(["u2"]))
  })
})
