// The POP3 client with the Cloudflare Workers transport (core/transport/cloudflare.ts),
// running INSIDE workerd (miniflare) against a real Dovecot: the scenario worker
// (test/workers/scenario-worker.ts) is bundled, loaded, and asked over fetch() to run a
// whole session per TLS mode; these tests compare its answers with the seeded mail.
//
// The Dovecot certificate is self-signed; the Worker's outbound network service trusts it
// (see test/workers/miniflare.ts), so implicit TLS and STLS are verified for real, names
// included. A second Worker without that trust shows what an untrusted certificate does.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TLSSocket } from "node:tls"
import type { Miniflare } from "miniflare"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { bundleWorker } from "../workers/bundle.ts"
import { startWorker } from "../workers/miniflare.ts"
import type { Scenario, ScenarioAnswer, ScenarioResult } from "../workers/scenario-worker.ts"
import { firstDifference, stallingStlsServer, topOf, uid, UID_VALIDITY } from "./helpers.ts"
import { silentServer } from "../support/tcp-peers.ts"

const available = requireService("Dovecot", dovecotAvailable())

type Mode = Scenario["tls"]

/** A self-signed certificate (with its key) for a fake STLS server. */
const makeCertificate = (name: string): { cert: string; key: string } => {
  const dir = mkdtempSync(join(tmpdir(), "workers-cert-"))
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${name}`
      ].concat([
        "-addext",
        `subjectAltName=DNS:${name}`,
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem")
      ]),
      { stdio: "ignore" }
    )
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A POP3 server that answers STLS with "+OK" and then sends a plaintext line an attacker
 * on the path could have injected, before starting TLS: in the same segment as the "+OK"
 * (`same-segment`), or 100 ms later (`later`). Over TLS it answers CAPA with a marker line.
 */
const startInjectingServer = async (cert: string, key: string, inject: "same-segment" | "later") => {
  const server: Server = createServer((socket: Socket) => {
    socket.on("error", () => {})
    socket.write("+OK fake ready\r\n")
    let buffered = ""
    const onData = (data: Buffer): void => {
      buffered += data.toString("latin1")
      for (let end = buffered.indexOf("\r\n"); end >= 0; end = buffered.indexOf("\r\n")) {
        const line = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        if (line === "CAPA") socket.write("+OK\r\nSTLS\r\nUSER\r\n.\r\n")
        else if (line === "STLS") return startTls()
        else socket.write("-ERR not here\r\n")
      }
    }
    const startTls = (): void => {
      socket.off("data", onData)
      const secure = () => {
        const tls = new TLSSocket(socket, { isServer: true, cert, key })
        tls.on("error", () => {})
        tls.on("data", (data: Buffer) => {
          const line = data.toString("latin1")
          if (line.startsWith("CAPA")) tls.write("+OK\r\nUSER\r\nIMPLEMENTATION after-tls\r\n.\r\n")
          else if (line.startsWith("QUIT")) tls.end("+OK bye\r\n")
        })
      }
      if (inject === "same-segment") {
        socket.write("+OK begin TLS\r\n-ERR injected\r\n")
        secure()
      } else {
        socket.write("+OK begin TLS\r\n")
        setTimeout(() => {
          socket.write("-ERR injected\r\n")
          secure()
        }, 100)
      }
    }
    socket.on("data", onData)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no port")
  return { port: address.port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

describe.skipIf(!available)("the Cloudflare transport inside workerd (miniflare) against Dovecot", () => {
  let server: Dovecot | undefined
  let trusting: Miniflare | undefined
  let untrusting: Miniflare | undefined
  const fake = makeCertificate("localhost")
  const d = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }

  beforeAll(async () => {
    const [script, dovecot] = await Promise.all([bundleWorker("test/workers/scenario-worker.ts"), startDovecot()])
    server = dovecot
    trusting = startWorker({ script, trust: [dovecot.ca, fake.cert] })
    untrusting = startWorker({ script })
    await Promise.all([trusting.ready, untrusting.ready])
  })
  afterAll(async () => {
    await Promise.all([trusting?.dispose(), untrusting?.dispose()])
    await server?.stop()
  })

  const ask = async (
    worker: Miniflare | undefined,
    scenario: Partial<Scenario> & Pick<Scenario, "tls" | "port">
  ): Promise<ScenarioAnswer> => {
    if (worker === undefined) throw new Error("the worker did not start")
    const body: Scenario = { host: "localhost", user: "alice", password: d().users.alice.password, ...scenario }
    const response = await worker.dispatchFetch("http://worker/", { method: "POST", body: JSON.stringify(body) })
    expect(response.status).toBe(200)
    return (await response.json()) as ScenarioAnswer
  }
  const full = async (scenario: Pick<Scenario, "tls" | "port">): Promise<ScenarioResult> => {
    const answer = await ask(trusting, scenario)
    if (!answer.ok) throw new Error(`${answer.error.tag}: ${answer.error.message}`)
    if (!("stat" in answer.result)) throw new Error("expected a full session")
    return answer.result
  }
  const failure = async (
    worker: Miniflare | undefined,
    scenario: Partial<Scenario> & Pick<Scenario, "tls" | "port">
  ) => {
    const answer = await ask(worker, { connectOnly: true, ...scenario })
    if (answer.ok) throw new Error(`expected a failure, got ${JSON.stringify(answer.result)}`)
    return answer
  }
  const bytes = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, "base64"))

  const modes: ReadonlyArray<readonly [Mode, () => number, boolean]> = [
    ["implicit", () => d().tlsPort, true],
    ["starttls", () => d().port, true],
    ["none", () => d().port, false]
  ]
  describe.each(modes)("tls: %s", (tls, port, secure) => {
    it("logs in; STAT, LIST, UIDL, TOP, RETR (byte-exact up to 5 MB), DELE/RSET and QUIT behave as with Dovecot directly", async () => {
      const result = await full({ tls, port: port() })
      const alice = d().messages("alice")
      expect(result.secure).toBe(secure)
      expect(result.greeting).toMatch(/^Dovecot test ready\. </)
      // STLS is offered only on the plain connection; after STLS, CAPA was read again.
      expect(result.capabilities.includes("STLS")).toBe(tls === "none")
      expect(result.capabilities).toEqual(expect.arrayContaining(["TOP", "UIDL", "USER"]))

      expect(result.stat).toEqual({ count: alice.length, size: alice.reduce((sum, m) => sum + m.length, 0) })
      expect(result.list).toEqual(alice.map((m, i) => ({ msg: i + 1, size: m.length })))
      expect(result.uidl).toEqual(alice.map((_, i) => ({ msg: i + 1, uid: uid(i + 1, UID_VALIDITY.alice) })))
      expect(firstDifference(bytes(result.top), topOf(alice[1], 3))).toBeUndefined()
      expect(result.retr).toHaveLength(alice.length)
      expect(alice[4]!.length).toBeGreaterThan(5_000_000)
      result.retr.forEach((b64, i) => expect(firstDifference(bytes(b64), alice[i]), `RETR ${i + 1}`).toBeUndefined())

      expect(result.afterDele).toEqual({ count: alice.length - 1, size: result.stat.size - alice[0]!.length })
      expect(result.afterRset).toEqual(result.stat)
      expect(result.afterQuit).toEqual(result.stat) // RSET before QUIT: nothing was deleted

      const trace = result.trace
      if (tls === "starttls") {
        // STLS (no CAPA before it), then startTls(), then CAPA, and only then the login.
        expect(trace.slice(0, 3)).toEqual(["STLS", "TlsEstablished", "CAPA"])
      } else {
        expect(trace).not.toContain("STLS")
        expect(trace).not.toContain("TlsEstablished")
      }
      // Never a mechanism that reveals the password without TLS.
      const attempt = trace.find((line) => /^(USER|APOP|AUTH) /.test(line))
      if (!secure) expect(attempt).toMatch(/^(APOP|AUTH (SCRAM|CRAM))/)
      expect(trace.at(-1)).toBe("QUIT")
    })
  })

  describe("what Workers cannot honour fails with InvalidArgument, never silently", () => {
    it("ca, insecure, or a servername other than host: before connecting (implicit), before startTls (STLS)", async () => {
      // Dovecot logs one pop3-login line per connection; the refused ones must add none.
      const logFile = join(d().users.alice.maildir, "..", "..", "..", "dovecot.log")
      const logins = () =>
        readFileSync(logFile, "utf8")
          .split("\n")
          .filter((l) => l.includes(" pop3-login: ")).length
      const before = logins()
      const implicit = { tls: "implicit", port: d().tlsPort } as const
      for (const [extra, text] of [
        [{ ca: d().ca }, /extra CA certificates \(ca\) cannot be used on Cloudflare Workers/],
        [{ insecure: true }, /insecure .* is not possible on Cloudflare Workers/],
        [{ host: "127.0.0.1", servername: "localhost" }, /servername localhost differs from host 127\.0\.0\.1/]
      ] as const) {
        const answer = await failure(trusting, { ...implicit, ...extra })
        expect(answer.error.tag).toBe("InvalidArgument")
        expect(answer.error.message).toMatch(text)
        expect(answer.trace).toEqual([]) // not one command
      }
      // A control that does reach Dovecot, so a line from the refused attempts would show by now.
      const control = await ask(trusting, { ...implicit, connectOnly: true })
      expect(control.ok).toBe(true)
      await expect.poll(logins).toBe(before + 1)
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(logins()).toBe(before + 1)

      const stls = await failure(trusting, { tls: "starttls", port: d().port, ca: d().ca })
      expect(stls.error.tag).toBe("InvalidArgument")
      expect(stls.trace).toEqual(["STLS"]) // refused before startTls(): no TLS, no login
    })
  })

  describe("a certificate workerd does not trust", () => {
    it("implicit TLS: ConnectError that says a TLS failure looks the same on Workers", async () => {
      const answer = await failure(untrusting, { tls: "implicit", port: d().tlsPort })
      expect(answer.error.tag).toBe("ConnectError")
      expect(answer.error.message).toMatch(/proxy request failed.*failed TLS handshake/)
    })
    it("STLS: TlsError from the first exchange after startTls(), before any login", async () => {
      const answer = await failure(untrusting, { tls: "starttls", port: d().port })
      expect(answer.error.tag).toBe("TlsError")
      expect(answer.trace).toEqual(["STLS", "TlsEstablished", "CAPA"])
    })
    it("plain POP3 needs no certificate", async () => {
      const answer = await ask(untrusting, { tls: "none", port: d().port, connectOnly: true })
      expect(answer).toMatchObject({ ok: true, result: { secure: false } })
    })
  })

  // workerd's close() of a socket whose TLS handshake is never answered never settles:
  // waited for, it held the TimeoutError — and the Worker's answer — forever.
  describe("a server that never answers the TLS handshake: TimeoutError within the limit", () => {
    it("implicit TLS to a server that accepts and says nothing", async () => {
      const cleanups: Array<() => Promise<void>> = []
      try {
        const silent = await silentServer(cleanups)
        const answer = await failure(trusting, { tls: "implicit", port: silent.port, timeout: 1000 })
        expect(answer.error).toEqual({
          tag: "TimeoutError",
          message: expect.stringMatching(/^timed out after 1000 ms/)
        })
      } finally {
        for (const cleanup of cleanups) await cleanup()
      }
    })
    it("STLS answered +OK, then silence", async () => {
      const stalling = await stallingStlsServer()
      try {
        const answer = await failure(trusting, { tls: "starttls", port: stalling.port, timeout: 1000 })
        expect(answer.error).toEqual({
          tag: "TimeoutError",
          message: expect.stringMatching(/^timed out after 1000 ms/)
        })
        expect(answer.trace).toEqual(["STLS", "TlsEstablished", "CAPA"])
      } finally {
        await stalling.close()
      }
    })
  })

  describe("plaintext that follows the STLS answer never counts as the TLS session's", () => {
    it("in the same segment as +OK: dropped; the CAPA answer is the one that came over TLS", async () => {
      const injecting = await startInjectingServer(fake.cert, fake.key, "same-segment")
      try {
        const answer = await ask(trusting, { tls: "starttls", port: injecting.port, connectOnly: true })
        expect(answer).toMatchObject({ ok: true, result: { secure: true } })
        if (answer.ok) expect(answer.result.capabilities).toEqual(["USER", "IMPLEMENTATION after-tls"])
      } finally {
        await injecting.close()
      }
    })
    it("arriving after startTls(): it reaches the TLS layer, which fails the handshake (TlsError)", async () => {
      const injecting = await startInjectingServer(fake.cert, fake.key, "later")
      try {
        const answer = await failure(trusting, { tls: "starttls", port: injecting.port })
        expect(answer.error.tag).toBe("TlsError")
      } finally {
        await injecting.close()
      }
    })
  })
})
