// The dev server speaks correct POP3 (RFC 1939, 2449, 2595, 5034) — checked on raw bytes
// over in-memory streams and real TCP.

import { md5 } from "@noble/hashes/legacy.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { afterEach, describe, expect, it } from "vitest"
import { memorySession, octets, pipe, RawClient, tcpClient, until } from "./raw-client.ts"
import type { DuplexStreams, SaslMechanism } from "../../dev-server/server.ts"
import { makeMailStore, serveConnection } from "../../dev-server/server.ts"
import type { TcpListener } from "../../dev-server/tcp.ts"
import { listenTcp } from "../../dev-server/tcp.ts"

const MSG1 = "From: a@example.com\nSubject: one\n\nfirst line\nsecond line\n"
const MSG2 = "From: b@example.com\r\nSubject: two\r\n\r\n.dot\r\n..two dots\r\n.\r\nend\r\n"
const MSG3 = "Subject: three\r\n\r\nno final line end"

function store() {
  return makeMailStore({
    alice: { password: "secret pw", messages: [MSG1, MSG2, MSG3] },
    bob: { password: "hunter2", messages: [] }
  })
}

async function login(client: RawClient, user = "alice", password = "secret pw"): Promise<void> {
  await client.line() // greeting
  await client.send(`USER ${user}\r\nPASS ${password}\r\n`)
  expect(await client.line()).toMatch(/^\+OK/)
  expect(await client.line()).toMatch(/^\+OK/)
}

const listeners: TcpListener[] = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
})

describe("store", () => {
  it("normalizes LF to CRLF and ends every message with CRLF", () => {
    const s = store()
    const [m1, m2, m3] = s.messages("alice")
    expect(new TextDecoder().decode(m1!.data)).toBe(MSG1.replaceAll("\n", "\r\n"))
    expect(new TextDecoder().decode(m2!.data)).toBe(MSG2)
    expect(new TextDecoder().decode(m3!.data)).toBe(`${MSG3}\r\n`)
  })

  it("gives stable, unique UIDs that are never reused", () => {
    const a = makeMailStore({ u: { password: "p", messages: ["same\n", "same\n", "other\n"] } })
    const b = makeMailStore({ u: { password: "p", messages: ["same\n", "same\n", "other\n"] } })
    const uids = a.messages("u").map((m) => m.uid)
    expect(new Set(uids).size).toBe(3)
    expect(b.messages("u").map((m) => m.uid)).toEqual(uids)
    for (const uid of uids) expect(uid).toMatch(/^[\x21-\x7e]{1,70}$/) // RFC 1939 §7
    const lock = a.lock("u")
    if (!lock.ok) throw new Error("lock failed")
    lock.lock.commit([lock.lock.messages[2]!])
    const again = a.deliver("u", "other\n")
    expect(uids).not.toContain(again.uid)
  })

  it("copies message bytes, so callers cannot change the store", () => {
    const bytes = octets("Subject: x\r\n\r\nbody\r\n")
    const s = makeMailStore({ u: { password: "p", messages: [bytes] } })
    bytes[0] = 0x58
    expect(s.messages("u")[0]!.data[0]).toBe(0x53)
  })
})

describe("session basics", () => {
  it("greets with an APOP timestamp, logs in with USER/PASS and quits", async () => {
    const { client, done } = memorySession(store())
    const greeting = await client.line()
    expect(greeting).toMatch(/^\+OK .*<[0-9]+\.[0-9]+@[^>]+>$/)
    await client.send("USER alice\r\n")
    expect(await client.line()).toMatch(/^\+OK/)
    await client.send("PASS secret pw\r\n") // the rest of the line, spaces included
    expect(await client.line()).toBe("+OK Logged in, 3 messages (162 octets)")
    await client.send("QUIT\r\n")
    expect(await client.line()).toMatch(/^\+OK .*signing off/)
    expect(await client.rest()).toBe("")
    await done
  })

  it("refuses bad credentials with [AUTH] and lets the client retry", async () => {
    const { client, done } = memorySession(store())
    await client.line()
    await client.send(
      "PASS x\r\nUSER alice\r\nPASS wrong\r\nUSER nobody\r\nPASS secret pw\r\nUSER alice\r\nPASS secret pw\r\nQUIT\r\n"
    )
    expect(await client.line()).toBe("-ERR Send USER first")
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    expect(await client.line()).toMatch(/^\+OK/) // unknown users are not revealed at USER
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    expect(await client.line()).toMatch(/^\+OK/)
    await done
  })

  it("accepts APOP with the MD5 of timestamp and secret (RFC 1939 §7)", async () => {
    const { client, done } = memorySession(store())
    const timestamp = /<[^>]+>/.exec(await client.line())![0]
    const digest = bytesToHex(md5(new TextEncoder().encode(`${timestamp}hunter2`)))
    await client.send(
      `APOP bob 0123456789abcdef0123456789abcdef\r\nAPOP bob ${digest.toUpperCase()}\r\nSTAT\r\nQUIT\r\n`
    )
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    expect(await client.line()).toBe("+OK 0 0")
    expect(await client.line()).toMatch(/^\+OK/)
    await done
  })

  it("lists capabilities per RFC 2449, STLS only when TLS can start and only before login", async () => {
    const startTls = (): Promise<DuplexStreams> => Promise.reject(new Error("unused"))
    const { client } = memorySession(store(), {}, { startTls })
    await client.line()
    await client.send("CAPA\r\n")
    expect(await client.line()).toMatch(/^\+OK/)
    const before = await client.body()
    expect(before).toEqual([
      "TOP",
      "UIDL",
      "USER",
      "RESP-CODES",
      "AUTH-RESP-CODE",
      "PIPELINING",
      "STLS",
      "IMPLEMENTATION pop3-dev-server"
    ])
    await client.send("USER alice\r\nPASS secret pw\r\nCAPA\r\n")
    await client.line()
    await client.line()
    await client.line()
    expect(await client.body()).not.toContain("STLS")
    client.close()

    const plain = memorySession(store()).client
    await plain.line()
    await plain.send("CAPA\r\nSTLS\r\n")
    await plain.line()
    expect(await plain.body()).not.toContain("STLS")
    expect(await plain.line()).toBe("-ERR STLS is not available")
    plain.close()
  })

  it("answers STAT, LIST, UIDL, RETR and TOP with dot-stuffed bodies", async () => {
    const { client, done } = memorySession(store())
    await login(client)
    await client.send(
      "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 3\r\nRETR 2\r\nTOP 1 0\r\nTOP 1 1\r\nTOP 2 99\r\nRETR 3\r\nQUIT\r\n"
    )
    const s = store().messages("alice")
    expect(await client.line()).toBe("+OK 3 162")
    expect(await client.line()).toBe("+OK 3 messages (162 octets)")
    expect(await client.body()).toEqual([`1 ${s[0]!.data.length}`, `2 ${s[1]!.data.length}`, `3 ${s[2]!.data.length}`])
    expect(await client.line()).toBe(`+OK 2 ${s[1]!.data.length}`)
    await client.line()
    expect(await client.body()).toEqual(s.map((m, i) => `${i + 1} ${m.uid}`))
    expect(await client.line()).toBe(`+OK 3 ${s[2]!.uid}`)
    expect(await client.line()).toBe(`+OK ${s[1]!.data.length} octets`)
    // Every line starting with "." gains one more (RFC 1939 §3), including a lone ".".
    expect(await client.readUntil("\r\n.\r\n")).toBe(
      "From: b@example.com\r\nSubject: two\r\n\r\n..dot\r\n...two dots\r\n..\r\nend\r\n.\r\n"
    )
    await client.line()
    expect(await client.body()).toEqual(["From: a@example.com", "Subject: one", ""])
    await client.line()
    expect(await client.body()).toEqual(["From: a@example.com", "Subject: one", "", "first line"])
    await client.line()
    expect(await client.body()).toEqual([
      "From: b@example.com",
      "Subject: two",
      "",
      "..dot",
      "...two dots",
      "..",
      "end"
    ])
    await client.line()
    expect(await client.body()).toEqual(["Subject: three", "", "no final line end"])
    expect(await client.line()).toMatch(/^\+OK/)
    await done
  })

  it("answers -ERR for bad arguments, deleted messages and the wrong state", async () => {
    const { client, done } = memorySession(store())
    await client.line()
    await client.send("STAT\r\nRETR 1\r\nFOO\r\n\r\n")
    expect(await client.line()).toBe("-ERR STAT is not allowed in the AUTHORIZATION state")
    expect(await client.line()).toBe("-ERR RETR is not allowed in the AUTHORIZATION state")
    expect(await client.line()).toBe("-ERR Unknown command")
    expect(await client.line()).toBe("-ERR Empty command line")
    await client.send("USER alice\r\nPASS secret pw\r\n")
    await client.line()
    await client.line()
    const bad = [
      "RETR",
      "RETR x",
      "RETR 0",
      "RETR 4",
      "RETR -1",
      "RETR 1 2",
      "TOP 1",
      "TOP 1 x",
      "TOP 9 1",
      "LIST 1 2",
      "LIST 9",
      "UIDL 0",
      "DELE",
      "STAT 1",
      "USER alice",
      "STLS"
    ]
    await client.send(bad.map((c) => `${c}\r\n`).join(""))
    for (const c of bad) expect(await client.line(), c).toMatch(/^-ERR /)
    await client.send(
      "DELE 1\r\nDELE 1\r\nRETR 1\r\nTOP 1 0\r\nLIST 1\r\nUIDL 1\r\nLIST\r\nSTAT\r\nrset\r\nLIST 1\r\nQUIT\r\n"
    )
    expect(await client.line()).toBe("+OK Message 1 deleted")
    for (let i = 0; i < 5; i++) expect(await client.line()).toBe("-ERR Message 1 is already deleted")
    await client.line()
    expect((await client.body()).map((l) => l.split(" ")[0])).toEqual(["2", "3"])
    expect(await client.line()).toMatch(/^\+OK 2 /)
    expect(await client.line()).toMatch(/^\+OK Maildrop has 3 messages/)
    expect(await client.line()).toMatch(/^\+OK 1 /)
    expect(await client.line()).toMatch(/^\+OK/)
    await done
  })
})

describe("framing of input", () => {
  it("answers pipelined commands sent in one TCP write, in order", async () => {
    const l = await listenTcp(store())
    listeners.push(l)
    const { client } = await tcpClient(l.port)
    await client.line()
    const commands = [
      "CAPA",
      "USER alice",
      "PASS secret pw",
      "STAT",
      "LIST 1",
      "UIDL 2",
      "NOOP",
      "RETR 1",
      "DELE 3",
      "STAT",
      "QUIT"
    ]
    await client.send(commands.map((c) => `${c}\r\n`).join(""))
    await client.line()
    await client.body()
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    expect(await client.line()).toBe("+OK 3 162")
    expect(await client.line()).toMatch(/^\+OK 1 /)
    expect(await client.line()).toMatch(/^\+OK 2 2\./)
    expect(await client.line()).toBe("+OK")
    expect(await client.line()).toMatch(/^\+OK \d+ octets/)
    expect(await client.body()).toEqual(["From: a@example.com", "Subject: one", "", "first line", "second line"])
    expect(await client.line()).toBe("+OK Message 3 deleted")
    expect(await client.line()).toMatch(/^\+OK 2 /)
    expect(await client.line()).toMatch(/^\+OK .*\(2 messages left\)/)
    expect(await client.rest()).toBe("")
  })

  it("sends the answers to a pipelined batch together", async () => {
    const { client } = memorySession(store())
    await login(client)
    const before = client.chunks.length
    await client.send("NOOP\r\nNOOP\r\nNOOP\r\nSTAT\r\n")
    for (let i = 0; i < 4; i++) await client.line()
    expect(client.chunks.length - before).toBe(1)
    client.close()
  })

  it("reassembles commands split at every byte", async () => {
    const { client, done } = memorySession(store())
    await client.line()
    for (const byte of octets("USER alice\r\nPASS secret pw\r\nSTAT\nQUIT\r\n"))
      await client.send(new Uint8Array([byte]))
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    expect(await client.line()).toBe("+OK 3 162") // a bare LF ends a command too
    expect(await client.line()).toMatch(/^\+OK/)
    await done
  })

  it("accepts a 255-octet command line and refuses a 256-octet one (RFC 2449 §4)", async () => {
    const { client } = memorySession(store())
    await client.line()
    const line255 = `USER ${"a".repeat(248)}\r\n`
    const line256 = `USER ${"a".repeat(249)}\r\n`
    expect(line255.length).toBe(255)
    await client.send(line256 + line255)
    expect(await client.line()).toBe("-ERR Command line too long (limit 255 octets)")
    expect(await client.line()).toBe("+OK Send PASS")
    // Megabytes without a line end are discarded as they come, then the session goes on.
    for (let i = 0; i < 16; i++) await client.send("x".repeat(64 * 1024))
    await client.send("\r\nUSER alice\r\nPASS secret pw\r\n")
    expect(await client.line()).toMatch(/^-ERR Command line too long/)
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("reports every line the client sent to onCommand, secrets included", async () => {
    const seen: string[] = []
    const { client, done } = memorySession(store(), { onCommand: (l) => seen.push(l) })
    await login(client)
    await client.send("QUIT\r\n")
    await client.rest()
    await done
    expect(seen).toEqual(["USER alice", "PASS secret pw", "QUIT"])
  })
})

describe("mailbox semantics", () => {
  it("deletes only when QUIT enters the UPDATE state", async () => {
    const s = store()
    const first = memorySession(s)
    await login(first.client)
    await first.client.send("DELE 1\r\nDELE 2\r\n")
    await first.client.line()
    await first.client.line()
    first.client.close() // disconnect without QUIT: nothing is deleted
    await first.done
    expect(s.messages("alice")).toHaveLength(3)

    const second = memorySession(s)
    await login(second.client)
    await second.client.send("DELE 1\r\nDELE 3\r\nQUIT\r\n")
    await second.client.line()
    await second.client.line()
    expect(await second.client.line()).toBe("+OK dev server signing off (1 message left)")
    await second.done
    expect(s.messages("alice").map((m) => new TextDecoder().decode(m.data))).toEqual([MSG2])
  })

  it("locks the mailbox for one session at a time: [IN-USE]", async () => {
    const s = store()
    const first = memorySession(s)
    await login(first.client)
    const second = memorySession(s)
    await second.client.line()
    await second.client.send("USER alice\r\nPASS secret pw\r\n")
    await second.client.line()
    expect(await second.client.line()).toBe("-ERR [IN-USE] Mailbox is locked by another POP3 session")
    expect(s.isLocked("alice")).toBe(true)
    await first.client.send("QUIT\r\n")
    await first.done
    expect(s.isLocked("alice")).toBe(false)
    await second.client.send("USER alice\r\nPASS secret pw\r\n")
    await second.client.line()
    expect(await second.client.line()).toMatch(/^\+OK Logged in/)
    second.client.close()
    await second.done
    expect(s.isLocked("alice")).toBe(false) // released on disconnect too
  })

  it("does not show messages delivered after the session locked the maildrop", async () => {
    const s = store()
    const { client } = memorySession(s)
    await login(client)
    s.deliver("alice", "Subject: new\n\nhi\n")
    await client.send("STAT\r\n")
    expect(await client.line()).toBe("+OK 3 162")
    client.close()
  })
})

describe("extension points", () => {
  const plain: SaslMechanism = {
    name: "PLAIN",
    async authenticate(exchange, initial) {
      const data = initial ?? (await exchange.challenge(new Uint8Array(0)))
      const [, user = "", password = ""] = new TextDecoder().decode(data).split("\0")
      return exchange.store.checkPassword(user, password) ? { ok: true, user } : { ok: false }
    }
  }
  const b64 = (s: string): string => btoa(s)

  it("runs plugged-in SASL mechanisms through AUTH (RFC 5034)", async () => {
    const { client } = memorySession(store(), {}, { sasl: [plain] })
    await client.line()
    await client.send("CAPA\r\n")
    await client.line()
    expect(await client.body()).toContain("SASL PLAIN")
    await client.send(`AUTH XOAUTH2\r\nAUTH PLAIN !!!\r\nAUTH PLAIN ${b64("\0alice\0wrong")}\r\nAUTH PLAIN\r\n`)
    expect(await client.line()).toBe("-ERR Unsupported authentication mechanism")
    expect(await client.line()).toBe("-ERR Invalid base64 in initial response")
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    expect(await client.line()).toBe("+ ")
    await client.send("*\r\n")
    expect(await client.line()).toBe("-ERR Authentication cancelled")
    await client.send("AUTH PLAIN\r\n")
    expect(await client.line()).toBe("+ ")
    await client.send(`${b64("\0alice\0secret pw")}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("merges extra commands over the default table", async () => {
    const { client } = memorySession(
      store(),
      {},
      {
        commands: { XPING: { states: ["AUTHORIZATION"], run: (s) => s.ok("pong") } }
      }
    )
    await client.line()
    await client.send("xping\r\n")
    expect(await client.line()).toBe("+OK pong")
    client.close()
  })

  it("ends the session when the signal aborts", async () => {
    const controller = new AbortController()
    const s = store()
    const { client, done } = memorySession(s, {}, { signal: controller.signal })
    await login(client)
    expect(s.isLocked("alice")).toBe(true)
    controller.abort()
    await done
    expect(s.isLocked("alice")).toBe(false)
  })
})

describe("backpressure", () => {
  it("produces a large RETR body one piece at a time, as the reader takes it", async () => {
    const body = `${"z".repeat(1022)}\r\n`.repeat(8 * 1024) // 8 MiB
    const s = makeMailStore({ alice: { password: "pw", messages: [`Subject: big\r\n\r\n${body}`] } })
    const up = pipe()
    let produced = 0
    let holding = false
    let seen = ""
    let accept: (() => void) | undefined
    // A sink that takes everything until told to hold, then one piece per accept().
    const writable = new WritableStream<Uint8Array>({
      write(chunk) {
        produced += chunk.length
        if (!holding) seen += new TextDecoder().decode(chunk)
        if (holding) return new Promise<void>((resolve) => (accept = resolve))
      }
    })
    const controller = new AbortController()
    const done = serveConnection(s, { readable: up.readable, writable }, {}, { signal: controller.signal })
    const writer = up.writable.getWriter()
    await writer.write(octets("USER alice\r\nPASS pw\r\n"))
    await until(() => seen.includes("Logged in"))
    holding = true
    const before = produced
    await writer.write(octets("RETR 1\r\n"))
    await until(() => produced > before)
    const first = produced - before
    expect(first).toBeLessThanOrEqual(64 * 1024 + 32) // "+OK n octets" and one piece
    for (let i = 1; i <= 20; i++) {
      accept?.()
      await until(() => produced - before > first + (i - 1) * 64 * 1024)
      expect(produced - before).toBe(first + i * 64 * 1024)
    }
    controller.abort()
    await done
  })
})

describe("STLS", () => {
  it("continues on the hook's streams and drops what was pipelined before TLS", async () => {
    // The "TLS" here is a second in-memory pair, standing in for the negotiated streams.
    const [up, down, tlsUp, tlsDown] = [pipe(), pipe(), pipe(), pipe()]
    const done = serveConnection(
      store(),
      { readable: up.readable, writable: down.writable },
      {},
      {
        startTls: async () => ({ readable: tlsUp.readable, writable: tlsDown.writable })
      }
    )
    const writer = up.writable.getWriter()
    const client = new RawClient(
      down.readable,
      (b) => writer.write(b),
      () => {}
    )
    await client.line()
    await client.send("STLS\r\nUSER alice\r\nPASS secret pw\r\n") // injected before TLS
    expect(await client.line()).toBe("+OK Begin TLS negotiation")
    const tlsWriter = tlsUp.writable.getWriter()
    const secure = new RawClient(
      tlsDown.readable,
      (b) => tlsWriter.write(b),
      () => void tlsWriter.close()
    )
    await secure.send("STAT\r\nCAPA\r\nSTLS\r\nQUIT\r\n")
    expect(await secure.line()).toBe("-ERR STAT is not allowed in the AUTHORIZATION state")
    await secure.line()
    expect(await secure.body()).not.toContain("STLS")
    expect(await secure.line()).toBe("-ERR TLS is already active")
    expect(await secure.line()).toMatch(/^\+OK/)
    await done
  })
})
