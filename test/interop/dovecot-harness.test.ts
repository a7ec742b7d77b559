// Proves the Dovecot harness itself with raw sockets, so that interop failures elsewhere
// can be blamed on the client and not on the server set-up.
import { execFileSync } from "node:child_process"
import { once } from "node:events"
import { createConnection } from "node:net"
import type { Socket } from "node:net"
import { connect as tlsConnect } from "node:tls"
import type { TLSSocket } from "node:tls"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { firstDifference } from "./helpers.ts"

const available = requireService("Dovecot", dovecotAvailable())

describe.skipIf(!available)("Dovecot test server", () => {
  let server: Dovecot | undefined
  const dovecot = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }
  beforeAll(async () => {
    server = await startDovecot()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("greets with +OK and an APOP timestamp", async () => {
    const { conn, greeting } = await connect(dovecot())
    expect(greeting).toMatch(/^\+OK .*<[^<>@\s]+@[^<>\s]+>/)
    await conn.quit()
  })

  it("lists STLS, UIDL, TOP and the SASL mechanisms in CAPA", async () => {
    const { conn } = await connect(dovecot())
    const capa = await capabilities(conn)
    expect(capa).toEqual(expect.arrayContaining(["STLS", "UIDL", "TOP"]))
    const sasl = capa
      .find((line) => line.startsWith("SASL "))
      ?.split(" ")
      .slice(1)
    expect(sasl).toEqual(expect.arrayContaining(["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]))
    await conn.quit()
  })

  it("upgrades with STLS, verifying the cert against ca for servername localhost", async () => {
    const d = dovecot()
    const { conn } = await connect(d)
    expect(await conn.command("STLS")).toMatch(/^\+OK/)
    const socket = tlsConnect({ socket: conn.detach(), servername: "localhost", ca: d.ca })
    await once(socket, "secureConnect")
    expect(socket.authorized).toBe(true)
    const secure = attach(socket)
    expect(await capabilities(secure)).not.toContain("STLS")
    await login(secure, d, "alice")
    expect(await secure.command("STAT")).toMatch(/^\+OK 5 /)
    await secure.quit()
  })

  it("speaks implicit TLS on tlsPort, with a cert valid for 127.0.0.1 as well", async () => {
    const d = dovecot()
    // No servername: Node then checks the IP address against the cert's IP SAN.
    const socket = tlsConnect({ host: d.host, port: d.tlsPort, ca: d.ca })
    await once(socket, "secureConnect")
    expect(socket.authorized).toBe(true)
    const conn = attach(socket)
    expect(await conn.line()).toMatch(/^\+OK /)
    expect(await capabilities(conn)).not.toContain("STLS")
    await login(conn, d, "alice")
    await conn.quit()
  })

  it("sends alice's RETR 2 dot-stuffed, equal to messages('alice')[1] after unstuffing", async () => {
    const d = dovecot()
    const { conn } = await connect(d)
    await login(conn, d, "alice")
    const { status, body } = await conn.multiline("RETR 2")
    expect(status).toMatch(/^\+OK/)
    const wire = Buffer.from(body).toString("latin1")
    // The fixture has ".", ".leading", "..two" and "..." lines; on the wire each gains a dot.
    expect(wire).toContain("\r\n..\r\n")
    expect(wire).toContain("\r\n..leading dot line\r\n")
    expect(wire).toContain("\r\n...two leading dots\r\n")
    expect(firstDifference(unstuff(body), d.messages("alice")[1])).toBeUndefined()
    await conn.quit()
  })

  it("numbers every user's messages as messages() lists them, byte for byte, with fixed UIDLs", async () => {
    const d = dovecot()
    const uidValidity = { alice: 1700000000, bob: 1700000001, empty: 1700000002, bulk: 1700000003 }
    for (const user of ["alice", "bob", "empty", "bulk"] as const) {
      const expected = d.messages(user)
      const { conn } = await connect(d)
      await login(conn, d, user)
      const total = expected.reduce((sum, m) => sum + m.length, 0)
      expect(await conn.command("STAT")).toBe(`+OK ${expected.length} ${total}`)
      const uidl = await conn.multiline("UIDL")
      const hex = (n: number): string => n.toString(16).padStart(8, "0")
      expect(Buffer.from(uidl.body).toString("latin1")).toBe(
        expected.map((_, i) => `${i + 1} ${hex(i + 1)}${hex(uidValidity[user])}\r\n`).join("")
      )
      for (const [i, message] of expected.entries()) {
        const { body } = await conn.multiline(`RETR ${i + 1}`)
        expect(firstDifference(unstuff(body), message), `${user} message ${i + 1}`).toBeUndefined()
      }
      await conn.quit()
    }
    expect(d.messages("alice")).toHaveLength(5)
    expect(d.messages("alice")[4]?.length).toBeGreaterThan(5_000_000)
    expect(d.messages("bob")).toHaveLength(3)
    expect(d.messages("bulk")).toHaveLength(20)
  })

  it("is configured to answer failed logins at once and add no penalty to the next login", async () => {
    const d = dovecot()
    // What Dovecot itself runs with (doveconf reads the same file): no failure delay; the
    // "nodelay" passdb, without which Dovecot 2.3 holds each failure for its 500 ms flush
    // timer; no anvil auth-penalty socket (2..15 s extra after a failure).
    const effective = execFileSync("doveconf", ["-c", d.config, "-n"], { encoding: "utf8" })
    expect(effective).toMatch(/^auth_failure_delay = 0$/m)
    expect(effective).toMatch(/passdb \{\n\s+args = noauthenticate nodelay\n\s+driver = static\n/)
    expect(effective).toMatch(/unix_listener anvil-auth-penalty \{\n\s+mode = 00?\n/)
    // And failures leave the connection usable: a login after three of them succeeds.
    const { conn } = await connect(d)
    for (const [user, password] of [
      ["alice", "wrong"],
      ["alice", "wrong again"],
      ["nobody", "x"]
    ]) {
      expect(await conn.command(`USER ${user}`)).toMatch(/^\+OK/)
      expect(await conn.command(`PASS ${password}`)).toMatch(/^-ERR \[AUTH\]/)
    }
    await login(conn, d, "alice")
    await conn.quit()
  })

  it("reset() restores a message removed by DELE and QUIT", async () => {
    const d = dovecot()
    const first = await connect(d)
    await login(first.conn, d, "bob")
    expect(await first.conn.command("DELE 1")).toMatch(/^\+OK/)
    await first.conn.quit()

    const second = await connect(d)
    await login(second.conn, d, "bob")
    expect(await second.conn.command("STAT")).toMatch(/^\+OK 2 /)
    await second.conn.quit()

    await d.reset()
    const third = await connect(d)
    await login(third.conn, d, "bob")
    expect(await third.conn.command("STAT")).toMatch(/^\+OK 3 /)
    expect(await third.conn.command("UIDL 1")).toBe("+OK 1 000000016553f101")
    const { body } = await third.conn.multiline("RETR 1")
    expect(firstDifference(unstuff(body), d.messages("bob")[0])).toBeUndefined()
    await third.conn.quit()
  })
})

describe.skipIf(!available)("Dovecot harness life cycle", () => {
  it("honours bulkMessages, and stop() may be called twice and frees both ports", async () => {
    const d = await startDovecot({ bulkMessages: 3 })
    expect(d.messages("bulk")).toHaveLength(3)
    const { conn } = await connect(d)
    await login(conn, d, "bulk")
    expect(await conn.command("STAT")).toMatch(/^\+OK 3 /)
    await conn.quit()
    await Promise.all([d.stop(), d.stop()])
    await d.stop()
    for (const port of [d.port, d.tlsPort]) {
      const socket = createConnection({ host: d.host, port })
      const [error] = (await once(socket, "error")) as [NodeJS.ErrnoException]
      expect(error.code).toBe("ECONNREFUSED")
    }
  })
})

// ---------------------------------------------------------------------------------------
// A minimal raw POP3 conversation over a node:net or node:tls socket.

interface Conn {
  /** One response line, without its CRLF. */
  line(): Promise<string>
  command(text: string): Promise<string>
  /** Sends a command and reads its status line and, after +OK, the raw (still stuffed) body up to the terminator. */
  multiline(text: string): Promise<{ status: string; body: Uint8Array }>
  quit(): Promise<void>
  /** Hands the socket over (for STLS); fails if the server sent bytes that were not read. */
  detach(): Socket
}

async function connect(d: Dovecot): Promise<{ conn: Conn; greeting: string }> {
  const socket = createConnection({ host: d.host, port: d.port })
  await once(socket, "connect")
  const conn = attach(socket)
  return { conn, greeting: await conn.line() }
}

function attach(socket: Socket | TLSSocket): Conn {
  let buffer: Buffer = Buffer.alloc(0)
  let closed: Error | undefined
  let wake: (() => void) | undefined
  const onData = (chunk: Buffer): void => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    wake?.()
  }
  const onEnd = (): void => {
    closed = new Error("connection closed by the server")
    wake?.()
  }
  const onError = (error: Error): void => {
    closed = error
    wake?.()
  }
  socket.on("data", onData).on("end", onEnd).on("error", onError)

  // `end` finds where the wanted bytes stop in the buffer, or -1 to wait for more.
  const take = async (end: (b: Buffer) => number): Promise<Buffer> => {
    for (;;) {
      const n = end(buffer)
      if (n >= 0) {
        const out = buffer.subarray(0, n)
        buffer = buffer.subarray(n)
        return out
      }
      if (closed !== undefined) throw closed
      await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
    }
  }
  const line = async (): Promise<string> => {
    const bytes = await take((b) => {
      const i = b.indexOf("\r\n")
      return i < 0 ? -1 : i + 2
    })
    return bytes.subarray(0, -2).toString("utf8")
  }
  const command = (text: string): Promise<string> => {
    socket.write(`${text}\r\n`)
    return line()
  }
  return {
    line,
    command,
    multiline: async (text) => {
      const status = await command(text)
      if (!status.startsWith("+OK")) return { status, body: new Uint8Array() }
      const raw = await take((b) => {
        if (b.subarray(0, 3).toString("latin1") === ".\r\n") return 3
        const i = b.indexOf("\r\n.\r\n")
        return i < 0 ? -1 : i + 5
      })
      return { status, body: raw.subarray(0, -3) }
    },
    quit: async () => {
      expect(await command("QUIT")).toMatch(/^\+OK/)
      socket.end()
    },
    detach: () => {
      if (buffer.length > 0)
        throw new Error(`unread bytes before the handover: ${JSON.stringify(buffer.toString("latin1"))}`)
      socket.off("data", onData).off("end", onEnd).off("error", onError)
      return socket
    }
  }
}

async function capabilities(conn: Conn): Promise<Array<string>> {
  const { status, body } = await conn.multiline("CAPA")
  expect(status).toMatch(/^\+OK/)
  return Buffer.from(body)
    .toString("latin1")
    .split("\r\n")
    .filter((l) => l !== "")
}

async function login(conn: Conn, d: Dovecot, user: keyof Dovecot["users"]): Promise<void> {
  expect(await conn.command(`USER ${d.users[user].user}`)).toMatch(/^\+OK/)
  expect(await conn.command(`PASS ${d.users[user].password}`)).toMatch(/^\+OK/)
}

/** RFC 1939 section 3: drop the first octet of every body line that starts with ".". */
function unstuff(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length)
  let n = 0
  let lineStart = true
  for (const byte of body) {
    if (!(lineStart && byte === 0x2e)) out[n++] = byte
    lineStart = byte === 0x0a
  }
  return out.subarray(0, n)
}
