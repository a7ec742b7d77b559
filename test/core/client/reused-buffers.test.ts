// A transport may reuse its read buffers (the Node transport does, core/transport/read-pool.ts):
// the bytes of a pull are valid only until the next pull. This transport makes that as
// hostile as it gets — every pull hands over a piece of ONE buffer, cut at random points,
// and overwrites what it handed over before the next pull — and checks that everything
// the client keeps past a read (messages collected by retrMany, the retr Stream, listing
// lines, status lines split across reads, the sync engine's collected and spilled
// messages) still has the server's bytes.

import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as Socket from "effect/socket/Socket"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/client/client.ts"
import { syncMailbox, type SyncStore } from "../../../core/sync/index.ts"
import { Transport } from "../../../core/transport/transport.ts"
import { makeMailStore } from "../../../dev-server/server.ts"
import { MESSAGES, memoryServer, PASSWORD, run, stored, success, USER } from "./harness.ts"

const POISON = 0x2e // "." — overwritten bytes look like terminators and stuffing, the worst case

const encoder = new TextEncoder()

/** Wraps a socket so that every pull returns at most `cut()` bytes, all in one reused buffer. */
const reusing =
  (cut: () => number) =>
  (socket: Socket.Socket): Socket.Socket => ({
    ...socket,
    reader: Effect.map(socket.reader, (reader) => {
      let buffer = new Uint8Array(1024)
      let handedOver: Uint8Array | undefined
      let pending = new Uint8Array(0) // the transport's own copy of what is not handed over yet
      const take = (): readonly [Uint8Array] => {
        const n = Math.max(1, Math.min(cut(), pending.length))
        if (n > buffer.length) {
          buffer.fill(POISON)
          buffer = new Uint8Array(n * 2)
        }
        buffer.set(pending.subarray(0, n))
        pending = pending.slice(n)
        handedOver = buffer.subarray(0, n)
        return [handedOver]
      }
      return {
        ...reader,
        pull: Effect.suspend(() => {
          handedOver?.fill(POISON)
          handedOver = undefined
          if (pending.length > 0) return Effect.succeed(take())
          return Effect.map(reader.pull, (chunks) => {
            const parts = chunks.map((c) => (typeof c === "string" ? encoder.encode(c) : c))
            const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
            let o = 0
            for (const p of parts) {
              all.set(p, o)
              o += p.length
            }
            pending = all
            return take()
          })
        })
      }
    })
  })

const reusingLayer = (inner: Layer.Layer<Transport>, cut: () => number): Layer.Layer<Transport> =>
  Layer.effect(Transport)(
    Effect.gen(function* () {
      const transport = yield* Transport
      return Transport.of({
        ...transport,
        open: (target) => Effect.map(transport.open(target), reusing(cut))
      })
    })
  ).pipe(Layer.provide(inner))

/** Cuts cycling through `sizes`. */
const cycling = (sizes: ReadonlyArray<number>) => {
  let i = 0
  return () => sizes[i++ % sizes.length]!
}

const login = Effect.gen(function* () {
  const session = yield* connect({ host: "memory.test", tls: "none", timeout: 10_000 })
  return yield* session.login({ user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true })
})

// The harness's messages but the 330 KB one (a pull of a few bytes at a time would take
// minutes over it), and one of many short lines, some dot-stuffed, over several pulls.
const manyLines = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? `..line ${i}\r\n` : `line ${i}\r\n`)).join("")
const bodies = [
  MESSAGES.plain,
  MESSAGES.dots,
  MESSAGES.eightBit,
  `Subject: lines\r\n\r\n${manyLines}`,
  MESSAGES.earlyDot
]
const makeServer = () => memoryServer({ store: makeMailStore({ [USER]: { password: PASSWORD, messages: bodies } }) })

const equal = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(Buffer.from(b))

// Cut sizes: single bytes split every status and listing line across pulls; a few hundred
// bytes put many body pieces into one collected message.
const cuts = fc.array(fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 8, max: 2000 })), {
  minLength: 1,
  maxLength: 8
})

describe("a transport that reuses its read buffers", () => {
  it("property: retrMany, the retr Stream and the listings keep the server's bytes", async () => {
    await fc.assert(
      fc.asyncProperty(cuts, async (sizes) => {
        const server = makeServer()
        const result = success(
          await run(
            reusingLayer(server.layer, cycling(sizes)),
            Effect.gen(function* () {
              const mailbox = yield* login
              const listings = yield* mailbox.listings
              const msgs = bodies.map((_, i) => i + 1)
              const many = yield* Stream.runCollect(mailbox.retrMany(msgs))
              const streamed: Array<Uint8Array> = []
              for (const msg of msgs) streamed.push(yield* collect(mailbox.retr(msg)))
              yield* mailbox.quit
              return { listings, many, streamed }
            })
          )
        )
        const messages = server.store.messages(USER)
        expect(result.listings.uidl).toMatchObject({ success: messages.map((m, i) => ({ msg: i + 1, uid: m.uid })) })
        expect(result.listings.list).toMatchObject({
          success: messages.map((m, i) => ({ msg: i + 1, size: m.data.length }))
        })
        result.many.forEach((m, i) =>
          expect(equal(m.bytes, stored(server.store, i + 1)), `retrMany ${i + 1}`).toBe(true)
        )
        result.streamed.forEach((b, i) => expect(equal(b, stored(server.store, i + 1)), `retr ${i + 1}`).toBe(true))
      }),
      { numRuns: 30 }
    )
  }, 60_000)

  it("property: the sync engine stores every message as sent, collected or spilled to the store", async () => {
    await fc.assert(
      fc.asyncProperty(cuts, async (sizes) => {
        const server = makeServer()
        // The store keeps what it is given as it is: the engine must hand over bytes it owns.
        const bodies = new Map<string, Uint8Array>()
        const store: SyncStore = {
          location: "memory",
          describe: String,
          recorded: Effect.succeed(new Set()),
          findStored: () => Effect.succeed(new Set()),
          put: (uid, body) => void bodies.set(uid, body),
          begin: async (uid) => {
            const parts: Array<Uint8Array> = []
            return {
              // A writer's bytes are valid until its promise settles: copied.
              write: async (bytes) => void parts.push(bytes.slice()),
              commit: async () => void bodies.set(uid, Buffer.concat(parts)),
              abort: async () => {}
            }
          },
          record: () => Effect.void
        }
        // A threshold below the largest message: it is spilled to a writer mid-body.
        success(
          await run(
            reusingLayer(server.layer, cycling(sizes)),
            Effect.flatMap(login, (mailbox) => syncMailbox(mailbox, store, { delete: false, streamThreshold: 4096 }))
          )
        )
        const messages = server.store.messages(USER)
        expect(bodies.size).toBe(messages.length)
        for (const m of messages) expect(equal(bodies.get(m.uid), m.data), `message ${m.uid}`).toBe(true)
      }),
      { numRuns: 30 }
    )
  }, 60_000)
})
