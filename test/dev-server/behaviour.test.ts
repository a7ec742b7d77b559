// Every misbehaviour the dev server offers actually happens on the wire.

import { describe, expect, it } from "vitest"
import type { Behaviour } from "../../dev-server/behaviour.ts"
import { binary, memorySession, pipe, RawClient, until } from "./raw-client.ts"
import { makeMailStore, serveConnection } from "../../dev-server/server.ts"

const DOTS = "Subject: dots\r\n\r\n.dot\r\n.\r\nafter\r\n"
const BIG_BODY = `Subject: big\r\n\r\n${"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n".repeat(4096)}`

function store() {
  return makeMailStore({
    alice: { password: "pw", messages: [DOTS, "Subject: two\n\nline\n", "Subject: three\n\nx\n", BIG_BODY] }
  })
}

async function session(behaviour: Behaviour, loginFirst = true) {
  const s = memorySession(store(), behaviour)
  if (loginFirst) {
    await s.client.line()
    await s.client.send("USER alice\r\nPASS pw\r\n")
    await s.client.line()
    await s.client.line()
  }
  return s
}

describe("framing misbehaviours", () => {
  it("noDotStuffing: body lines starting with '.' go out as they are", async () => {
    const { client } = await session({ noDotStuffing: true })
    await client.send("RETR 1\r\n")
    await client.line()
    // The lone "." ends the message early for any client: the rest arrives as garbage.
    expect(await client.readUntil("\r\n.\r\n")).toBe("Subject: dots\r\n\r\n.dot\r\n.\r\n")
    expect(await client.readUntil("\r\n.\r\n")).toBe("after\r\n.\r\n")
    client.close()
  })

  it("lfOnly: LF line ends in status lines, bodies and the terminator", async () => {
    const s = memorySession(store(), { lfOnly: true })
    const { client } = s
    expect(await client.readUntil("\n")).toMatch(/^\+OK [^\r]*\n$/)
    await client.send("USER alice\r\nPASS pw\r\nRETR 1\r\nQUIT\r\n")
    const all = await client.rest()
    expect(all).not.toContain("\r")
    expect(all).toMatch(
      /^\+OK Send PASS\n\+OK Logged in.*\n\+OK \d+ octets\nSubject: dots\n\n\.\.dot\n\.\.\nafter\n\.\n\+OK .*\n$/
    )
  })

  it("writeChunkSize: every write is split into pieces of at most n octets", async () => {
    const { client } = await session({ writeChunkSize: 3 })
    const before = client.chunks.length
    await client.send("RETR 2\r\n")
    await client.line()
    expect(await client.body()).toEqual(["Subject: two", "", "line"])
    const pieces = client.chunks.slice(before)
    expect(pieces.length).toBeGreaterThan(5)
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(3)
    client.close()
  })

  it("wrongListSizes: LIST, STAT and RETR count LF as one octet", async () => {
    const { client } = await session({ wrongListSizes: true })
    await client.send("LIST 2\r\nSTAT\r\nRETR 2\r\n")
    const real = "Subject: two\r\n\r\nline\r\n".length
    expect(await client.line()).toBe(`+OK 2 ${real - 3}`)
    expect(await client.line()).toMatch(/^\+OK 4 \d+$/)
    expect(await client.line()).toBe(`+OK ${real - 3} octets`)
    expect((await client.body()).join("\r\n").length + 2).toBe(real) // the body is intact
    client.close()
  })

  it("uidlSpaces: runs of spaces between the fields of LIST and UIDL lines", async () => {
    const { client } = await session({ uidlSpaces: true })
    await client.send("UIDL\r\nLIST\r\nUIDL 1\r\n")
    await client.line()
    for (const line of await client.body()) expect(line).toMatch(/^\d+ {3}\d+\.[0-9a-f]+$/)
    await client.line()
    for (const line of await client.body()) expect(line).toMatch(/^\d+ {3}\d+$/)
    expect(await client.line()).toMatch(/^\+OK 1 {3}1\./)
    client.close()
  })

  it("duplicateUids: even-numbered messages repeat the previous UID", async () => {
    const { client } = await session({ duplicateUids: true })
    await client.send("UIDL\r\n")
    await client.line()
    const uids = (await client.body()).map((l) => l.split(" ")[1])
    expect(uids[1]).toBe(uids[0])
    expect(uids[3]).toBe(uids[2])
    expect(uids[2]).not.toBe(uids[0])
    client.close()
  })

  it("extraStatusText: text after the data of STAT and scan listings", async () => {
    const { client } = await session({ extraStatusText: "extra words" })
    await client.send("STAT\r\nLIST 1\r\nLIST\r\n")
    expect(await client.line()).toMatch(/^\+OK 4 \d+ extra words$/)
    expect(await client.line()).toMatch(/^\+OK 1 \d+ extra words$/)
    await client.line()
    for (const line of await client.body()) expect(line).toMatch(/^\d \d+ extra words$/)
    client.close()
  })
})

describe("status-line misbehaviours", () => {
  it("bareOk: informational +OK lines carry no text, data lines keep theirs", async () => {
    const { client } = memorySession(store(), { bareOk: true })
    expect(await client.line()).toBe("+OK") // so no APOP timestamp either
    await client.send("CAPA\r\nUSER alice\r\nPASS pw\r\nSTAT\r\nLIST 1\r\nRETR 2\r\nNOOP\r\nQUIT\r\n")
    expect(await client.line()).toBe("+OK")
    await client.body()
    expect(await client.line()).toBe("+OK")
    expect(await client.line()).toBe("+OK")
    expect(await client.line()).toMatch(/^\+OK 4 \d+$/)
    expect(await client.line()).toMatch(/^\+OK 1 \d+$/)
    expect(await client.line()).toBe("+OK")
    await client.body()
    expect(await client.line()).toBe("+OK")
    expect(await client.line()).toBe("+OK")
  })

  it("plusErr: failures come as +ERR", async () => {
    const { client } = memorySession(store(), { plusErr: true })
    await client.line()
    await client.send("STAT\r\n")
    expect(await client.line()).toBe("+ERR STAT is not allowed in the AUTHORIZATION state")
    client.close()
  })

  it("greeting: a custom line; APOP works only if it holds a timestamp", async () => {
    const plain = memorySession(store(), { greeting: "+OK hello" })
    expect(await plain.client.line()).toBe("+OK hello")
    await plain.client.send("APOP alice 0123456789abcdef0123456789abcdef\r\n")
    expect(await plain.client.line()).toBe("-ERR APOP is not available")
    plain.client.close()
    const withStamp = memorySession(store(), { greeting: "+OK ready <42.1@example.com>" })
    expect(await withStamp.client.line()).toBe("+OK ready <42.1@example.com>")
    await withStamp.client.send("APOP alice 0123456789abcdef0123456789abcdef\r\n")
    expect(await withStamp.client.line()).toBe("-ERR [AUTH] Authentication failed")
    withStamp.client.close()
  })

  it("greeting false: accepts the connection and never says anything", async () => {
    const { client, done } = memorySession(store(), { greeting: false })
    await client.send("CAPA\r\n")
    expect(await client.silentFor(100)).toBe("")
    client.close()
    await done
  })

  it("capa: custom lines, a function of the state, or -ERR", async () => {
    const custom = memorySession(store(), { capa: ["TOP", "X-CUSTOM"] })
    await custom.client.line()
    await custom.client.send("CAPA\r\n")
    await custom.client.line()
    expect(await custom.client.body()).toEqual(["TOP", "X-CUSTOM"])
    custom.client.close()

    // Gmail: TOP and PIPELINING only after login.
    const { client } = memorySession(store(), {
      capa: (state) => (state === "TRANSACTION" ? ["USER", "TOP", "PIPELINING"] : ["USER"])
    })
    await client.line()
    await client.send("CAPA\r\nUSER alice\r\nPASS pw\r\nCAPA\r\n")
    await client.line()
    expect(await client.body()).toEqual(["USER"])
    await client.line()
    await client.line()
    await client.line()
    expect(await client.body()).toEqual(["USER", "TOP", "PIPELINING"])
    client.close()

    const none = memorySession(store(), { capa: false })
    await none.client.line()
    await none.client.send("CAPA\r\n")
    expect(await none.client.line()).toMatch(/^-ERR/)
    none.client.close()
  })

  it("hugeStatusLine: '+OK ' and n octets of 'A' with no line end, then silence", async () => {
    const { client, done } = memorySession(store(), { hugeStatusLine: 300_000 })
    let got = ""
    while (got.length < 300_004) got += await client.silentFor(20)
    expect(got).toBe(`+OK ${"A".repeat(300_000)}`)
    expect(await client.silentFor(50)).toBe("")
    client.close()
    await done
  })

  it("hugeStatusLine: produces under backpressure, one 64 KiB piece ahead of the reader", async () => {
    // A sink that accepts the next piece only when the test says so.
    let produced = 0
    let accept: (() => void) | undefined
    const writable = new WritableStream<Uint8Array>({
      write(chunk) {
        produced += chunk.length
        return new Promise<void>((resolve) => (accept = resolve))
      }
    })
    const controller = new AbortController()
    const done = serveConnection(
      store(),
      { readable: new ReadableStream(), writable },
      { hugeStatusLine: 1_000_000_000 },
      { signal: controller.signal }
    )
    // "+OK " and the first piece went out as one write; nothing more until the sink takes it.
    await until(() => produced > 0)
    expect(produced).toBe(4 + 64 * 1024)
    for (let i = 2; i <= 50; i++) {
      accept?.()
      await until(() => produced > 4 + (i - 1) * 64 * 1024)
      expect(produced).toBe(4 + i * 64 * 1024)
    }
    controller.abort()
    await done
  })
})

describe("hangs and drops", () => {
  it("stallAfterCommands: answers n commands, then nothing, connection open", async () => {
    const { client, done } = memorySession(store(), { stallAfterCommands: 2 })
    await client.line()
    await client.send("USER alice\r\nPASS pw\r\nSTAT\r\nNOOP\r\n")
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    expect(await client.silentFor(100)).toBe("")
    await client.send("STAT\r\n") // still accepted, still unanswered
    expect(await client.silentFor(50)).toBe("")
    client.close()
    await done
  })

  it("stallAtCommand: answers every command before the first with that keyword, then nothing", async () => {
    const { client, done } = memorySession(store(), { stallAtCommand: "list" })
    await client.line()
    await client.send("USER alice\r\nPASS pw\r\nSTAT\r\nLIST\r\nNOOP\r\n")
    expect(await client.line()).toMatch(/^\+OK/)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    expect(await client.line()).toMatch(/^\+OK \d+ \d+$/)
    expect(await client.silentFor(100)).toBe("")
    client.close()
    await done
  })

  it("stallMidBody: +OK and half the body, then nothing", async () => {
    const { client, done } = await session({ stallMidBody: true })
    await client.send("RETR 4\r\n")
    await client.line()
    const got = await client.silentFor(200)
    const size = store().messages("alice")[3]!.data.length
    expect(got.length).toBe(Math.floor(size / 2))
    expect(got).not.toContain("\r\n.\r\n")
    client.close()
    await done
  })

  it("closeMidBody: +OK and half the body, then the connection closes", async () => {
    const { client, done } = await session({ closeMidBody: true })
    await client.send("TOP 4 1000\r\n")
    await client.line()
    const got = await client.rest()
    expect(got.length).toBeGreaterThan(1000)
    expect(got).not.toContain("\r\n.\r\n")
    await done
  })

  it("closeAfterAuthFailure: one wrong password and the connection is gone", async () => {
    const { client, done } = memorySession(store(), { closeAfterAuthFailure: true })
    await client.line()
    await client.send("USER alice\r\nPASS nope\r\n")
    await client.line()
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    expect(await client.rest()).toBe("")
    await done
  })

  it("idleTimeoutMs: closes silently after that long without a command", async () => {
    const { client, done } = await session({ idleTimeoutMs: 80 })
    await client.send("NOOP\r\n")
    expect(await client.line()).toBe("+OK")
    const started = Date.now()
    expect(await client.rest(1000)).toBe("")
    expect(Date.now() - started).toBeGreaterThanOrEqual(60)
    await done
  })
})

describe("login outcomes", () => {
  async function loginLine(behaviour: Behaviour): Promise<string> {
    const { client } = memorySession(store(), behaviour)
    await client.line()
    await client.send("USER alice\r\nPASS pw\r\n")
    await client.line()
    const line = await client.line()
    client.close()
    return line
  }

  it("inUse, loginDelay and loginFailure refuse good credentials with their codes", async () => {
    expect(await loginLine({ inUse: true })).toBe("-ERR [IN-USE] Mailbox is locked by another POP3 session")
    expect(await loginLine({ loginDelay: 900 })).toBe("-ERR [LOGIN-DELAY] Minimum time between logins is 900 seconds")
    expect(await loginLine({ loginFailure: "[AUTH] Application-specific password required" })).toBe(
      "-ERR [AUTH] Application-specific password required"
    )
    expect(await loginLine({ loginFailure: "[SYS/TEMP] Try again later" })).toBe("-ERR [SYS/TEMP] Try again later")
  })

  it("loginDelay is advertised in CAPA", async () => {
    const { client } = memorySession(store(), { loginDelay: 900 })
    await client.line()
    await client.send("CAPA\r\n")
    await client.line()
    expect(await client.body()).toContain("LOGIN-DELAY 900")
    client.close()
  })

  it("requireTlsForLogin: USER refused and not advertised before TLS", async () => {
    const up = pipe()
    const down = pipe()
    const tlsUp = pipe()
    const tlsDown = pipe()
    void serveConnection(
      store(),
      { readable: up.readable, writable: down.writable },
      { requireTlsForLogin: true },
      {
        startTls: async () => ({ readable: tlsUp.readable, writable: tlsDown.writable })
      }
    )
    const w = up.writable.getWriter()
    const client = new RawClient(
      down.readable,
      (b) => w.write(b),
      () => {}
    )
    await client.line()
    await client.send("CAPA\r\nUSER alice\r\nSTLS\r\n")
    await client.line()
    expect(await client.body()).not.toContain("USER")
    expect(await client.line()).toBe(
      "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections"
    )
    expect(await client.line()).toMatch(/^\+OK/)
    const tw = tlsUp.writable.getWriter()
    const secure = new RawClient(
      tlsDown.readable,
      (b) => tw.write(b),
      () => void tw.close()
    )
    await secure.send("CAPA\r\nUSER alice\r\nPASS pw\r\n")
    await secure.line()
    expect(await secure.body()).toContain("USER")
    expect(await secure.line()).toMatch(/^\+OK/)
    expect(await secure.line()).toMatch(/^\+OK Logged in/)
    secure.close()
  })

  it("commitOnDisconnect: DELE marks are applied even without QUIT", async () => {
    const s = store()
    const { client, done } = memorySession(s, { commitOnDisconnect: true })
    await client.line()
    await client.send("USER alice\r\nPASS pw\r\nDELE 1\r\n")
    for (let i = 0; i < 3; i++) await client.line()
    client.close()
    await done
    expect(s.messages("alice")).toHaveLength(3)
  })
})

describe("raw client helper", () => {
  it("decodes octets one to one", () => {
    expect(binary(new Uint8Array([0x41, 0xff, 0x0d]))).toBe("A\xff\r")
  })
})
