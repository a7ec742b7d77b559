// The client and the CLI through the bridge running as a Cloudflare Worker (bridge/worker.ts
// in miniflare) to a real Dovecot:
// client --WebSocket (core/transport/websocket.ts, Node's global WebSocket)--> Worker
// --connect(), TLS verified against the test CA--> Dovecot.
// The Worker's outbound network trusts Dovecot's self-signed CA (test/workers/miniflare.ts).
// Refusals without Dovecot are in test/bridge/worker.test.ts.
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type { Miniflare } from "miniflare"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { collect, connect } from "../../core/client/client.ts"
import { BridgeError, TlsError } from "../../core/errors.ts"
import type { ConnectOptions } from "../../core/client/options.ts"
import type { Transport } from "../../core/transport/transport.ts"
import * as WebSocketTransport from "../../core/transport/websocket.ts"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"
import { bundleWorker } from "../workers/bundle.ts"
import { startWorker } from "../workers/miniflare.ts"
import { cli, firstDifference, topOf, uid, UID_VALIDITY } from "./helpers.ts"

const available = requireService("Dovecot", dovecotAvailable())

const TOKEN = "worker-bridge-interop-token-0123"

describe.skipIf(!available)("the client and the CLI through the Workers bridge (miniflare) to Dovecot", () => {
  let server: Dovecot | undefined
  let worker: Miniflare | undefined
  let base = ""
  const d = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }

  beforeAll(async () => {
    const [script, dovecot] = await Promise.all([bundleWorker("bridge/worker.ts"), startDovecot()])
    server = dovecot
    worker = startWorker({
      script,
      trust: [dovecot.ca],
      bindings: {
        // Implicit TLS by IP and by name (the certificate has both), and plain POP3.
        ALLOW: `127.0.0.1:${dovecot.tlsPort} localhost:${dovecot.tlsPort} 127.0.0.1:${dovecot.port}`,
        TOKEN,
        LOG: "off"
      }
    })
    base = `${(await worker.ready).href.replace(/^http/, "ws")}pop3?token=${TOKEN}`
  })
  afterAll(async () => {
    await worker?.dispose()
    await server?.stop()
  })

  const run = <A, E>(effect: Effect.Effect<A, E, Transport | Scope.Scope>) =>
    Effect.runPromiseExit(effect.pipe(Effect.scoped, Effect.provide(WebSocketTransport.layerGlobal(base))))
  /** The bridge URL without its token (what the CLI takes; the token goes in POP3_BRIDGE_TOKEN). */
  const withoutToken = () => base.replace(/\?token=.*$/, "")

  const modes: ReadonlyArray<readonly [string, () => ConnectOptions, boolean]> = [
    ["implicit TLS to 127.0.0.1", () => ({ host: "127.0.0.1", port: d().tlsPort, tls: "implicit" }), true],
    ["implicit TLS to localhost (a name)", () => ({ host: "localhost", port: d().tlsPort, tls: "implicit" }), true],
    ["plain POP3", () => ({ host: "127.0.0.1", port: d().port, tls: "none" }), false]
  ]
  it.each(modes)(
    "%s: login, STAT, LIST, UIDL, TOP, RETR byte-exact (5 MB), DELE/RSET, QUIT",
    async (_, options, secure) => {
      const alice = d().messages("alice")
      const exit = await run(
        Effect.gen(function* () {
          const session = yield* connect({ ...options(), timeout: 30_000 })
          // Plain POP3 is a consented unencrypted login (every mechanism gives something away).
          const mailbox = yield* session.login({
            user: "alice",
            password: d().users.alice.password,
            allowPlaintext: !secure
          })
          const stat = yield* mailbox.stat
          const list = yield* mailbox.list
          const uidl = yield* mailbox.uidl
          const top = yield* collect(mailbox.top(2, 3))
          const retr: Array<Uint8Array> = []
          for (let n = 1; n <= stat.count; n++) retr.push(yield* collect(mailbox.retr(n)))
          yield* mailbox.dele(1)
          const afterDele = yield* mailbox.stat
          yield* mailbox.rset
          yield* mailbox.quit
          return { secure: session.secure, stat, list, uidl, top, retr, afterDele }
        })
      )
      if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
      const r = exit.value
      // Through a loopback bridge, implicit TLS to the server counts as encrypted end to end.
      expect(r.secure).toBe(secure)
      expect(r.stat).toEqual({ count: alice.length, size: alice.reduce((sum, m) => sum + m.length, 0) })
      expect(r.list).toEqual(alice.map((m, i) => ({ msg: i + 1, size: m.length })))
      expect(r.uidl).toEqual(alice.map((_m, i) => ({ msg: i + 1, uid: uid(i + 1, UID_VALIDITY.alice) })))
      expect(firstDifference(r.top, topOf(alice[1], 3))).toBeUndefined()
      expect(alice[4]!.length).toBeGreaterThan(5_000_000)
      r.retr.forEach((bytes, i) => expect(firstDifference(bytes, alice[i]), `RETR ${i + 1}`).toBeUndefined())
      expect(r.afterDele.count).toBe(alice.length - 1)
      // RSET before QUIT: a new session still sees every message.
      const again = await run(
        Effect.flatMap(connect(options()), (s) =>
          Effect.flatMap(
            s.login({ user: "alice", password: d().users.alice.password, allowPlaintext: !secure }),
            (m) => m.stat
          )
        )
      )
      expect(Exit.isSuccess(again) ? again.value : undefined).toEqual(r.stat)
    }
  )

  it("the CLI with --bridge prints exactly what Dovecot holds (uidl, retr 5)", async () => {
    // The token from the environment: in the URL the CLI refuses it (the process list).
    const bridged = [
      "--bridge",
      withoutToken(),
      "--host",
      "127.0.0.1",
      "--port",
      String(d().tlsPort),
      "--tls",
      "implicit",
      "--user",
      "alice"
    ]
    const uidl = await cli([...bridged, "uidl"], d().users.alice.password, { POP3_BRIDGE_TOKEN: TOKEN })
    expect(uidl.stderr).toEqual([])
    expect(uidl.code).toBe(0)
    expect(uidl.stdout.toString("utf8")).toBe(
      d()
        .messages("alice")
        .map((_m, i) => `${i + 1} ${uid(i + 1, UID_VALIDITY.alice)}\n`)
        .join("")
    )
    const retr = await cli([...bridged, "retr", "5"], d().users.alice.password, { POP3_BRIDGE_TOKEN: TOKEN })
    expect(retr.code).toBe(0)
    expect(firstDifference(retr.stdout, d().messages("alice")[4])).toBeUndefined()
  })

  it("a target off ALLOW: BridgeError 4001 from the client, exit 3 from the CLI", async () => {
    const exit = await run(connect({ host: "localhost", port: d().port, tls: "none", timeout: 10_000 }))
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
    expect(error).toBeInstanceOf(BridgeError)
    expect(error).toMatchObject({ code: 4001, reason: `localhost:${d().port} is not allowed by this bridge` })
    const r = await cli(
      ["--bridge", withoutToken(), "--host", "localhost", "--port", String(d().port), "--tls", "none", "capa"],
      undefined,
      { POP3_BRIDGE_TOKEN: TOKEN }
    )
    expect(r.code).toBe(3)
    expect(r.stderr).toEqual([
      `pop3: the bridge closed the connection (4001: localhost:${d().port} is not allowed by this bridge)`
    ])
  })

  it("STLS through a bridge is refused by the client before connecting (TlsError)", async () => {
    const exit = await run(connect({ host: "127.0.0.1", port: d().port, tls: "starttls" }))
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
    expect(error).toBeInstanceOf(TlsError)
  })

  it("without the token: the upgrade is refused (the client cannot connect)", async () => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(connect({ host: "127.0.0.1", port: d().tlsPort, tls: "implicit", timeout: 10_000 })).pipe(
        Effect.provide(WebSocketTransport.layerGlobal(withoutToken()))
      )
    )
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
    expect(error?._tag).toBe("ConnectError")
  })
})
