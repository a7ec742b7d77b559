// The Promise API's lifecycle: `await using` (Symbol.asyncDispose) closes like close() —
// nothing deleted unless quit() ran — and retrStream is refused inside a pipelined loop
// instead of waiting for the loop, which waits for it.
import { describe, expect, it } from "vitest"
import { InvalidState } from "../../core/index.ts"
import { connect } from "../../core/promise.ts"
import { type Behaviour, makeMailStore } from "../../dev-server/server.ts"
import { memoryServer, PASSWORD, USER } from "./client/harness.ts"

const LOGIN = { user: USER, password: PASSWORD, mechanism: "user", allowPlaintext: true } as const
const store = () =>
  makeMailStore({
    [USER]: { password: PASSWORD, messages: ["Subject: 1\r\n\r\none\r\n", "Subject: 2\r\n\r\ntwo\r\n"] }
  })
const options = (server: ReturnType<typeof memoryServer>) =>
  ({ host: "dev", tls: "none", timeout: 5000, transport: server.layer }) as const

describe("Promise API: await using", () => {
  it("a session left without quit() deletes nothing: RSET, then the connection closes", async () => {
    const mail = store()
    const server = memoryServer({ store: mail })
    {
      await using session = await connect(options(server))
      const mailbox = await session.login(LOGIN)
      await mailbox.dele(1)
    }
    expect(server.commands.slice(-2)).toEqual(["RSET", "QUIT"])
    const again = await connect(options(memoryServer({ store: mail })))
    expect((await (await again.login(LOGIN)).stat()).count).toBe(2)
    await again.close()
  })

  it("a mailbox in `await using` does the same, and after quit() disposing is a no-op", async () => {
    const mail = store()
    const server = memoryServer({ store: mail })
    const session = await connect(options(server))
    {
      await using mailbox = await session.login(LOGIN)
      await mailbox.dele(2)
    }
    expect(server.commands.slice(-2)).toEqual(["RSET", "QUIT"])
    const second = memoryServer({ store: mail })
    {
      await using mailbox = await (await connect(options(second))).login(LOGIN)
      expect((await mailbox.stat()).count).toBe(2)
      await mailbox.dele(2)
      await mailbox.quit()
    }
    expect(second.commands.slice(-2)).toEqual(["DELE 2", "QUIT"])
    const third = await (await connect(options(memoryServer({ store: mail })))).login(LOGIN)
    expect((await third.stat()).count).toBe(1)
    await third.close()
  })
})

describe("Promise API: retrStream inside a pipelined loop", () => {
  it("errors at once with InvalidState, sends nothing, and the loop goes on", async () => {
    const server = memoryServer({ store: store() })
    const mailbox = await (await connect(options(server))).login(LOGIN)
    const errors: Array<unknown> = []
    const got: Array<number> = []
    for await (const { msg } of mailbox.retrMany([1, 2])) {
      got.push(msg)
      errors.push(
        await mailbox
          .retrStream(msg)
          .getReader()
          .read()
          .then(
            () => "read",
            (e: unknown) => e
          )
      )
    }
    expect(got).toEqual([1, 2])
    expect(
      errors.map(
        (e) =>
          e instanceof InvalidState &&
          /^retrStream was called while a topMany\/retrMany\/listStream\/uidlStream loop/.test(e.message)
      )
    ).toEqual([true, true])
    expect(server.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR 1", "RETR 2"])
    // Outside a loop it streams as before.
    const reader = mailbox.retrStream(2).getReader()
    const chunks: Array<Uint8Array> = []
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) chunks.push(r.value)
    expect(new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])))).toBe("Subject: 2\r\n\r\ntwo\r\n")
    await mailbox.quit()
  })
})

describe("Promise API: close() while a stream or loop runs", () => {
  const big = () =>
    makeMailStore({
      [USER]: {
        password: PASSWORD,
        messages: [1, 2, 3].map((i) => `Subject: ${i}\r\n\r\n${"x".repeat(76)}\r\n`.repeat(30_000))
      }
    })
  const rejectionOf = (promise: Promise<unknown>) =>
    promise.then(
      (value) => ({ resolved: value }),
      (error: unknown) => error
    )

  it("a retrStream being read rejects with InvalidState: a message cut short never ends as if whole", async () => {
    const server = memoryServer({ store: big(), behaviour: { writeChunkSize: 4096 } })
    const mailbox = await (await connect(options(server))).login(LOGIN)
    const reader = mailbox.retrStream(1).getReader()
    expect((await reader.read()).done).toBe(false)
    const closing = mailbox.close()
    let outcome: unknown
    for (;;) {
      outcome = await rejectionOf(reader.read())
      if (!(outcome as { resolved?: ReadableStreamReadResult<Uint8Array> }).resolved?.value) break
    }
    await closing
    expect(outcome).toBeInstanceOf(InvalidState)
    expect((outcome as InvalidState).message).toMatch(/retrStream did not finish: the session was closed while it ran/)
  })

  it("a retrMany loop throws InvalidState at its next step instead of ending early", async () => {
    const server = memoryServer({ store: big(), behaviour: { writeChunkSize: 4096 } })
    const mailbox = await (await connect(options(server))).login(LOGIN)
    const got: Array<number> = []
    const loop = (async () => {
      for await (const { msg } of mailbox.retrMany([1, 2, 3])) {
        got.push(msg)
        if (msg === 1) await mailbox.close()
      }
    })()
    const outcome = await rejectionOf(loop)
    expect(outcome).toBeInstanceOf(InvalidState)
    expect((outcome as InvalidState).message).toMatch(/retrMany did not finish: the session was closed while it ran/)
    expect(got).toEqual([1])
  })

  it("a loop that ended before close() is not touched by it", async () => {
    const server = memoryServer({ store: store() })
    const mailbox = await (await connect(options(server))).login(LOGIN)
    const got: Array<number> = []
    for await (const { msg } of mailbox.retrMany([1, 2])) got.push(msg)
    await mailbox.close()
    expect(got).toEqual([1, 2])
  })
})

describe("Promise API: connect({ signal })", () => {
  const slow = (behaviour: Behaviour) => {
    const server = memoryServer({ store: store(), behaviour })
    // A limit far longer than the test: only the signal can end these waits.
    return { server, options: { host: "dev", tls: "none", timeout: 600_000, transport: server.layer } as const }
  }

  it("aborting ends a call the server never finishes (a body that stalls): InvalidState, as close() does", async () => {
    const { server, options } = slow({ stallMidBody: true })
    const controller = new AbortController()
    const mailbox = await (await connect({ ...options, signal: controller.signal })).login(LOGIN)
    const retr = mailbox.retr(1)
    await new Promise((resolve) => setTimeout(resolve, 50))
    controller.abort()
    const error = await retr.then(
      () => "resolved",
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(InvalidState)
    expect((error as InvalidState).message).toMatch(/retr did not finish: the session was closed while it ran/)
    // Later calls are refused, as after close().
    await expect(mailbox.stat()).rejects.toBeInstanceOf(InvalidState)
    expect(server.commands).toContain("RETR 1")
  })

  it("aborting while connecting rejects the connect", async () => {
    const { options } = slow({ stallAtCommand: "CAPA" })
    const controller = new AbortController()
    const connecting = connect({ ...options, signal: controller.signal })
    setTimeout(() => controller.abort(), 50)
    await expect(connecting).rejects.toThrow("connect was aborted (its AbortSignal fired)")
  })

  it("an already aborted signal: rejected before anything is opened", async () => {
    const { server, options } = slow({})
    await expect(connect({ ...options, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(InvalidState)
    expect(server.commands).toEqual([])
  })
})

describe("Promise API: login twice", () => {
  it("is InvalidState naming the cause, not a mechanism refused by the state table", async () => {
    const server = memoryServer({ store: store() })
    const session = await connect(options(server))
    await session.login(LOGIN)
    await expect(session.login({ user: USER, password: PASSWORD })).rejects.toThrow(
      "login is not possible: this session is already logged in"
    )
    await session.close()
  })
})
