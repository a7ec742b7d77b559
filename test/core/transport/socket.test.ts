// The Socket scaffold the Deno, Bun and Workers transports share (core/transport/socket.ts)
// over a fake connection: the writer waits for the reader's connection, writes go out in
// order, the writer's release ends the sending side after them, a CloseEvent closes, and
// the end of the reader's scope fails a pull waiting in another fiber and disposes.

import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import { describe, expect, it } from "vitest"
import { makePushReader, upgradeError } from "../../../core/transport/reader.ts"
import { type Connection, makeByteSocket } from "../../../core/transport/socket.ts"

const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

const fake = (options: { readonly write?: (bytes: Uint8Array) => Promise<unknown> } = {}) => {
  const log: Array<string> = []
  const input = makePushReader()
  let connects = 0
  const connection: Connection = {
    input,
    write: options.write ?? ((bytes) => Promise.resolve(void log.push(`write ${new TextDecoder().decode(bytes)}`))),
    end: () => log.push("end"),
    close: (error) => log.push(`close ${(error.reason as Socket.SocketCloseError).code}`),
    dispose: (error) => log.push(`dispose ${(error.reason as Socket.SocketCloseError).code}`),
    upgrade: () => Effect.void
  }
  const socket = makeByteSocket(
    Effect.sync(() => {
      connects++
      return connection
    })
  )
  return { log, input, socket, connects: () => connects }
}

describe("byte socket scaffold", () => {
  it("connects when the reader is acquired; a write waits for it, then goes out in order", async () => {
    const { log, socket, connects } = fake()
    const scope = Effect.runSync(Scope.make())
    const writer = await Effect.runPromise(Scope.provide(socket.writer, scope))
    const writing = Effect.runFork(writer.write("USER a\r\n"))
    await flush()
    expect(connects()).toBe(0)
    expect(log).toEqual([])
    await Effect.runPromise(Scope.provide(socket.reader, scope))
    await Effect.runPromise(Fiber.join(writing))
    await Effect.runPromise(writer.writeAll(["PASS ", "b\r\n"]))
    expect(log).toEqual(["write USER a\r\n", "write PASS b\r\n"])
    // The reader was acquired last, so its scope ends first: the connection is gone
    // before the writer's release, which then has nothing to end.
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await flush()
    expect(log.slice(2)).toEqual(["dispose 1006"])
  })

  it("the writer's release ends the sending side after the queued writes", async () => {
    const { log, socket } = fake()
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* socket.reader
          const writer = yield* socket.writer
          yield* writer.write("QUIT\r\n")
        })
      )
    )
    await flush()
    expect(log[0]).toBe("write QUIT\r\n")
    expect(log.slice(1).sort()).toEqual(["dispose 1006", "end"])
  })

  it("the end of the reader's scope fails a pull waiting in another fiber", async () => {
    const { log, socket } = fake()
    const scope = Effect.runSync(Scope.make())
    const reader = await Effect.runPromise(Scope.provide(socket.reader, scope))
    const pulling = Effect.runFork(reader.pull)
    await flush()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    const exit = await Effect.runPromise(Fiber.await(pulling))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(log).toEqual(["dispose 1006"])
  })

  it("pulls what the runtime pushed", async () => {
    const { input, socket } = fake()
    const program = Effect.scoped(
      Effect.gen(function* () {
        const reader = yield* socket.reader
        input.push(new Uint8Array([43, 79, 75]))
        return yield* reader.pull
      })
    )
    expect(await Effect.runPromise(program)).toEqual([new Uint8Array([43, 79, 75])])
  })

  it("a CloseEvent ends the input at once and closes", async () => {
    const { log, input, socket } = fake()
    const program = Effect.scoped(
      Effect.gen(function* () {
        const reader = yield* socket.reader
        const writer = yield* socket.writer
        input.push(new Uint8Array([1]))
        yield* writer.write(new Socket.CloseEvent(4001, "bye"))
        return yield* Effect.flip(reader.pull)
      })
    )
    const error = await Effect.runPromise(program)
    expect(error.reason).toMatchObject({ _tag: "SocketCloseError", code: 4001, closeReason: "bye" })
    expect(log[0]).toBe("close 4001")
  })

  it("a write's SocketError passes as it is; another failure is a write error", async () => {
    const tls = upgradeError(new Error("handshake"))
    for (const [thrown, tag] of [
      [tls, "SocketUpgradeError"],
      [new Error("reset"), "SocketWriteError"]
    ] as const) {
      const { socket } = fake({ write: () => Promise.reject(thrown) })
      const program = Effect.scoped(
        Effect.gen(function* () {
          yield* socket.reader
          const writer = yield* socket.writer
          return yield* Effect.flip(writer.write("x"))
        })
      )
      const error = await Effect.runPromise(program)
      expect(error.reason._tag).toBe(tag)
      if (thrown === tls) expect(error).toBe(tls)
    }
  })
})
