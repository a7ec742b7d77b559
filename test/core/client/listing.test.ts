// LIST and UIDL as streams (core/client/listing.ts): entries are delivered while the
// listing is still arriving — proved by a server that sends the rest of the listing only
// after the client has handed the first entries to its consumer (the order of events, not
// time) — match the collected arrays, free the connection on early exit, and refuse an
// over-long line by giving the connection up.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { connect, type Mailbox, type Pop3Error } from "../../../core/index.ts"
import { connect as connectPromise } from "../../../core/promise.ts"
import type { CommandSpec, Session } from "../../../dev-server/server.ts"
import { makeMailStore } from "../../../dev-server/server.ts"
import { memoryServer, run, success } from "./harness.ts"

const USER = "alice"
const PASSWORD = "pw"
const store = () =>
  makeMailStore({
    [USER]: { password: PASSWORD, messages: Array.from({ length: 3_000 }, (_, i) => `Subject: ${i + 1}\r\n\r\nx\r\n`) }
  })

/**
 * A listing command that writes the status line and the first `first` lines, records
 * "server: rest sent" only once `gate` resolved, then the rest and the terminator.
 */
const gated = (
  line: (s: Session, n: number) => string,
  first: number,
  gate: Promise<void>,
  events: Array<string>
): CommandSpec => ({
  states: ["TRANSACTION"],
  run: async (s) => {
    s.ok("listing follows")
    const n = s.messages.length
    for (let i = 1; i <= first; i++) s.line(line(s, i))
    await s.flush()
    await gate
    events.push("server: rest sent")
    for (let i = first + 1; i <= n; i++) s.line(line(s, i))
    s.end()
  }
})

const gatedServer = (events: Array<string>) => {
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  const server = memoryServer({
    store: store(),
    hooks: {
      commands: {
        LIST: gated((s, i) => `${i} ${s.reportedSize(s.messages[i - 1]!)}`, 2, gate, events),
        UIDL: gated((s, i) => `${i} ${s.reportedUid(i)}`, 2, gate, events)
      }
    }
  })
  return { server, open }
}

// A short limit: an implementation that waited for the listing's end would never see the
// gate open and fail with TimeoutError rather than hang the run.
const session = Effect.gen(function* () {
  const s = yield* connect({ host: "dev", tls: "none", timeout: 5_000 })
  return yield* s.login({ user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true })
})

describe("listing streams", () => {
  for (const name of ["listStream", "uidlStream"] as const) {
    it(`${name} delivers entries before the listing has ended`, async () => {
      const events: Array<string> = []
      const { server, open } = gatedServer(events)
      const exit = await run(
        server.layer,
        Effect.gen(function* () {
          const mailbox: Mailbox = yield* session
          const entries: Stream.Stream<{ readonly msg: number }, Pop3Error> = mailbox[name]
          return yield* Stream.runForEach(entries, (entry) =>
            Effect.sync(() => {
              events.push(`entry ${entry.msg}`)
              if (entry.msg === 2) open()
            })
          )
        })
      )
      success(exit)
      expect(events.slice(0, 3)).toEqual(["entry 1", "entry 2", "server: rest sent"])
      expect(events.filter((e) => e.startsWith("entry"))).toHaveLength(3_000)
      expect(events.at(-1)).toBe("entry 3000")
    })
  }

  it("yields the same entries as the collected list and uidl, and leaves the session usable", async () => {
    const server = memoryServer({ store: store() })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const mailbox = yield* session
        const listed = yield* Stream.runCollect(mailbox.listStream)
        const uids = yield* Stream.runCollect(mailbox.uidlStream)
        // Stopping after two entries reads the rest away: the next command gets its own answer.
        const firstTwo = yield* Stream.runCollect(Stream.take(mailbox.uidlStream, 2))
        const stat = yield* mailbox.stat
        return { listed, uids, firstTwo, stat, list: yield* mailbox.list, uidl: yield* mailbox.uidl }
      })
    )
    const { listed, uids, firstTwo, stat, list, uidl } = success(exit)
    expect(listed).toEqual(list)
    expect(uids).toEqual(uidl)
    expect(listed).toHaveLength(3_000)
    expect(firstTwo).toEqual(uidl.slice(0, 2))
    expect(stat.count).toBe(3_000)
  })

  it("refuses a line over the bound with ProtocolError and gives the connection up", async () => {
    const server = memoryServer({
      store: store(),
      hooks: {
        commands: {
          UIDL: {
            states: ["TRANSACTION"],
            run: (s) => {
              s.ok()
              s.line("1 abc")
              s.line(`2 ${"u".repeat(20_000)}`)
              s.end()
            }
          }
        }
      }
    })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const mailbox = yield* session
        const failure = yield* Effect.flip(Stream.runDrain(mailbox.uidlStream))
        const after = yield* Effect.flip(mailbox.stat)
        return { failure, after }
      })
    )
    const { failure, after } = success(exit)
    expect(failure._tag).toBe("ProtocolError")
    expect(failure.message).toMatch(/listing line is longer than/)
    // Given up, not drained: the next command is refused without reaching the server.
    expect(after._tag).toBe("ConnectionClosed")
    expect(server.commands.filter((c) => c === "STAT")).toEqual([])
  })

  it("the Promise API's listStream is an async iterable delivered as lines arrive", async () => {
    const events: Array<string> = []
    const { server, open } = gatedServer(events)
    await using s = await connectPromise({ host: "dev", tls: "none", timeout: 5_000, transport: server.layer })
    const mailbox = await s.login({ user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true })
    for await (const entry of mailbox.listStream()) {
      events.push(`entry ${entry.msg}`)
      if (entry.msg === 2) open()
    }
    expect(events.slice(0, 3)).toEqual(["entry 1", "entry 2", "server: rest sent"])
    expect(events.at(-1)).toBe("entry 3000")
    // The loop is over: the connection is free again.
    expect((await mailbox.stat()).count).toBe(3_000)
  })
})
