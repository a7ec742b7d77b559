// The Promise API's lifecycle: `await using` (Symbol.asyncDispose) closes like close() —
// nothing deleted unless quit() ran — and retrStream is refused inside a pipelined loop
// instead of waiting for the loop, which waits for it.
import { describe, expect, it } from "vitest"
import { InvalidState } from "../../core/index.ts"
import { connect } from "../../core/promise.ts"
import { makeMailStore } from "../../dev-server/server.ts"
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
