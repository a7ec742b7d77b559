// The in-memory transport: the client and the dev server in one process over a pair of
// web TransformStreams. A round trip with the sample mailbox, byte for byte.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/client/client.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import { Transport } from "../../../core/transport/transport.ts"
import { DEMO_PASSWORD, DEMO_USER, makeSampleStore } from "../../../dev-server/sample-mailbox.ts"
import type { MailStore } from "../../../dev-server/server.ts"
import { serveConnection } from "../../../dev-server/server.ts"

const NOW = new Date("2026-01-15T12:00:00Z")

const serve = (store: MailStore) => {
  const sessions: Array<Promise<void>> = []
  const layer = MemoryTransport.layer((end) => void sessions.push(serveConnection(store, end)))
  return { layer, sessions }
}

const run = <A, E>(layer: Layer.Layer<Transport>, program: Effect.Effect<A, E, Transport | Scope.Scope>): Promise<A> =>
  Effect.runPromiseExit(program.pipe(Effect.scoped, Effect.provide(layer))).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw new Error(Cause.pretty(exit.cause))
  })

const login = (tls: "none" | "implicit") =>
  Effect.gen(function* () {
    const auth = yield* connect({ host: "memory.test", tls, timeout: 2000 })
    const mailbox = yield* auth.login({
      user: DEMO_USER,
      password: DEMO_PASSWORD,
      mechanism: "user",
      allowPlaintext: tls === "none"
    })
    return { auth, mailbox }
  })

describe("memory transport", () => {
  it("is a transport named memory without STLS", async () => {
    const { layer } = serve(makeSampleStore(NOW))
    const transport = await Effect.runPromise(
      Effect.provide(
        Effect.gen(function* () {
          return yield* Transport
        }),
        layer
      )
    )
    expect(transport.name).toBe("memory")
    expect(transport.startTls).toBe(false)
  })

  it("round-trips the sample mailbox with the dev server: STAT, LIST, UIDL and every RETR byte for byte", async () => {
    const store = makeSampleStore(NOW)
    const { layer, sessions } = serve(store)
    const stored = store.messages(DEMO_USER)
    expect(stored.length).toBeGreaterThanOrEqual(10)

    const result = await run(
      layer,
      Effect.gen(function* () {
        const { auth, mailbox } = yield* login("none")
        const stat = yield* mailbox.stat
        const list = yield* mailbox.list
        const uidl = yield* mailbox.uidl
        const bodies: Array<Uint8Array> = []
        for (let msg = 1; msg <= stat.count; msg++) bodies.push(yield* collect(mailbox.retr(msg)))
        yield* mailbox.quit
        return { secure: auth.secure, stat, list, uidl, bodies }
      })
    )

    expect(result.secure).toBe(false)
    expect(result.stat).toEqual({ count: stored.length, size: stored.reduce((n, m) => n + m.data.length, 0) })
    expect(result.list).toEqual(stored.map((m, i) => ({ msg: i + 1, size: m.data.length })))
    expect(result.uidl).toEqual(stored.map((m, i) => ({ msg: i + 1, uid: m.uid })))
    result.bodies.forEach((body, i) => expect(body, `message ${i + 1}`).toEqual(stored[i]!.data))
    // One connection, served to the end (QUIT), and the mailbox lock released.
    expect(sessions).toHaveLength(1)
    await Promise.all(sessions)
    expect(store.isLocked(DEMO_USER)).toBe(false)
  })

  it("commits DELE on QUIT, and each connect gets its own server session", async () => {
    const store = makeSampleStore(NOW)
    const { layer, sessions } = serve(store)
    const before = store.messages(DEMO_USER)
    await run(
      layer,
      Effect.gen(function* () {
        const { mailbox } = yield* login("none")
        yield* mailbox.dele(1)
        yield* mailbox.quit
      })
    )
    const count = await run(
      layer,
      Effect.gen(function* () {
        const { mailbox } = yield* login("none")
        return (yield* mailbox.stat).count
      })
    )
    expect(count).toBe(before.length - 1)
    expect(store.messages(DEMO_USER).map((m) => m.uid)).toEqual(before.slice(1).map((m) => m.uid))
    expect(sessions).toHaveLength(2)
  })

  it("counts tls: implicit as encrypted (nothing leaves the process), so USER needs no allowPlaintext", async () => {
    const { layer } = serve(makeSampleStore(NOW))
    const secure = await run(
      layer,
      Effect.map(login("implicit"), ({ auth }) => auth.secure)
    )
    expect(secure).toBe(true)
  })

  it("refuses USER without TLS unless plaintext is allowed (the transport reports no encryption)", async () => {
    const { layer } = serve(makeSampleStore(NOW))
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const auth = yield* connect({ host: "memory.test", tls: "none", timeout: 2000 })
        return yield* auth.login({ user: DEMO_USER, password: DEMO_PASSWORD, mechanism: "user" })
      }).pipe(Effect.scoped, Effect.provide(layer))
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(exit.cause.reasons.find(Cause.isFailReason)?.error._tag).toBe("AuthError")
  })
})
