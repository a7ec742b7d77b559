// The push-to-pull reader that the Deno, Bun and Workers transports share: chunk order,
// flow control both ways (pause/resume at the high-water mark; reads only on demand), the
// end after the bytes, errors, abort, and the STLS handoff. No timers: every step is a
// promise or a fiber the test drives.

import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Socket from "effect/socket/Socket"
import { describe, expect, it } from "vitest"
import {
  bufferedRead,
  closeError,
  makePushReader,
  pemList,
  readError,
  upgradeError
} from "../../../core/transport/reader.ts"

const bytes = (...values: Array<number>) => new Uint8Array(values)
const text = (s: string) => new TextEncoder().encode(s)
const pull = (reader: { readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError> }) =>
  Effect.runPromise(reader.pull)
const pullExit = (reader: { readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError> }) =>
  Effect.runPromiseExit(reader.pull)
const failureOf = <A>(exit: Exit.Exit<A, Socket.SocketError>): Socket.SocketError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const found = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (found === undefined || found._tag !== "Fail") throw new Error("expected a typed failure")
  return found.error
}
const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

/** A `read` source the test answers by hand. */
const manualSource = () => {
  const requests: Array<{ resolve: (chunk: Uint8Array | null) => void; reject: (cause: unknown) => void }> = []
  return {
    requests,
    read: () => new Promise<Uint8Array | null>((resolve, reject) => void requests.push({ resolve, reject }))
  }
}

describe("push reader", () => {
  it("gives every chunk queued so far, in order, in one pull", async () => {
    const reader = makePushReader()
    reader.push(text("+OK "))
    reader.push(text("hello"))
    reader.push(text("\r\n"))
    expect((await pull(reader)).map((c) => new TextDecoder().decode(c))).toEqual(["+OK ", "hello", "\r\n"])
    reader.push(text("next"))
    expect((await pull(reader)).map((c) => new TextDecoder().decode(c))).toEqual(["next"])
  })

  it("wakes a waiting pull when bytes arrive, and ignores empty chunks", async () => {
    const reader = makePushReader()
    const fiber = Effect.runFork(reader.pull)
    await flush()
    reader.push(new Uint8Array(0))
    await flush()
    expect(fiber.pollUnsafe()).toBeUndefined()
    reader.push(bytes(1, 2))
    expect(await Effect.runPromise(Fiber.join(fiber))).toEqual([bytes(1, 2)])
  })

  it("delivers the queued bytes before the end, then fails every pull with the first end", async () => {
    const reader = makePushReader()
    reader.push(bytes(1))
    reader.end(closeError(1000))
    reader.end(readError(new Error("later")))
    reader.push(bytes(2)) // after the end: ignored
    expect(await pull(reader)).toEqual([bytes(1)])
    const first = failureOf(await pullExit(reader))
    expect(first.reason._tag).toBe("SocketCloseError")
    expect(failureOf(await pullExit(reader)).reason._tag).toBe("SocketCloseError")
    expect(reader.error()).toBe(first)
  })

  it("fails a pull waiting in another fiber when the stream ends", async () => {
    const reader = makePushReader()
    const fiber = Effect.runFork(reader.pull)
    await flush()
    reader.end(readError(new Error("reset")))
    const exit = await Effect.runPromise(Fiber.await(fiber))
    expect(failureOf(exit).reason._tag).toBe("SocketReadError")
  })

  it("abort drops what is unread and fails at once", async () => {
    const reader = makePushReader()
    reader.push(bytes(1, 2, 3))
    reader.abort(closeError(1006))
    const error = failureOf(await pullExit(reader))
    expect(error.reason._tag).toBe("SocketCloseError")
    expect((error.reason as Socket.SocketCloseError).code).toBe(1006)
  })

  it("an interrupted pull loses nothing: the bytes go to the next pull", async () => {
    const reader = makePushReader()
    const fiber = Effect.runFork(reader.pull)
    await flush()
    await Effect.runPromise(Fiber.interrupt(fiber))
    reader.push(bytes(7))
    expect(await pull(reader)).toEqual([bytes(7)])
  })
})

describe("push reader flow control (a runtime that pushes)", () => {
  it("pauses once when the unread bytes reach the high-water mark and resumes when a pull drains them", async () => {
    const calls: Array<string> = []
    const reader = makePushReader({
      highWaterMark: 10,
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume")
    })
    reader.push(new Uint8Array(4))
    reader.push(new Uint8Array(5))
    expect(calls).toEqual([])
    reader.push(new Uint8Array(1)) // 10 unread
    expect(calls).toEqual(["pause"])
    reader.push(new Uint8Array(6)) // still paused: not paused again
    expect(calls).toEqual(["pause"])
    const batch = await pull(reader)
    expect(batch.map((c) => c.length)).toEqual([4, 5, 1, 6])
    expect(calls).toEqual(["pause", "resume"])
    // Below the mark again: a later pull resumes nothing.
    reader.push(new Uint8Array(3))
    await pull(reader)
    expect(calls).toEqual(["pause", "resume"])
  })

  it("does not pause while a pull takes each chunk as it comes", async () => {
    const calls: Array<string> = []
    const reader = makePushReader({
      highWaterMark: 10,
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume")
    })
    for (let i = 0; i < 5; i++) {
      const fiber = Effect.runFork(reader.pull)
      await flush()
      reader.push(new Uint8Array(8))
      expect((await Effect.runPromise(Fiber.join(fiber)))[0]!.length).toBe(8)
    }
    expect(calls).toEqual([])
  })

  it("does not resume after the end", async () => {
    const calls: Array<string> = []
    const reader = makePushReader({
      highWaterMark: 2,
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume")
    })
    reader.push(bytes(1, 2))
    reader.end(closeError(1000))
    expect(await pull(reader)).toEqual([bytes(1, 2)])
    expect(calls).toEqual(["pause"])
  })
})

describe("push reader on demand (a runtime that is read)", () => {
  it("reads only while a pull waits, one read at a time", async () => {
    const source = manualSource()
    const reader = makePushReader({ read: source.read })
    await flush()
    expect(source.requests.length).toBe(0)
    const fiber = Effect.runFork(reader.pull)
    await flush()
    expect(source.requests.length).toBe(1)
    source.requests[0]!.resolve(bytes(1))
    expect(await Effect.runPromise(Fiber.join(fiber))).toEqual([bytes(1)])
    await flush()
    expect(source.requests.length).toBe(1) // nobody waits: no read ahead
  })

  it("reads again after an empty read, and ends with a close at null", async () => {
    const source = manualSource()
    const reader = makePushReader({ read: source.read })
    const fiber = Effect.runFork(reader.pull)
    await flush()
    source.requests[0]!.resolve(new Uint8Array(0))
    await flush()
    expect(source.requests.length).toBe(2)
    source.requests[1]!.resolve(null)
    const exit = await Effect.runPromise(Fiber.await(fiber))
    expect(failureOf(exit).reason._tag).toBe("SocketCloseError")
  })

  it("keeps what a read returns after its pull was interrupted", async () => {
    const source = manualSource()
    const reader = makePushReader({ read: source.read })
    const fiber = Effect.runFork(reader.pull)
    await flush()
    await Effect.runPromise(Fiber.interrupt(fiber))
    source.requests[0]!.resolve(bytes(9))
    await flush()
    expect(await pull(reader)).toEqual([bytes(9)])
    expect(source.requests.length).toBe(1)
  })

  it("a rejected read is a read error; a SocketError passes as it is", async () => {
    const plain = manualSource()
    const a = makePushReader({ read: plain.read })
    const first = Effect.runFork(a.pull)
    await flush()
    plain.requests[0]!.reject(new Error("reset"))
    expect(failureOf(await Effect.runPromise(Fiber.await(first))).reason._tag).toBe("SocketReadError")

    const typed = manualSource()
    const b = makePushReader({ read: typed.read })
    const second = Effect.runFork(b.pull)
    await flush()
    const tls = upgradeError(new Error("handshake"))
    typed.requests[0]!.reject(tls)
    expect(failureOf(await Effect.runPromise(Fiber.await(second)))).toBe(tls)
  })
})

describe("push reader STLS handoff", () => {
  const started = () => {
    let runs = 0
    return { start: Effect.sync(() => void runs++), runs: () => runs }
  }

  it("runs the upgrade when nothing is unread, then reads the new source", async () => {
    let source = "plain"
    const reader = makePushReader({ read: () => Promise.resolve(text(source)) })
    expect(new TextDecoder().decode((await pull(reader))[0])).toBe("plain")
    await Effect.runPromise(reader.upgrade(Effect.sync(() => void (source = "tls"))))
    expect(new TextDecoder().decode((await pull(reader))[0])).toBe("tls")
    // Once only.
    const again = failureOf(await Effect.runPromiseExit(reader.upgrade(Effect.void)))
    expect(again.reason._tag).toBe("SocketUpgradeError")
  })

  it("refuses while bytes wait unread (they came before TLS), without starting", async () => {
    const reader = makePushReader()
    const { start, runs } = started()
    reader.push(text("+OK injected\r\n"))
    const error = failureOf(await Effect.runPromiseExit(reader.upgrade(start)))
    expect(error.reason._tag).toBe("SocketUpgradeError")
    expect(String((error.reason as Socket.SocketUpgradeError).cause)).toContain("data arrived before the TLS handshake")
    expect(runs()).toBe(0)
  })

  it("refuses while a read is pending", async () => {
    const source = manualSource()
    const reader = makePushReader({ read: source.read })
    const fiber = Effect.runFork(reader.pull)
    await flush()
    await Effect.runPromise(Fiber.interrupt(fiber))
    const { start, runs } = started()
    const error = failureOf(await Effect.runPromiseExit(reader.upgrade(start)))
    expect(String((error.reason as Socket.SocketUpgradeError).cause)).toContain("a read is still pending")
    expect(runs()).toBe(0)
  })

  it("refuses after the end", async () => {
    const reader = makePushReader()
    reader.end(closeError(1000))
    const { start, runs } = started()
    expect(failureOf(await Effect.runPromiseExit(reader.upgrade(start))).reason._tag).toBe("SocketUpgradeError")
    expect(runs()).toBe(0)
  })

  it("a refusal given by the runtime fails it without ending the reader", async () => {
    const reader = makePushReader()
    const { start, runs } = started()
    const refused = upgradeError(new Error("no client certificates"))
    expect(failureOf(await Effect.runPromiseExit(reader.upgrade(start, refused)))).toBe(refused)
    expect(runs()).toBe(0)
    expect(reader.error()).toBeUndefined()
  })

  it("a failed upgrade ends the reader: later pulls fail with it", async () => {
    const reader = makePushReader()
    const failure = upgradeError(new Error("bad certificate"))
    expect(failureOf(await Effect.runPromiseExit(reader.upgrade(Effect.fail(failure))))).toBe(failure)
    expect(failureOf(await pullExit(reader))).toBe(failure)
  })
})

describe("reader helpers", () => {
  it("bufferedRead copies a small read and hands a large one over without copying", async () => {
    const seen: Array<Uint8Array> = []
    let fill = 0
    const read = bufferedRead((buffer) => {
      seen.push(buffer)
      buffer.fill(++fill, 0, fill === 1 ? 3 : 10)
      return Promise.resolve(fill === 1 ? 3 : fill === 2 ? 10 : null)
    }, 16)
    const small = await read()
    expect(small).toEqual(bytes(1, 1, 1))
    expect(small!.buffer).not.toBe(seen[0]!.buffer)
    const large = await read()
    expect(large!.length).toBe(10)
    expect(large!.buffer).toBe(seen[1]!.buffer)
    expect(seen[1]).toBe(seen[0]) // the small read left the buffer for reuse
    expect(await read()).toBeNull()
    expect(seen[2]).not.toBe(seen[1]) // the handed-over buffer is not written again
  })

  it("pemList takes one PEM or many, as strings or bytes", () => {
    expect(pemList("A")).toEqual(["A"])
    expect(pemList(text("B"))).toEqual(["B"])
    expect(pemList(["A", text("B")])).toEqual(["A", "B"])
  })
})
