// The bytes behind the demo's bytes view, export and replay (web-demo/src/recorder.ts,
// replay.ts), without a browser: the real client against the dev server over the memory
// transport, the server's bytes tapped as the playground taps them. Every traced status line
// must be cut from the stream exactly (its text and CR LF), every body must unstuff to what
// the client kept — with pipelining, with the server writing in 7-octet pieces, with bare LF —
// and no client secret may be in a recording or its file.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { collect, connect, type TraceEvent } from "../../core/index.ts"
import * as Memory from "../../core/transport/memory.ts"
import type { Behaviour } from "../../dev-server/server.ts"
import { serveConnection } from "../../dev-server/server.ts"
import { makeSampleStore } from "../../dev-server/sample-mailbox.ts"
import { makeRecorder, type Recorded } from "../../web-demo/src/recorder.ts"
import { fromFile, toFile } from "../../web-demo/src/replay.ts"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
/** A body as framed on the wire → the message: drop the final "." line, then one leading dot per line. */
const unstuff = (body: string) =>
  body
    .replace(/\.\r?\n$/, "")
    .split(/(?<=\n)/)
    .map((l) => (l.startsWith(".") ? l.slice(1) : l))
    .join("")

/** One session as the playground runs it; returns the recording and what the client kept. */
async function session(behaviour: Behaviour, password = "demo") {
  const recorder = makeRecorder()
  recorder.tapping(true)
  const store = makeSampleStore()
  const layer = Memory.layer((server) => {
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        recorder.serverBytes(chunk.slice())
        controller.enqueue(chunk)
      }
    })
    void tap.readable.pipeTo(server.writable).catch(() => {})
    void serveConnection(store, { readable: server.readable, writable: tap.writable }, behaviour)
  })
  const kept = new Map<string, Uint8Array>()
  const trace = (event: TraceEvent) => void recorder.record(event)
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const auth = yield* connect({ host: "playground", port: 110, tls: "implicit", timeout: 10_000, trace })
        const mailbox = yield* auth.login({ user: "demo", password, mechanism: "user" })
        yield* Stream.runForEach(mailbox.topMany([1, 2, 3, 4, 5, 6], 0), (m) =>
          Effect.sync(() => kept.set(`TOP ${m.msg} 0`, m.bytes))
        )
        kept.set("RETR 12", yield* collect(mailbox.retr(12)))
        yield* mailbox.quit
      })
    ).pipe(Effect.provide(layer))
  )
  return { entries: recorder.entries(), kept }
}

const check = (entries: ReadonlyArray<Recorded>, kept: ReadonlyMap<string, Uint8Array>, eol: string) => {
  const received = entries.filter((e) => e.event._tag === "Received")
  expect(received.length).toBeGreaterThan(10)
  for (const { event, wire } of received) {
    if (event._tag !== "Received") continue
    expect(wire?.from).toBe("S")
    expect(text(wire!.bytes)).toBe(`${event.line}${eol}`)
  }
  const bodies = entries.filter((e) => e.event._tag === "Body")
  for (const { event, wire } of bodies) {
    if (event._tag !== "Body") continue
    const raw = text(wire!.bytes)
    expect(raw.endsWith(`${eol}.${eol}`) || raw === `.${eol}`).toBe(true)
    const mine = kept.get(event.command)
    if (mine !== undefined) expect(unstuff(raw)).toBe(text(mine))
    expect(unstuff(raw).length).toBe(event.bytes)
  }
  expect(
    bodies.some(
      (b) =>
        b.event._tag === "Body" && b.event.command === "RETR 12" && /\r?\n\.\.hidden\r?\n/.test(text(b.wire!.bytes))
    )
  ).toBe(true)
}

describe("the recording behind the bytes view", () => {
  it("cuts every status line and body exactly, pipelined, from a server writing 7 octets at a time", async () => {
    const { entries, kept } = await session({ writeChunkSize: 7 })
    check(entries, kept, "\r\n")
  })

  it("keeps bare LF as it came", async () => {
    const { entries, kept } = await session({ lfOnly: true })
    check(entries, kept, "\n")
  })

  it("records a command's bytes as its redacted line; PASS is masked and its bytes are not the password's", async () => {
    const { entries } = await session({}, "demo")
    const sent = entries.filter((e) => e.event._tag === "Sent")
    for (const { event, wire } of sent) {
      if (event._tag !== "Sent") continue
      expect(text(wire!.bytes)).toBe(`${event.line}\r\n`)
      expect(wire!.masked === true).toBe(event.line.startsWith("PASS"))
    }
    expect(sent.map((e) => text(e.wire!.bytes))).toContain("PASS ****\r\n")
  })

  it("writes a file with no client bytes and reads it back to the same recording", async () => {
    const { entries } = await session({})
    const file = toFile(entries, new Date(0))
    const json = JSON.stringify(file)
    expect(json).not.toContain("PASS demo")
    expect(file.entries.every((e) => e.wire === undefined || e.wire.from === "S")).toBe(true)
    const back = fromFile(json)
    expect(back.map((e) => e.event)).toEqual(entries.map((e) => e.event))
    expect(back.map((e) => (e.wire === undefined ? undefined : text(e.wire.bytes)))).toEqual(
      entries.map((e) => (e.wire === undefined ? undefined : text(e.wire.bytes)))
    )
    expect(() => fromFile("{}")).toThrow(/not a session exported by this demo/)
    expect(() => fromFile(JSON.stringify({ ...file, entries: [{ event: { _tag: "Nope", at: 1 } }] }))).toThrow(
      /Entry 1 is not a trace event/
    )
    expect(() =>
      fromFile(JSON.stringify({ ...file, entries: [{ event: { _tag: "Sent", at: 1, line: 42, bytes: 4 } }] }))
    ).toThrow(/Entry 1 is not a trace event/)
  })

  it("marks the close the user asked for (Disconnect), and the file keeps the mark for the replay", async () => {
    const recorder = makeRecorder()
    const layer = Memory.layer((server) => void serveConnection(makeSampleStore(), server, {}))
    const trace = (event: TraceEvent) => void recorder.record(event)
    // Both sessions end the way the demo's Disconnect ends one: the scope closes after a failure.
    const session = (asked: boolean) =>
      Effect.scoped(
        Effect.gen(function* () {
          const auth = yield* connect({ host: "playground", port: 110, tls: "implicit", timeout: 10_000, trace })
          yield* auth.login({ user: "demo", password: "demo", mechanism: "user" })
          if (asked) recorder.disconnecting()
          return yield* Effect.fail("disconnected by the user")
        })
      ).pipe(Effect.provide(layer), Effect.exit)
    await Effect.runPromise(session(false))
    await Effect.runPromise(session(true))
    const closes = (entries: ReadonlyArray<Recorded>) =>
      entries.filter((e) => e.event._tag === "Closed").map((e) => e.asked === true)
    const entries = recorder.entries()
    expect(closes(entries)).toEqual([false, true])
    expect(entries.filter((e) => e.asked === true).map((e) => e.event._tag)).toEqual(["Closed"])
    const file = toFile(entries)
    expect(closes(fromFile(JSON.stringify(file)))).toEqual([false, true])
    // From an untrusted file, the mark counts on a Closed event only.
    const marked = { ...file, entries: file.entries.map((e) => ({ ...e, asked: true })) }
    expect(
      fromFile(JSON.stringify(marked))
        .filter((e) => e.asked === true)
        .map((e) => e.event._tag)
    ).toEqual(["Closed", "Closed"])
  })
})
