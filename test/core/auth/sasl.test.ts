// The RFC 5034 framing every SASL mechanism shares: where the initial response goes, "=" for
// an empty one, "*" when the client gives up, the bound on challenges, base64, and how a
// server's OAuth error reaches the caller.

import * as Effect from "effect/Effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { xoauth2 } from "../../../core/auth/mechanisms.ts"
import {
  fromBase64,
  MAX_SASL_ROUNDS,
  type SaslClient,
  SaslFailure,
  saslMechanism,
  saslStep,
  toBase64
} from "../../../core/auth/sasl.ts"
import { AuthError } from "../../../core/errors.ts"
import { MAX_COMMAND_LINE } from "../../../core/protocol/limits.ts"
import { OAUTHBEARER_ERROR, XOAUTH2_ERROR } from "../../../dev-server/sasl.ts"
import { authServer, failure, loginAndThen, success, TOKEN, USER } from "../client/auth-harness.ts"
import { authenticate, b64, fakeExchange, failureOf, successOf, unb64 } from "./fake-exchange.ts"

const utf8 = (s: string) => new TextEncoder().encode(s)

/** A mechanism with a fixed initial response that answers every challenge with "ok". */
const scripted = (initial: Uint8Array | undefined, step: SaslClient["step"] = () => utf8("ok")) =>
  saslMechanism({
    name: "X-TEST",
    plaintext: false,
    client: () => ({ initial: () => initial, step, finish: () => {} })
  })

describe("the initial response", () => {
  // "AUTH XOAUTH2 " + base64 + CRLF: a 180-octet message encodes to 240 characters, a line of
  // exactly 255 octets; 181 octets encode to 244 characters (259 octets).
  const message = (tokenLength: number) => `user=u\u0001auth=Bearer ${"t".repeat(tokenLength)}\u0001\u0001`

  it("goes on the AUTH line when the line is exactly 255 octets", async () => {
    expect(utf8(message(159)).length).toBe(180)
    const fake = fakeExchange(["+OK"])
    successOf(await authenticate(xoauth2, fake, "u", "t".repeat(159)))
    expect(fake.lines).toHaveLength(1)
    expect(`${fake.lines[0]}\r\n`.length).toBe(MAX_COMMAND_LINE)
  })

  it("goes after an empty + challenge when the line would be longer", async () => {
    const fake = fakeExchange(["+ ", "+OK"])
    successOf(await authenticate(xoauth2, fake, "u", "t".repeat(160)))
    expect(fake.lines).toEqual(["AUTH XOAUTH2", b64(message(160))])
    expect(fake.redacted).toEqual(["AUTH XOAUTH2", "****"])
  })

  it("sends a 2 KB OAuth token on its own line after +", async () => {
    const token = "x".repeat(2048)
    const fake = fakeExchange(["+", "+OK"])
    successOf(await authenticate(xoauth2, fake, "someone@example.com", token))
    expect(fake.lines[0]).toBe("AUTH XOAUTH2")
    expect(unb64(fake.lines[1]!)).toBe(`user=someone@example.com\u0001auth=Bearer ${token}\u0001\u0001`)
  })

  it("is not sent when the server refuses the AUTH line itself", async () => {
    const fake = fakeExchange(["-ERR Unsupported authentication mechanism"])
    const status = successOf(await authenticate(xoauth2, fake, "u", "x".repeat(2048)))
    expect(status).toEqual({ kind: "err", code: undefined, text: "Unsupported authentication mechanism" })
    expect(fake.lines).toEqual(["AUTH XOAUTH2"])
  })

  it("is sent as = when empty (RFC 5034 §4)", async () => {
    const fake = fakeExchange(["+OK"])
    successOf(await authenticate(scripted(new Uint8Array(0)), fake, "u", "p"))
    expect(fake.lines).toEqual(["AUTH X-TEST ="])
  })

  it("is left out when the mechanism has none", async () => {
    const fake = fakeExchange(["+ " + b64("hi"), "+OK"])
    successOf(await authenticate(scripted(undefined), fake, "u", "p"))
    expect(fake.lines).toEqual(["AUTH X-TEST", b64("ok")])
  })

  it("goes after + when empty but the mechanism name alone fills the line", async () => {
    // Not a real case, but the rule holds for any length: only a line that fits is sent.
    const long = saslMechanism({
      name: "X".repeat(240),
      plaintext: false,
      client: () => ({ initial: () => utf8("abcdefghijkl"), step: () => utf8(""), finish: () => {} })
    })
    const fake = fakeExchange(["+ ", "+OK"])
    successOf(await authenticate(long, fake, "u", "p"))
    expect(fake.lines).toEqual([`AUTH ${"X".repeat(240)}`, b64("abcdefghijkl")])
  })
})

describe("giving up", () => {
  it.each(["!!!!", "a===", "abc$", "QQ==QQ=="])(
    "sends * and fails with AuthError on the bad base64 challenge %j",
    async (challenge) => {
      const fake = fakeExchange([`+ ${challenge}`, "-ERR Authentication cancelled"])
      const error = failureOf(await authenticate(scripted(undefined), fake, "u", "p"))
      expect(error).toBeInstanceOf(AuthError)
      expect(fake.lines).toEqual(["AUTH X-TEST", "*"])
      expect(error.message).toMatch(/not valid base64/)
      expect((error as AuthError).attempts).toEqual([
        { mechanism: "X-TEST", code: undefined, text: "the server's challenge is not valid base64" }
      ])
    }
  )

  it(`answers at most MAX_SASL_ROUNDS (${MAX_SASL_ROUNDS}) challenges, then sends *`, async () => {
    // One challenge more than the client answers, then the -ERR answering "*".
    const fake = fakeExchange([
      ...Array.from({ length: MAX_SASL_ROUNDS + 1 }, () => `+ ${b64("more")}`),
      "-ERR cancelled"
    ])
    const error = failureOf(await authenticate(scripted(utf8("hello")), fake, "u", "p"))
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toContain(`more than ${MAX_SASL_ROUNDS} challenges`)
    // AUTH with the initial response, one answer per challenge, then "*".
    expect(fake.lines).toHaveLength(1 + MAX_SASL_ROUNDS + 1)
    expect(fake.lines.slice(1, -1).every((l) => l === b64("ok"))).toBe(true)
    expect(fake.lines.at(-1)).toBe("*")
  })

  it("turns a SaslFailure in step into * and an AuthError with its message", async () => {
    const refusing = scripted(undefined, () => {
      throw new SaslFailure("that challenge is unacceptable")
    })
    const fake = fakeExchange([`+ ${b64("x")}`, "-ERR cancelled"])
    const error = failureOf(await authenticate(refusing, fake, "u", "p"))
    expect(error.message).toBe(
      "login failed: X-TEST was abandoned: that challenge is unacceptable (X-TEST: that challenge is unacceptable)"
    )
    expect(fake.lines).toEqual(["AUTH X-TEST", "*"])
  })

  it("turns a SaslFailure in initial into an AuthError without sending anything", async () => {
    const refusing = saslMechanism({
      name: "X-TEST",
      plaintext: false,
      client: () => ({
        initial: () => {
          throw new SaslFailure("cannot start")
        },
        step: () => utf8(""),
        finish: () => {}
      })
    })
    const fake = fakeExchange([])
    const error = failureOf(await authenticate(refusing, fake, "u", "p"))
    expect(error).toBeInstanceOf(AuthError)
    expect(fake.lines).toEqual([])
  })

  it("lets any other exception through as a defect (a bug, not a server problem)", async () => {
    const buggy = scripted(undefined, () => {
      throw new TypeError("bug")
    })
    const exit = await authenticate(buggy, fakeExchange([`+ ${b64("x")}`]), "u", "p")
    expect(exit._tag).toBe("Failure")
    expect(() => failureOf(exit)).toThrow(/typed failure/)
  })
})

describe("asynchronous steps (a Promise or an Effect)", () => {
  const later = <A>(value: A): Promise<A> => new Promise((resolve) => setTimeout(() => resolve(value), 5))

  it.each([
    ["a Promise", () => later(utf8("ok"))],
    ["an Effect", () => Effect.as(Effect.sleep("5 millis"), utf8("ok"))]
  ] as const)("waits for %s and sends its answer", async (_, step) => {
    const fake = fakeExchange([`+ ${b64("hi")}`, `+ ${b64("again")}`, "+OK"])
    successOf(await authenticate(scripted(undefined, step), fake, "u", "p"))
    expect(fake.lines).toEqual(["AUTH X-TEST", b64("ok"), b64("ok")])
  })

  it.each([
    ["a Promise rejecting", () => Promise.reject(new SaslFailure("not that one"))],
    ["an Effect failing", () => Effect.fail(new SaslFailure("not that one"))]
  ] as const)("turns %s with SaslFailure into * and an AuthError", async (_, step) => {
    const fake = fakeExchange([`+ ${b64("x")}`, "-ERR cancelled"])
    const error = failureOf(await authenticate(scripted(undefined, step), fake, "u", "p"))
    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).attempts).toEqual([{ mechanism: "X-TEST", code: undefined, text: "not that one" }])
    expect(fake.lines).toEqual(["AUTH X-TEST", "*"])
  })

  it.each([
    ["a Promise rejecting", () => Promise.reject(new TypeError("bug"))],
    ["an Effect dying", () => Effect.die(new TypeError("bug"))]
  ] as const)("lets %s with anything else through as a defect", async (_, step) => {
    const fake = fakeExchange([`+ ${b64("x")}`])
    const exit = await authenticate(scripted(undefined, step), fake, "u", "p")
    expect(exit._tag).toBe("Failure")
    expect(() => failureOf(exit)).toThrow(/typed failure/)
    expect(fake.lines).toEqual(["AUTH X-TEST"])
  })

  it("saslStep gives every form of answer as an Effect", async () => {
    const client = (step: SaslClient["step"]): SaslClient => ({ initial: () => undefined, step, finish: () => {} })
    const run = (step: SaslClient["step"]) => Effect.runPromiseExit(saslStep(client(step), utf8("challenge")))
    for (const step of [(c: Uint8Array) => c, (c: Uint8Array) => later(c), (c: Uint8Array) => Effect.succeed(c)]) {
      expect(successOf(await run(step))).toEqual(utf8("challenge"))
    }
    for (const step of [
      () => {
        throw new SaslFailure("no")
      },
      () => Promise.reject(new SaslFailure("no")),
      () => Effect.fail(new SaslFailure("no"))
    ]) {
      expect(failureOf(await run(step))).toMatchObject({ _tag: "SaslFailure", message: "no" })
    }
  })
})

describe("base64", () => {
  it("round-trips any bytes, including more than one 32 KiB slice", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (bytes) => {
        const encoded = toBase64(bytes)
        expect(encoded).toBe(b64(bytes))
        expect(fromBase64(encoded)).toEqual(bytes)
      }),
      { numRuns: 30 }
    )
  })

  it("refuses what is not base64", () => {
    for (const bad of ["!", "a", "abcde", "ab=c", "a b", "QQ==QQ==", "QQ==="])
      expect(fromBase64(bad), bad).toBeUndefined()
    expect(fromBase64("")).toEqual(new Uint8Array(0))
  })
})

describe("offering", () => {
  it("offers a SASL mechanism only when CAPA's SASL line lists it (any case)", () => {
    const m = scripted(undefined)
    expect(m.offered(fakeExchange([], { capa: ["SASL PLAIN x-test"] }).exchange)).toBe(true)
    expect(m.offered(fakeExchange([], { capa: ["SASL PLAIN", "X-TEST"] }).exchange)).toBe(false)
  })
})

describe("through the client and the dev server", () => {
  it("puts the OAuth error JSON into the AuthError (XOAUTH2)", async () => {
    const server = authServer()
    const error = failure(
      await loginAndThen(server, "implicit", { user: USER, password: "expired-token", mechanism: "xoauth2" })
    )
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toContain(XOAUTH2_ERROR)
    expect((error as AuthError).attempts).toEqual([
      { mechanism: "XOAUTH2", code: "AUTH", text: `Authentication failed (${XOAUTH2_ERROR})` }
    ])
    // The client answered the error challenge with an empty line before the -ERR.
    expect(server.commands).toEqual([
      "CAPA",
      `AUTH XOAUTH2 ${b64(`user=${USER}\u0001auth=Bearer expired-token\u0001\u0001`)}`,
      "",
      "QUIT"
    ])
  })

  it("puts the OAuth error JSON into the AuthError (OAUTHBEARER)", async () => {
    const server = authServer()
    const error = failure(
      await loginAndThen(server, "implicit", { user: USER, password: "expired-token", mechanism: "oauthbearer" })
    )
    expect(error.message).toContain(OAUTHBEARER_ERROR)
    expect(server.commands[2]).toBe("AQ==")
  })

  it("sends a 2 KB token after + to a server that refuses initial responses (Office 365)", async () => {
    const token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + "A".repeat(2000)
    const server = authServer({ sasl: { oauthTokens: { [USER]: token }, oauthRequireContinuation: true } })
    const stat = success(await loginAndThen(server, "implicit", { user: USER, password: token, mechanism: "xoauth2" }))
    expect(stat.count).toBe(2)
    expect(server.commands.slice(0, 2)).toEqual(["CAPA", "AUTH XOAUTH2"])
    expect(server.commands[2]!.length).toBeGreaterThan(2700)
  })

  it("a short token still goes on the AUTH line, which such a server refuses (documented)", async () => {
    const server = authServer({ sasl: { oauthRequireContinuation: true } })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: TOKEN, mechanism: "xoauth2" }))
    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).attempts[0]).toMatchObject({ mechanism: "XOAUTH2", code: undefined })
  })

  it("gives up on a server that never stops challenging", async () => {
    const server = authServer({ sasl: { challengeForever: true } })
    for (const mechanism of ["login", "cram-md5", "scram-sha-256", "plain", "xoauth2"]) {
      server.commands.length = 0
      const error = failure(await loginAndThen(server, "implicit", { user: USER, password: "pw", mechanism }))
      expect(error, mechanism).toBeInstanceOf(AuthError)
      expect(server.commands.at(-2), mechanism).toBe("*")
      expect(server.commands.length, mechanism).toBeLessThan(MAX_SASL_ROUNDS + 5)
    }
  })

  it("keeps the session in sync after *: the next command is answered normally", async () => {
    const server = authServer({ sasl: { challengeForever: true } })
    const exit = await loginAndThen(server, "implicit", { user: USER, password: "pw", mechanism: "cram-md5" })
    failure(exit)
    // The scope's QUIT was read and answered as QUIT, not as a SASL response.
    expect(server.commands.at(-1)).toBe("QUIT")
  })
})
