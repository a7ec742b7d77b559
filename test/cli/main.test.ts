// The `pop3` CLI run in-process: `main(argv, io)` with a fake io, against the dev server over
// the in-memory transport and over real TCP (listenTcp). Checks the exact output of every
// command, the JSON shapes, the trace on stderr, and the exit status of every failure kind.

import { spawn } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import net from "node:net"
import { WebSocketServer } from "ws"
import { afterEach, describe, expect, it } from "vitest"
import type { CliIo } from "../../core/cli/main.ts"
import { main } from "../../core/cli/main.ts"
import { USAGE } from "../../core/cli/args.ts"
import type * as Layer from "effect/Layer"
import type { Transport } from "../../core/transport/transport.ts"
import type { Behaviour } from "../../dev-server/server.ts"
import { makeMailStore } from "../../dev-server/server.ts"
import type { ListenTcpOptions, TcpListener } from "../../dev-server/tcp.ts"
import { listenTcp } from "../../dev-server/tcp.ts"
import { testCert, testTls } from "../../dev-server/tls-fixture.ts"
import { makeStore, memoryServer, MESSAGE_ORDER, num, PASSWORD, stored, text, USER } from "../core/client/harness.ts"
import { BIN, NODE, runNode } from "../support/child-node.ts"
import type { MemoryServer } from "../core/client/harness.ts"

const enc = new TextEncoder()

interface Captured {
  readonly io: CliIo
  /** Everything written to stdout, as bytes. */
  readonly stdout: () => Uint8Array
  /** Each stderr call (one per line the CLI means). */
  readonly stderr: Array<string>
}

const capture = (
  options: {
    readonly transport?: Layer.Layer<Transport>
    readonly password?: string | undefined
    readonly files?: Record<string, string>
  } = {}
): Captured => {
  const chunks: Array<Uint8Array> = []
  const stderr: Array<string> = []
  const files = options.files ?? {}
  const io: CliIo = {
    stdout: async (bytes) => {
      // Copy: body chunks are views into buffers the client may reuse.
      chunks.push(typeof bytes === "string" ? enc.encode(bytes) : bytes.slice())
    },
    stderr: (line) => {
      stderr.push(line)
    },
    env: "password" in options ? { POP3_PASSWORD: options.password } : { POP3_PASSWORD: PASSWORD },
    readFile: (path) => {
      const content = files[path]
      if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`)
      return content
    },
    transport: options.transport
  }
  return {
    io,
    stdout: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
      let o = 0
      for (const c of chunks) {
        out.set(c, o)
        o += c.length
      }
      return out
    },
    stderr
  }
}

const MEMORY = ["--host", "memory.test", "--tls", "none", "--timeout", "3"]
const LOGGED_IN = [...MEMORY, "--user", USER]

/** Runs the CLI against a fresh dev server over the memory transport. */
const cli = async (
  argv: ReadonlyArray<string>,
  options: {
    readonly behaviour?: Behaviour
    readonly password?: string | undefined
    readonly server?: MemoryServer
  } = {}
) => {
  const server = options.server ?? memoryServer(options.behaviour !== undefined ? { behaviour: options.behaviour } : {})
  const captured = capture({
    transport: server.layer,
    ...("password" in options ? { password: options.password } : {})
  })
  const code = await main(argv, captured.io)
  await server.settled()
  return { code, out: captured.stdout(), outText: text(captured.stdout()), err: captured.stderr, server }
}

/** A failure's stderr: exactly one line, "pop3: …", and never the password. */
const oneErrorLine = (err: ReadonlyArray<string>): string => {
  expect(err.length).toBe(1)
  const line = err[0]!
  expect(line).not.toContain("\n")
  expect(line).not.toContain(PASSWORD)
  return line
}

const listeners: Array<TcpListener> = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
})
const listen = async (options: ListenTcpOptions = {}) => {
  const store = makeStore()
  const l = await listenTcp(store, { onError: () => {}, ...options })
  listeners.push(l)
  return { port: l.port, store }
}

describe("commands print exactly", () => {
  it("stat: 'COUNT SIZE'", async () => {
    const { code, outText, err, server } = await cli([...LOGGED_IN, "stat"])
    const messages = server.store.messages(USER)
    expect(code).toBe(0)
    expect(outText).toBe(`${messages.length} ${messages.reduce((n, m) => n + m.data.length, 0)}\n`)
    expect(err).toEqual([])
  })

  it("list: 'N SIZE' per message, or for one", async () => {
    const all = await cli([...LOGGED_IN, "list"])
    const messages = all.server.store.messages(USER)
    expect(all.code).toBe(0)
    expect(all.outText).toBe(messages.map((m, i) => `${i + 1} ${m.data.length}\n`).join(""))
    const one = await cli([...LOGGED_IN, "list", "2"])
    expect(one.outText).toBe(`2 ${messages[1]!.data.length}\n`)
  })

  it("uidl: 'N UID' per message, or for one", async () => {
    const all = await cli([...LOGGED_IN, "uidl"])
    const messages = all.server.store.messages(USER)
    expect(all.outText).toBe(messages.map((m, i) => `${i + 1} ${m.uid}\n`).join(""))
    const one = await cli([...LOGGED_IN, "uidl", "4"])
    expect(one.outText).toBe(`4 ${messages[3]!.uid}\n`)
    expect(one.code).toBe(0)
  })

  for (const name of MESSAGE_ORDER) {
    it(`retr: the ${name} message, byte-exact`, async () => {
      const { code, out, err, server } = await cli([...LOGGED_IN, "retr", String(num(name))])
      expect(code).toBe(0)
      expect(out).toEqual(stored(server.store, num(name)))
      expect(err).toEqual([])
    })
  }

  it("top: the header and the first LINES body lines", async () => {
    const two = await cli([...LOGGED_IN, "top", String(num("plain")), "2"])
    expect(two.outText).toBe(
      "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nline one\r\nline two\r\n"
    )
    const none = await cli([...LOGGED_IN, "top", String(num("dots")), "0"])
    expect(none.outText).toBe("Subject: dots\r\n\r\n")
  })

  it("dele: marks the messages, QUITs, and the server removes them", async () => {
    const server = memoryServer()
    const uids = server.store.messages(USER).map((m) => m.uid)
    const { code, outText, err } = await cli([...LOGGED_IN, "dele", "1", "3"], { server })
    expect(code).toBe(0)
    expect(outText).toBe("")
    expect(err).toEqual([])
    expect(server.commands.slice(-3)).toEqual(["DELE 1", "DELE 3", "QUIT"])
    expect(server.store.messages(USER).map((m) => m.uid)).toEqual([uids[1], uids[3], uids[4]])
  })

  it("dele of a missing message deletes nothing at all (RSET before QUIT)", async () => {
    const server = memoryServer({ behaviour: { commitOnDisconnect: true } })
    const { code, err } = await cli([...LOGGED_IN, "dele", "1", "99"], { server })
    expect(code).toBe(1)
    expect(oneErrorLine(err)).toBe("pop3: DELE 99 refused: -ERR There is no message 99")
    expect(server.commands.slice(-4)).toEqual(["DELE 1", "DELE 99", "RSET", "QUIT"])
    expect(server.store.messages(USER).length).toBe(MESSAGE_ORDER.length)
  })

  const gmailLike: Behaviour = {
    capa: (state) =>
      state === "AUTHORIZATION" ? ["USER", "STLS-LESS"] : ["TOP", "UIDL", "PIPELINING", "EXPIRE 30 USER"]
  }

  it("capa without --user: the capabilities before login, no credentials sent", async () => {
    const { code, outText, server } = await cli([...MEMORY, "capa"], { behaviour: gmailLike })
    expect(code).toBe(0)
    expect(outText).toBe("USER\nSTLS-LESS\n")
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("capa with --user: the capabilities after login", async () => {
    const { code, outText } = await cli([...LOGGED_IN, "capa"], { behaviour: gmailLike })
    expect(code).toBe(0)
    expect(outText).toBe("TOP\nUIDL\nPIPELINING\nEXPIRE 30 USER\n")
  })

  it("--auth user sends USER/PASS (allowed because --tls none was chosen)", async () => {
    const { code, server } = await cli([...LOGGED_IN, "--auth", "user", "stat"])
    expect(code).toBe(0)
    expect(server.commands.slice(1, 3)).toEqual([`USER ${USER}`, `PASS ${PASSWORD}`])
  })

  it("--help and --version print to stdout and exit 0", async () => {
    const help = capture()
    expect(await main(["--help"], help.io)).toBe(0)
    expect(text(help.stdout())).toBe(`${USAGE}\n`)
    const version = capture()
    expect(await main(["--version"], version.io)).toBe(0)
    expect(text(version.stdout())).toMatch(/^\d+\.\d+\.\d+\n$/)
  })

  it("--bridge uses the transport it is given (here: memory)", async () => {
    const { code, outText } = await cli([...LOGGED_IN, "--bridge", "ws://bridge.test/pop3", "list", "1"])
    expect(code).toBe(0)
    expect(outText).toMatch(/^1 \d+\n$/)
  })
})

describe("--json", () => {
  const json = (s: string): unknown => {
    expect(s.endsWith("\n")).toBe(true)
    expect(s.trimEnd()).not.toContain("\n") // one line
    return JSON.parse(s)
  }

  it("stat, list, uidl", async () => {
    const stat = await cli([...LOGGED_IN, "--json", "stat"])
    const messages = stat.server.store.messages(USER)
    expect(json(stat.outText)).toEqual({
      count: messages.length,
      size: messages.reduce((n, m) => n + m.data.length, 0)
    })
    expect(json((await cli([...LOGGED_IN, "--json", "list"])).outText)).toEqual(
      messages.map((m, i) => ({ msg: i + 1, size: m.data.length }))
    )
    expect(json((await cli([...LOGGED_IN, "--json", "list", "1"])).outText)).toEqual([
      { msg: 1, size: messages[0]!.data.length }
    ])
    expect(json((await cli([...LOGGED_IN, "--json", "uidl"])).outText)).toEqual(
      messages.map((m, i) => ({ msg: i + 1, uid: m.uid }))
    )
    expect(json((await cli([...LOGGED_IN, "--json", "uidl", "5"])).outText)).toEqual([
      { msg: 5, uid: messages[4]!.uid }
    ])
  })

  it("retr --json streams: a 6 MB message leaves in pieces as it arrives, never one string", async () => {
    const line = `${"0123456789".repeat(9)}\n`
    const body = `Subject: big\n\n${line.repeat(66_000)}`
    const server = memoryServer({ store: makeMailStore({ [USER]: { password: PASSWORD, messages: [body] } }) })
    const writes: Array<Uint8Array> = []
    const captured = capture({ transport: server.layer })
    const code = await main([...LOGGED_IN, "--json", "retr", "1"], {
      ...captured.io,
      stdout: async (bytes) => void writes.push(typeof bytes === "string" ? enc.encode(bytes) : bytes.slice())
    })
    expect(code).toBe(0)
    const expected = stored(server.store, 1)
    expect(expected.length).toBeGreaterThan(6_000_000)
    const value = JSON.parse(text(Buffer.concat(writes))) as { msg: number; size: number; base64: string }
    expect(value.msg).toBe(1)
    expect(value.size).toBe(expected.length)
    expect(Buffer.from(value.base64, "base64").equals(Buffer.from(expected))).toBe(true)
    // Held whole, the message would leave in one write of 8 MB of base64.
    expect(writes.length).toBeGreaterThan(20)
    expect(Math.max(...writes.map((w) => w.length))).toBeLessThan(1024 * 1024)
  })

  it("retr and top: msg, size and the bytes in base64", async () => {
    const retr = await cli([...LOGGED_IN, "--json", "retr", String(num("eightBit"))])
    const expected = stored(retr.server.store, num("eightBit"))
    const value = json(retr.outText) as { msg: number; size: number; base64: string }
    expect(value.msg).toBe(num("eightBit"))
    expect(value.size).toBe(expected.length)
    expect(Uint8Array.from(Buffer.from(value.base64, "base64"))).toEqual(expected)
    const top = await cli([...LOGGED_IN, "--json", "top", "1", "0"])
    const topValue = json(top.outText) as { msg: number; size: number; base64: string }
    expect(Buffer.from(topValue.base64, "base64").toString("utf8")).toBe(
      "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\n"
    )
    expect(topValue).toMatchObject({
      msg: 1,
      size: "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\n".length
    })
  })

  it("capa: capability → arguments", async () => {
    const { outText } = await cli([...MEMORY, "--json", "capa"])
    expect(json(outText)).toEqual({
      TOP: [],
      UIDL: [],
      USER: [],
      "RESP-CODES": [],
      "AUTH-RESP-CODE": [],
      PIPELINING: [],
      IMPLEMENTATION: ["pop3-dev-server"]
    })
  })

  it("dele: the numbers deleted", async () => {
    const { outText, server } = await cli([...LOGGED_IN, "--json", "dele", "2", "5"])
    expect(json(outText)).toEqual({ deleted: [2, 5] })
    expect(server.store.messages(USER).length).toBe(3)
  })

  it("errors: one JSON line on stderr with the tag and the message", async () => {
    const { code, err, outText } = await cli([...LOGGED_IN, "--json", "retr", "99"])
    expect(code).toBe(1)
    expect(outText).toBe("")
    expect(JSON.parse(oneErrorLine(err))).toEqual({
      error: "ServerError",
      message: "RETR 99 refused: -ERR There is no message 99"
    })
  })
})

describe("--trace", () => {
  it("prints the redacted protocol trace to stderr, one event per line", async () => {
    const { code, err, outText } = await cli([...LOGGED_IN, "--trace", "--auth", "user", "stat"])
    expect(code).toBe(0)
    expect(outText).toMatch(/^5 \d+\n$/) // stdout stays clean
    expect(err[0]).toMatch(/^\s+0\.\d{3}s \.\. connecting to memory\.test:110 \(tls none, memory\)$/)
    expect(err).toContainEqual(expect.stringMatching(/ C: USER alice$/))
    expect(err).toContainEqual(expect.stringMatching(/ C: PASS \*\*\*\*$/))
    expect(err).toContainEqual(expect.stringMatching(/ S: \+OK \d+ \d+ {3}\(\d+ ms\)$/))
    expect(err).toContainEqual(expect.stringMatching(/ \.\. AUTHORIZATION_PASS -> TRANSACTION \(PASS \+OK\)$/))
    for (const line of err) {
      expect(line).not.toContain("\n")
      expect(line).not.toContain(PASSWORD)
    }
  })

  it("APOP is traced with its digest hidden", async () => {
    const { code, err, server } = await cli([...LOGGED_IN, "--trace", "--auth", "apop", "stat"])
    expect(code).toBe(0)
    expect(err).toContainEqual(expect.stringMatching(/ C: APOP alice \*\*\*\*$/))
    const digest = server.commands.find((c) => c.startsWith("APOP"))!.split(" ")[2]!
    expect(err.join("\n")).not.toContain(digest)
  })

  it("a failure with --trace: the trace, then exactly one error line at the end", async () => {
    const { code, err } = await cli([...LOGGED_IN, "--trace", "retr", "99"])
    expect(code).toBe(1)
    expect(err.at(-1)).toBe("pop3: RETR 99 refused: -ERR There is no message 99")
    expect(err.filter((l) => l.startsWith("pop3:")).length).toBe(1)
    expect(err.join("\n")).not.toContain(PASSWORD)
  })
})

describe("exit 1: the server refused", () => {
  it("a wrong password", async () => {
    const { code, err, outText } = await cli([...LOGGED_IN, "stat"], { password: `${PASSWORD}-wrong` })
    expect(code).toBe(1)
    expect(outText).toBe("")
    // [AUTH] to a digest mechanism: the plaintext one is named, not tried (lockouts).
    expect(oneErrorLine(err)).toMatch(
      /^pop3: login failed: APOP was refused; USER was not tried, .* ask for USER by name \(APOP: \[AUTH\] Authentication failed\) — permanent, check the credentials or account; if the password is right: --auth user$/
    )
    expect(err[0]).not.toContain(`${PASSWORD}-wrong`)
  })

  it("a locked mailbox says it is temporary", async () => {
    const { code, err } = await cli([...LOGGED_IN, "stat"], { behaviour: { inUse: true } })
    expect(code).toBe(1)
    expect(oneErrorLine(err)).toMatch(/^pop3: login failed: .*\[IN-USE\]/)
  })

  it("-ERR on retr 99", async () => {
    const { code, err, outText } = await cli([...LOGGED_IN, "retr", "99"])
    expect(code).toBe(1)
    expect(outText).toBe("")
    expect(oneErrorLine(err)).toBe("pop3: RETR 99 refused: -ERR There is no message 99")
  })
})

describe("exit 2: usage", () => {
  const usage = async (argv: ReadonlyArray<string>, message: string | RegExp, password?: string) => {
    const server = memoryServer()
    const captured = capture({ transport: server.layer, ...(password !== undefined ? { password } : {}) })
    const code = await main(argv, captured.io)
    expect(code).toBe(2)
    expect(text(captured.stdout())).toBe("")
    // One line: the message, with a pointer to --help for parse errors.
    expect(captured.stderr.length).toBe(1)
    const [line, ...rest] = captured.stderr[0]!.split("\n")
    const first = line!.replace(/ \(see pop3 --help\)$/, "")
    if (typeof message === "string") expect(first).toBe(`pop3: ${message}`)
    else expect(first).toMatch(message)
    expect(rest).toEqual([])
    expect(captured.stderr[0]).not.toContain(PASSWORD)
    // Nothing was contacted.
    expect(server.sessions.length).toBe(0)
  }

  it("no arguments at all: the usage text on stderr, nothing on stdout, nothing contacted", async () => {
    const server = memoryServer()
    const captured = capture({ transport: server.layer })
    expect(await main([], captured.io)).toBe(2)
    expect(text(captured.stdout())).toBe("")
    expect(captured.stderr).toEqual([USAGE])
    expect(server.sessions.length).toBe(0)
  })
  it("an unknown command", () => usage([...LOGGED_IN, "frobnicate"], 'unknown command "frobnicate"'))
  it("no command", () => usage(LOGGED_IN, "no command given"))
  it("a missing --host", () => usage(["--user", USER, "stat"], "--host is required"))
  it("a missing --user", () => usage([...MEMORY, "stat"], "stat needs --user (and the password in POP3_PASSWORD)"))
  it("--password on argv, never echoed", () =>
    usage(
      [...LOGGED_IN, "--password", PASSWORD, "stat"],
      "passwords are not accepted on the command line; set POP3_PASSWORD"
    ))
  it("a bad message number", () =>
    usage([...LOGGED_IN, "retr", "zero"], 'the message number must be a whole number ≥ 1, got "zero"'))
  it("a bad port", () => usage([...LOGGED_IN, "--port", "70000", "stat"], "--port must be at most 65535, got 70000"))
  it("a bad timeout", () =>
    usage([...LOGGED_IN, "--timeout", "soon", "stat"], '--timeout must be a positive number of seconds, got "soon"'))
  it("a bad --bridge URL", () =>
    usage(
      [...LOGGED_IN, "--bridge", "http://bridge.test", "stat"],
      '--bridge must be a ws:// or wss:// URL, got "http://bridge.test"'
    ))
  it("a negative message number, and an option followed by a negative value: one line each", async () => {
    await usage([...LOGGED_IN, "retr", "-1"], "message numbers start at 1, got -1")
    await usage(
      [...LOGGED_IN, "--timeout", "-5", "stat"],
      '--timeout has no value (a value that starts with "-" is written --timeout=-…)'
    )
  })
  it("an unreadable --ca file", () =>
    usage([...LOGGED_IN, "--ca", "/nope/ca.pem", "stat"], /^pop3: cannot read --ca \/nope\/ca\.pem: .*ENOENT/))
  it("a --ca file with no certificate in it (the wrong file, an empty one), before connecting", async () => {
    const server = memoryServer()
    const captured = capture({ transport: server.layer, files: { "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n" } })
    expect(await main([...LOGGED_IN, "--ca", "/etc/passwd", "stat"], captured.io)).toBe(2)
    expect(captured.stderr).toEqual(["pop3: --ca /etc/passwd holds no PEM certificate (-----BEGIN CERTIFICATE-----)"])
    expect(server.commands).toEqual([])
  })
  it("no POP3_PASSWORD in the environment: a usage error, nothing contacted", async () => {
    const server = memoryServer()
    const captured = capture({ transport: server.layer })
    const code = await main([...LOGGED_IN, "stat"], { ...captured.io, env: {} })
    expect(code).toBe(2)
    expect(captured.stderr).toEqual([
      "pop3: set the password in the POP3_PASSWORD environment variable (it is never taken from the command line)"
    ])
    expect(server.sessions.length).toBe(0)
  })

  it("a password with a line break in POP3_PASSWORD: refused before anything is sent", async () => {
    const server = memoryServer()
    const captured = capture({ transport: server.layer, password: `${PASSWORD}\n` })
    const code = await main([...LOGGED_IN, "stat"], captured.io)
    expect(code).toBe(2)
    expect(oneErrorLine(captured.stderr)).toMatch(
      /^pop3: login: the password contains a LF character at position \d+; nothing was sent$/
    )
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })
})

describe("exit 3: network, TLS, timeout", () => {
  it("a server that stops answering: timeout", async () => {
    // The --timeout limit is what ended it (the message names it); a hang would hit the test's own limit.
    const { code, err } = await cli([...MEMORY, "--timeout", "0.3", "--user", USER, "stat"], {
      behaviour: { stallAfterCommands: 3 }
    })
    expect(code).toBe(3)
    expect(oneErrorLine(err)).toMatch(/^pop3: timed out after 300 ms waiting for /)
  })

  it("a server that never greets: timeout, with a hint at implicit TLS (what a 995-style port does)", async () => {
    const { code, err } = await cli([...MEMORY, "--timeout", "0.3", "capa"], { behaviour: { greeting: false } })
    expect(code).toBe(3)
    expect(oneErrorLine(err)).toBe(
      "pop3: timed out after 300 ms waiting for the greeting; a server that expects TLS from the first byte (usually port 995) never greets in plaintext: try --tls implicit"
    )
  })

  it("a server that hangs up mid-body: connection closed", async () => {
    const { code, err } = await cli([...LOGGED_IN, "retr", "1"], { behaviour: { closeMidBody: true } })
    expect(code).toBe(3)
    expect(oneErrorLine(err)).toBe(
      "pop3: the connection closed during the body of RETR 1: the server closed the connection"
    )
  })

  it("connection refused on a closed port (Node transport)", async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve))
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const captured = capture()
    const code = await main(
      ["--host", "127.0.0.1", "--port", String(port), "--tls", "none", "--timeout", "3", "capa"],
      captured.io
    )
    expect(code).toBe(3)
    expect(oneErrorLine(captured.stderr)).toMatch(
      new RegExp(`^pop3: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`)
    )
  })

  it("STLS with a certificate nobody vouches for: TLS failure", async () => {
    const { port } = await listen({ tls: testTls })
    const captured = capture()
    const code = await main(
      ["--host", "127.0.0.1", "--port", String(port), "--tls", "starttls", "--timeout", "3", "--user", USER, "stat"],
      captured.io
    )
    expect(code).toBe(3)
    expect(oneErrorLine(captured.stderr)).toMatch(/^pop3: TLS with 127\.0\.0\.1 failed: /)
  })

  it("--tls starttls against a server without STLS: TLS failure, no plaintext fallback", async () => {
    const commands: Array<string> = []
    const { port } = await listen({ behaviour: { onCommand: (l) => commands.push(l) } })
    const captured = capture()
    const code = await main(
      ["--host", "127.0.0.1", "--port", String(port), "--timeout", "3", "--user", USER, "stat"],
      captured.io
    )
    expect(code).toBe(3)
    expect(oneErrorLine(captured.stderr)).toMatch(/^pop3: TLS with 127\.0\.0\.1 failed: the server refused STLS/)
    // No CAPA before STLS (RFC 2595 has it forgotten anyway); asked after the refusal, to say why.
    expect(commands).toEqual(["STLS", "CAPA", "QUIT"].slice(0, commands.length))
    expect(commands.some((c) => c.startsWith("USER") || c.startsWith("APOP") || c.startsWith("PASS"))).toBe(false)
  })
})

describe("exit 4: protocol violations", () => {
  it("'+ERR' instead of '-ERR'", async () => {
    const { code, err } = await cli([...LOGGED_IN, "retr", "99"], { behaviour: { plusErr: true } })
    expect(code).toBe(4)
    expect(oneErrorLine(err)).toMatch(/^pop3: the server broke the POP3 protocol: .*\+ERR There is no message 99/)
  })

  it("a 1 GB status line: refused without reading it", async () => {
    const { code, err, server } = await cli([...MEMORY, "capa"], { behaviour: { hugeStatusLine: 1_000_000_000 } })
    expect(code).toBe(4)
    expect(oneErrorLine(err)).toMatch(
      /^pop3: the server broke the POP3 protocol: a status line is longer than 8192 octets/
    )
    expect(err[0]!.length).toBeLessThan(300)
    // What proves "quickly": the server got to send at most a few MB of its gigabyte.
    expect(server.sentOctets()).toBeLessThan(4 * 1024 * 1024)
  })
})

describe("over TCP with listenTcp", () => {
  it("--tls none: stat and retr", async () => {
    const { port, store } = await listen()
    const base = ["--host", "127.0.0.1", "--port", String(port), "--tls", "none", "--timeout", "3", "--user", USER]
    const stat = capture()
    expect(await main([...base, "stat"], stat.io)).toBe(0)
    expect(text(stat.stdout())).toBe(`5 ${store.messages(USER).reduce((n, m) => n + m.data.length, 0)}\n`)
    const retr = capture()
    expect(await main([...base, "retr", String(num("long"))], retr.io)).toBe(0)
    expect(retr.stdout()).toEqual(stored(store, num("long")))
  })

  it("STLS verified with --ca, USER/PASS allowed on the encrypted connection", async () => {
    const { port, store } = await listen({ tls: testTls })
    const captured = capture({ files: { "/ca.pem": testCert } })
    const code = await main(
      [
        "--host",
        "localhost",
        "--port",
        String(port),
        "--ca",
        "/ca.pem",
        "--timeout",
        "3",
        "--user",
        USER,
        "--auth",
        "user",
        "--trace",
        "retr",
        "2"
      ],
      captured.io
    )
    expect(captured.stderr.filter((l) => l.startsWith("pop3:"))).toEqual([])
    expect(code).toBe(0)
    expect(captured.stdout()).toEqual(stored(store, 2))
    expect(captured.stderr).toContainEqual(expect.stringMatching(/ \.\. TLS established$/))
    expect(captured.stderr).toContainEqual(expect.stringMatching(/ C: PASS \*\*\*\*$/))
  })

  it("implicit TLS with --ca", async () => {
    const { port } = await listen({ tls: testTls, implicitTls: true })
    const captured = capture({ files: { "/ca.pem": testCert } })
    const code = await main(
      [
        "--host",
        "localhost",
        "--port",
        String(port),
        "--tls",
        "implicit",
        "--ca",
        "/ca.pem",
        "--timeout",
        "3",
        "--user",
        USER,
        "uidl",
        "1"
      ],
      captured.io
    )
    expect(code).toBe(0)
    expect(text(captured.stdout())).toMatch(/^1 1\.[0-9a-f]{12}\n$/)
  })

  it("implicit TLS against a plain server: a network/TLS failure, not a hang", async () => {
    const { port } = await listen()
    const captured = capture()
    // A hang would hit the test's own limit; exit 3 with one line is the answer.
    const code = await main(
      ["--host", "127.0.0.1", "--port", String(port), "--tls", "implicit", "--timeout", "1", "capa"],
      captured.io
    )
    expect(code).toBe(3)
    oneErrorLine(captured.stderr)
  })
})

describe("the real executable (bin.ts in a child process)", () => {
  const spawnCli = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) => runNode([BIN, ...argv], { env })

  it("retr over TCP: the bytes on stdout, nothing on stderr, exit 0", async () => {
    const { port, store } = await listen()
    const r = await spawnCli(
      ["--host", "127.0.0.1", "--port", String(port), "--tls", "none", "--user", USER, "retr", String(num("eightBit"))],
      { POP3_PASSWORD: PASSWORD }
    )
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(Uint8Array.from(r.stdout)).toEqual(stored(store, num("eightBit")))
  })

  it("output it cannot write (> /dev/full): exit 5 and what happened in one line, not an internal error", async () => {
    const { port } = await listen()
    const target = ["--host", "127.0.0.1", "--port", String(port), "--tls", "none", "--user", USER]
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const full = openSync("/dev/full", "w")
      const child = spawn(NODE, [BIN, ...target, "retr", "1"], {
        env: { PATH: process.env["PATH"] ?? "", POP3_PASSWORD: PASSWORD },
        stdio: ["ignore", full, "pipe"]
      })
      closeSync(full)
      let stderr = ""
      child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      child.on("close", (code) => resolve({ code, stderr }))
    })
    expect(r.code).toBe(5)
    expect(r.stderr).toBe("pop3: cannot write the output: no space left on device (ENOSPC)\n")
  })

  it("a reader of stderr that leaves early (--trace … 2>&1 | grep -m1): no crash, exit 0", async () => {
    const { port } = await listen()
    const target = ["--host", "127.0.0.1", "--port", String(port), "--tls", "none", "--user", USER]
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(NODE, [BIN, ...target, "--trace", "list"], {
        env: { PATH: process.env["PATH"] ?? "", POP3_PASSWORD: PASSWORD },
        stdio: ["ignore", "ignore", "pipe"]
      })
      // The first line read, the reader goes: later trace lines meet a closed pipe.
      child.stderr.once("data", () => child.stderr.destroy())
      child.on("close", (exitCode) => resolve(exitCode))
    })
    expect(code).toBe(0)
  })

  it("a TLS failure against an IP address: exit 3 and exactly one line on stderr (no OpenSSL line break, no Node warning)", async () => {
    const { port } = await listen()
    const r = await spawnCli([
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--tls",
      "implicit",
      "--timeout",
      "2",
      "capa"
    ])
    expect(r.code).toBe(3)
    expect(r.stdout.length).toBe(0)
    expect(r.stderr).toMatch(/^pop3: TLS with 127\.0\.0\.1 failed: [^\n]*\n$/)
  })
})

// Issue 12: what real servers (popa3d, Solid, Cyrus, Courier, Mailutils, Perdition) and
// hostile input showed.
describe("real servers and hostile input (issue 12)", () => {
  it("capa on a server without CAPA (popa3d, Solid): says so, exit 1, also with --json", async () => {
    const plain = await cli([...MEMORY, "capa"], { behaviour: { capa: false } })
    expect(plain.code).toBe(1)
    expect(plain.outText).toBe("")
    expect(oneErrorLine(plain.err)).toMatch(/^pop3: the server does not support CAPA \(RFC 2449; it answered -ERR/)
    const json = await cli([...MEMORY, "--json", "capa"], { behaviour: { capa: false } })
    expect(json.code).toBe(1)
    expect(json.outText).toBe("")
    expect(JSON.parse(oneErrorLine(json.err))).toMatchObject({ error: "CapaUnsupported" })
    const loggedIn = await cli([...LOGGED_IN, "capa"], { behaviour: { capa: false } })
    expect(loggedIn.code).toBe(1)
    expect(loggedIn.outText).toBe("")
  })

  it("dele 1 1: each message is marked once (a repeated DELE is -ERR on most servers)", async () => {
    const server = memoryServer()
    const uids = server.store.messages(USER).map((m) => m.uid)
    const { code, err, outText } = await cli([...LOGGED_IN, "--json", "dele", "1", "3", "1"], { server })
    expect(err).toEqual([])
    expect(code).toBe(0)
    expect(JSON.parse(outText)).toEqual({ deleted: [1, 3] })
    expect(server.commands.filter((c) => c.startsWith("DELE"))).toEqual(["DELE 1", "DELE 3"])
    expect(server.store.messages(USER).map((m) => m.uid)).toEqual([uids[1], uids[3], uids[4]])
  })

  it("--auth apop against a greeting without timestamp (popa3d, Perdition): refused locally, exit 1, no APOP sent", async () => {
    const { code, err, server } = await cli([...LOGGED_IN, "--auth", "apop", "stat"], {
      behaviour: { greeting: "+OK popa3d ready" }
    })
    expect(code).toBe(1)
    expect(oneErrorLine(err)).toBe(
      "pop3: login failed: APOP cannot be used: the server's greeting has no APOP timestamp; nothing was sent"
    )
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  describe("server text never reaches the terminal raw (item 7)", () => {
    const HOSTILE = "\x1b]0;TITLE\x07\x1b[31m\u009b1m"
    const raw = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/
    const noControls = (texts: ReadonlyArray<string>) => {
      for (const t of texts) expect(t).not.toMatch(raw)
    }

    it("a UID outside 0x21–0x7E is a protocol violation (RFC 1939 §7): exit 4, nothing printed raw", async () => {
      const { code, err, outText } = await cli([...LOGGED_IN, "uidl"], {
        behaviour: { uid: (n, uid) => (n === 2 ? HOSTILE : uid) }
      })
      expect(code).toBe(4)
      expect(outText).toBe("")
      expect(oneErrorLine(err)).toMatch(
        /^pop3: the server broke the POP3 protocol: the UID of message 2 has characters outside 0x21–0x7E/
      )
      noControls(err)
      const one = await cli([...LOGGED_IN, "uidl", "2"], { behaviour: { uid: () => HOSTILE } })
      expect(one.code).toBe(4)
      noControls(one.err)
    })

    it("CAPA lines, -ERR texts and --trace lines are printed with control characters escaped", async () => {
      const capa = await cli([...MEMORY, "capa"], { behaviour: { capa: ["USER", `IMPLEMENTATION ${HOSTILE}`] } })
      expect(capa.code).toBe(0)
      expect(capa.outText).toBe("USER\nIMPLEMENTATION \\x1b]0;TITLE\\x07\\x1b[31m\\x9b1m\n")
      const json = await cli([...MEMORY, "--json", "capa"], { behaviour: { capa: [`IMPLEMENTATION ${HOSTILE}`] } })
      noControls([json.outText.trimEnd()])
      expect(JSON.parse(json.outText)).toEqual({ IMPLEMENTATION: ["\x1b]0;TITLE\x07\x1b[31m\u009b1m"] })

      const refused = await cli([...LOGGED_IN, "stat"], { behaviour: { loginFailure: `[AUTH] ${HOSTILE}` } })
      expect(refused.code).toBe(1)
      expect(oneErrorLine(refused.err)).toContain("[AUTH] \\x1b]0;TITLE\\x07\\x1b[31m\\x9b1m")
      const refusedJson = await cli([...LOGGED_IN, "--json", "stat"], {
        behaviour: { loginFailure: `[AUTH] ${HOSTILE}` }
      })
      noControls(refusedJson.err)

      const traced = await cli([...MEMORY, "--trace", "capa"], {
        behaviour: { greeting: `+OK ${HOSTILE}`, capa: [`X-${HOSTILE}`] }
      })
      expect(traced.code).toBe(0)
      expect(traced.err).toContainEqual(expect.stringMatching(/ S: \+OK \\x1b\]0;TITLE\\x07\\x1b\[31m\\x9b1m$/))
      noControls([...traced.err, traced.outText])
    })
  })

  describe("TLS errors that say what to do, in one line (item 11)", () => {
    const spawnCli = (argv: ReadonlyArray<string>) => runNode([BIN, ...argv])

    it("STLS to an IP address without --ca: one line, no Node warning, no Node advice, and the hint to use --ca FILE", async () => {
      const { port } = await listen({ tls: testTls })
      const r = await spawnCli([
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--tls",
        "starttls",
        "--timeout",
        "3",
        "capa"
      ])
      expect(r.code).toBe(3)
      expect(r.stderr).not.toContain("DEP0123")
      expect(r.stderr).not.toContain("--use-system-ca")
      expect(r.stderr).toMatch(
        /^pop3: TLS with 127\.0\.0\.1 failed: self-signed certificate [^\n]*; if the server's certificate comes from a private CA, pass that CA with --ca FILE\n$/
      )
    })

    it("--tls implicit against a plaintext port: says so and suggests --tls starttls, no OpenSSL text", async () => {
      const { port } = await listen()
      const captured = capture()
      const code = await main(
        ["--host", "127.0.0.1", "--port", String(port), "--tls", "implicit", "--timeout", "3", "capa"],
        captured.io
      )
      expect(code).toBe(3)
      expect(oneErrorLine(captured.stderr)).toBe(
        "pop3: TLS with 127.0.0.1 failed: the server did not answer with TLS (is this a plaintext port?); for a server that starts in plaintext and offers STLS, use --tls starttls (usually port 110)"
      )
    })
  })

  it("the bridge token comes from POP3_BRIDGE_TOKEN (not argv), reaches the bridge, and is never printed (item 12)", async () => {
    const TOKEN = "bridge-token-5e1f0a"
    const requests: Array<string> = []
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    wss.on("connection", (socket, request) => {
      requests.push(request.url ?? "")
      socket.close(4001, "target not allowed")
    })
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()))
    const port = (wss.address() as net.AddressInfo).port
    try {
      const captured = capture()
      const io: CliIo = { ...captured.io, env: { POP3_PASSWORD: PASSWORD, POP3_BRIDGE_TOKEN: TOKEN } }
      const code = await main(
        [
          "--bridge",
          `ws://127.0.0.1:${port}/pop3`,
          "--host",
          "pop.example.com",
          "--tls",
          "implicit",
          "--user",
          USER,
          "--trace",
          "stat"
        ],
        io
      )
      expect(code).toBe(3)
      expect(requests).toHaveLength(1)
      expect(new URL(requests[0]!, "ws://x").searchParams.get("token")).toBe(TOKEN)
      expect(captured.stderr.at(-1)).toBe("pop3: the bridge closed the connection (4001: target not allowed)")
      expect([...captured.stderr, text(captured.stdout())].join("\n")).not.toContain(TOKEN)
      // Given twice (env and URL): a usage error that does not echo either.
      const twice = capture()
      const twiceIo: CliIo = { ...twice.io, env: { POP3_PASSWORD: PASSWORD, POP3_BRIDGE_TOKEN: TOKEN } }
      expect(
        await main(
          ["--bridge", `ws://127.0.0.1:${port}/pop3?token=other-secret`, "--host", "h", "--user", USER, "stat"],
          twiceIo
        )
      ).toBe(2)
      expect(oneErrorLine(twice.stderr)).not.toMatch(/other-secret|bridge-token/)
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    }
  })
})
