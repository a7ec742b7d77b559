// A command interrupted after it was written (Effect.timeout around it, a fiber
// interrupted, a scope closed) leaves its answer on its way. Read away before the next
// command, not taken for its answer; and before the farewell, so RSET and QUIT still go
// out: a dropped socket commits the session's deletions on servers that apply them on any
// disconnect (commitOnDisconnect, as Eudora QPOP).
//
// Over TCP (the Node transport) and the in-memory one: an interrupted pull must not lose
// the chunk its read was waiting for (effect's web-stream socket, which the in-memory
// transport was built on, did: the owed answer itself was gone).
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { createServer, type AddressInfo, type Socket as NetSocket } from "node:net"
import type * as Scope from "effect/Scope"
import { afterEach, describe, expect, it } from "vitest"
import { collect, connect } from "../../../core/index.ts"
import type { ConnectOptions, LoginOptions } from "../../../core/index.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import type { Transport } from "../../../core/transport/transport.ts"
import type { Behaviour, CommandSpec } from "../../../dev-server/server.ts"
import { defaultCommands } from "../../../dev-server/server.ts"
import { listenTcp, type TcpListener } from "../../../dev-server/tcp.ts"
import { connect as connectPromise } from "../../../core/promise.ts"
import { InvalidState } from "../../../core/errors.ts"
import { makeStore, memoryServer, PASSWORD, stored, success, USER } from "./harness.ts"
import type * as Layer from "effect/Layer"
import { runNode } from "../../support/child-node.ts"

const LOGIN: LoginOptions = { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const listeners: Array<TcpListener> = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
})

// STAT and RETR answered only after 200 ms: long enough to interrupt before the status
// line. Or STAT answered by hanging up (`hangUp`). Over TCP (`slow`) or in memory
// (`slowInMemory`), each with the layer that reaches it.
const slowInMemory = async (behaviour: Behaviour = {}) => {
  const commands: Array<string> = []
  const server = memoryServer({
    behaviour: { ...behaviour, onCommand: (line) => void commands.push(line) },
    hooks: { commands: { STAT: delayed("STAT"), RETR: delayed("RETR") } }
  })
  const options: ConnectOptions = { host: "memory", port: 110, tls: "none", timeout: 5000 }
  return { store: server.store, commands, options, layer: server.layer }
}
const delayed = (name: string, hangUp = false): CommandSpec => ({
  states: ["TRANSACTION"],
  async run(s, c) {
    if (hangUp) return s.close()
    await sleep(200)
    return defaultCommands[name]!.run(s, c)
  }
})
const slow = async (behaviour: Behaviour = {}, hangUp = false) => {
  const store = makeStore()
  const commands: Array<string> = []
  const listener = await listenTcp(store, {
    behaviour: { ...behaviour, onCommand: (line) => void commands.push(line) },
    commands: { STAT: delayed("STAT", hangUp), RETR: delayed("RETR", hangUp) }
  })
  listeners.push(listener)
  const options: ConnectOptions = { host: "127.0.0.1", port: listener.port, tls: "none", timeout: 5000 }
  return { store, commands, options, layer: NodeTransport.layer as Layer.Layer<Transport> }
}

const run = <A, E>(
  program: Effect.Effect<A, E, Transport | Scope.Scope>,
  layer: Layer.Layer<Transport> = NodeTransport.layer
) => Effect.runPromiseExit(program.pipe(Effect.scoped, Effect.provide(layer)))

describe.each([
  ["over TCP", slow],
  ["in memory", slowInMemory]
] as const)("a command interrupted before its answer (%s)", (_, slow) => {
  it("Effect.timeout around stat: the owed answer is read away, later commands get their own", async () => {
    const server = await slow()
    const exit = await run(
      Effect.gen(function* () {
        const session = yield* connect(server.options)
        const mailbox = yield* session.login(LOGIN)
        const timedOut = yield* Effect.flip(Effect.timeout(mailbox.stat, 20))
        const noop = yield* Effect.exit(mailbox.noop)
        const one = yield* mailbox.listOne(1)
        const body = yield* collect(mailbox.retr(2))
        const stat = yield* mailbox.stat
        return { timedOut, noop, one, body, stat }
      }),
      server.layer
    )
    const { timedOut, noop, one, body, stat } = success(exit)
    expect(timedOut._tag).toBe("TimeoutError")
    expect(noop._tag).toBe("Success")
    expect(one.msg).toBe(1)
    expect(body).toEqual(stored(server.store, 2))
    expect(stat.count).toBe(server.store.messages(USER).length)
    expect(server.commands.slice(-6)).toEqual(["STAT", "NOOP", "LIST 1", "RETR 2", "STAT", "QUIT"])
  })

  it("a fiber interrupted before RETR's status: the body is read away, the next RETR is byte-exact", async () => {
    const server = await slow()
    const exit = await run(
      Effect.gen(function* () {
        const session = yield* connect(server.options)
        const mailbox = yield* session.login(LOGIN)
        const fiber = yield* Effect.forkChild(collect(mailbox.retr(1)))
        yield* Effect.sleep(20)
        yield* Fiber.interrupt(fiber)
        return yield* collect(mailbox.retr(3))
      }),
      server.layer
    )
    expect(success(exit)).toEqual(stored(server.store, 3))
  })

  it("the scope ends with an answer owed: RSET and QUIT still go out, and a QPOP-like server deletes nothing", async () => {
    const server = await slow({ commitOnDisconnect: true })
    const before = server.store.messages(USER).length
    const exit = await run(
      Effect.gen(function* () {
        const session = yield* connect(server.options)
        const mailbox = yield* session.login(LOGIN)
        yield* mailbox.dele(1)
        // Fails the run with the STAT answer still owed.
        return yield* Effect.timeout(mailbox.stat, 20)
      }),
      server.layer
    )
    expect(exit._tag).toBe("Failure")
    await sleep(50) // the server handles the last lines after the client has gone
    expect(server.commands.slice(-4)).toEqual(["DELE 1", "STAT", "RSET", "QUIT"])
    expect(server.store.messages(USER)).toHaveLength(before)
  })
})

describe("a body left half read", () => {
  it("that never ends is read away for at most the farewell's time, then left with the connection: no hang", async () => {
    // A server whose RETR body never ends (a line every millisecond, for ever).
    const sockets = new Set<NetSocket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.write("+OK ready\r\n")
      socket.on("data", (data: Buffer) => {
        for (const line of data.toString("latin1").split("\r\n").filter(Boolean)) {
          if (line === "CAPA") socket.write("+OK\r\nUSER\r\n.\r\n")
          else if (!line.startsWith("RETR")) socket.write("+OK\r\n")
          else {
            socket.write("+OK endless\r\n")
            const drip = setInterval(() => (socket.destroyed ? clearInterval(drip) : socket.write("a line\r\n")), 1)
          }
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const port = (server.address() as AddressInfo).port
      const exit = await run(
        Effect.gen(function* () {
          const session = yield* connect({ host: "127.0.0.1", port, tls: "none", timeout: 1000 })
          const mailbox = yield* session.login(LOGIN)
          // Stop reading after 200 ms: the rest is drained, for at most min(1 s, 5 s).
          const stopped = yield* Effect.flip(
            Effect.timeout(
              Stream.runForEach(mailbox.retr(1), () => Effect.sleep(5)),
              200
            )
          )
          const after = yield* Effect.flip(mailbox.stat)
          return { stopped, after }
        })
      )
      const { stopped, after } = success(exit)
      expect(stopped._tag).toBe("TimeoutError")
      expect(after).toMatchObject({ _tag: "ConnectionClosed" })
      expect(after.message).toMatch(/the rest of the body of RETR 1 was still coming 1 s after it was left/)
    } finally {
      for (const socket of sockets) socket.destroy()
      server.close()
    }
  })
})

describe("the connection's watchdog", () => {
  it("ends when the server drops the connection: a Promise-API script that never calls close() still exits", async () => {
    // The server hangs up instead of answering STAT; the script's stat rejects and it
    // returns without close(). With a 60 s limit, a watchdog left running held the process
    // a minute (found by review); the child gets 20 s.
    const server = await slow({}, true)
    const script = `
      import { connect } from ${JSON.stringify(new URL("../../../core/promise.ts", import.meta.url).pathname)}
      import * as NodeTransport from ${JSON.stringify(new URL("../../../core/transport/node.ts", import.meta.url).pathname)}
      const session = await connect({ host: "127.0.0.1", port: ${server.options.port}, tls: "none", timeout: 60000, transport: NodeTransport.layer })
      const mailbox = await session.login(${JSON.stringify(LOGIN)})
      const error = await mailbox.stat().then(() => undefined, (e) => e)
      console.log(error?._tag)
    `
    const exited = await runNode(["--input-type=module", "-e", script], { timeout: 20_000 })
    expect(exited.stderr).toBe("")
    expect(exited.stdout.toString().trim()).toBe("ConnectionClosed")
    expect(exited.code).toBe(0)
  })
})

describe("the Promise API", () => {
  const open = async (behaviour: Behaviour = {}) => {
    const server = await slow(behaviour)
    const session = await connectPromise({ ...server.options, transport: NodeTransport.layer })
    return { server, session, mailbox: await session.login(LOGIN) }
  }

  it("close() while retr waits: retr rejects with InvalidState, RSET and QUIT go out, a QPOP-like server deletes nothing", async () => {
    const { server, session, mailbox } = await open({ commitOnDisconnect: true })
    const before = server.store.messages(USER).length
    await mailbox.dele(1)
    const retr = mailbox.retr(2).then(
      () => undefined,
      (error: unknown) => error
    )
    await sleep(20)
    await session.close()
    const error = await retr
    expect(error).toBeInstanceOf(InvalidState)
    expect((error as InvalidState).message).toMatch(/^retr did not finish: the session was closed while it ran/)
    await sleep(50)
    expect(server.commands.slice(-4)).toEqual(["DELE 1", "RETR 2", "RSET", "QUIT"])
    expect(server.store.messages(USER)).toHaveLength(before)
  })

  it("retrStream sends nothing until read, and while half read refuses other calls instead of waiting forever", async () => {
    const { server, session, mailbox } = await open()
    try {
      const unread = mailbox.retrStream(1)
      await sleep(20)
      expect(server.commands.filter((c) => c.startsWith("RETR"))).toEqual([])
      // Not read: the connection is free.
      expect((await mailbox.stat()).count).toBe(server.store.messages(USER).length)
      await unread.cancel()
      const reader = mailbox.retrStream(2).getReader()
      const first = await reader.read()
      expect(first.done).toBe(false)
      await expect(mailbox.stat()).rejects.toBeInstanceOf(InvalidState)
      // Read to its end, the connection is free again, and in step.
      const parts = [first.value!]
      for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value)
      expect(Buffer.concat(parts).equals(Buffer.from(stored(server.store, 2)))).toBe(true)
      expect((await mailbox.stat()).count).toBe(server.store.messages(USER).length)
    } finally {
      await session.close()
    }
  })
})
