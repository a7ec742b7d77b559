// `pop3 list` and `pop3 uidl` stream to stdout: the real executable in a child process, over
// TCP to the dev server, prints the first lines of a listing while the server still holds
// back the rest — the server sends the rest only once those lines were read from the
// child's stdout (the order of events, not time) — and the whole output is exact.
import { spawn } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import type { CommandSpec, Session } from "../../dev-server/server.ts"
import { makeMailStore } from "../../dev-server/server.ts"
import { listenTcp, type TcpListener } from "../../dev-server/tcp.ts"

const USER = "alice"
const PASSWORD = "pw"
const COUNT = 2_000
const bin = new URL("../../core/cli/bin.ts", import.meta.url).pathname
const node = new URL("../../node_modules/.bin/node", import.meta.url).pathname

const listeners: Array<TcpListener> = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
})

/** The listing command, holding back all but its first two lines until `gate` resolves. */
const gated = (line: (s: Session, n: number) => string, gate: Promise<void>, events: Array<string>): CommandSpec => ({
  states: ["TRANSACTION"],
  run: async (s) => {
    s.ok()
    s.line(line(s, 1))
    s.line(line(s, 2))
    await s.flush()
    await gate
    events.push("server: rest sent")
    for (let i = 3; i <= s.messages.length; i++) s.line(line(s, i))
    s.end()
  }
})

describe("pop3 list and uidl stream to stdout", () => {
  for (const command of ["list", "uidl"] as const) {
    it(`${command} prints the first lines before the server has sent the rest`, async () => {
      const store = makeMailStore({
        [USER]: {
          password: PASSWORD,
          messages: Array.from({ length: COUNT }, (_, i) => `Subject: ${i + 1}\r\n\r\nbody ${"x".repeat(i % 50)}\r\n`)
        }
      })
      const events: Array<string> = []
      let open!: () => void
      const gate = new Promise<void>((resolve) => (open = resolve))
      const spec =
        command === "list"
          ? gated((s, i) => `${i} ${s.reportedSize(s.messages[i - 1]!)}`, gate, events)
          : gated((s, i) => `${i} ${s.reportedUid(i)}`, gate, events)
      const listener = await listenTcp(store, { commands: { [command.toUpperCase()]: spec } })
      listeners.push(listener)

      // --timeout 5: a CLI that waited for the listing's end would fail (exit 3), not hang.
      const argv = ["--host", "127.0.0.1", "--port", String(listener.port), "--tls", "none", "--timeout", "5"]
      const child = spawn(node, [bin, ...argv, "--user", USER, command], {
        env: { PATH: process.env["PATH"] ?? "", POP3_PASSWORD: PASSWORD },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (text: string) => {
        stdout += text
        if (!events.includes("stdout: lines 1 and 2") && stdout.split("\n").length > 2) {
          events.push("stdout: lines 1 and 2")
          open()
        }
      })
      child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve))

      expect(stderr).toBe("")
      expect(code).toBe(0)
      expect(events).toEqual(["stdout: lines 1 and 2", "server: rest sent"])
      const messages = store.messages(USER)
      const expected = messages.map((m, i) => `${i + 1} ${command === "list" ? m.data.length : m.uid}\n`).join("")
      expect(stdout).toBe(expected)
    })
  }
})
