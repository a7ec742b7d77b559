// Logging in through the real client, over the in-memory transport, against the dev server's
// independent SASL implementations (dev-server/sasl.ts): every mechanism on a plain and
// on a (pretend) TLS connection, auto's choice and order, the plaintext guard, reconnecting
// after a server hangs up, SCRAM's server proof, response codes, and UTF-8 user names.

import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { AuthError, InvalidArgument } from "../../../core/errors.ts"
import { refusingMechanism, saslMechanisms } from "../../../dev-server/sasl.ts"
import type { CommandTable, SaslMechanism } from "../../../dev-server/server.ts"
import { defaultCommands } from "../../../dev-server/server.ts"
import { b64, unb64 } from "../auth/fake-exchange.ts"
import { mechanisms } from "../../../core/auth/registry.ts"
import { saslMechanism } from "../../../core/auth/sasl.ts"
import { connect } from "../../../core/client/client.ts"
import {
  attemptedMechanisms,
  attemptLines,
  authServer,
  connectOptions,
  failure,
  loginAndThen,
  makeStore,
  MESSAGES,
  MODES,
  NAMED,
  PASSWORD,
  PLAINTEXT,
  run,
  secretFor,
  success,
  TOKEN,
  upper,
  USER,
  UTF8_PASSWORD,
  UTF8_USER
} from "./auth-harness.ts"

/** What the first line of an attempt looks like on the wire, per mechanism. */
const FIRST_LINE: Record<string, RegExp> = {
  user: new RegExp(`^USER ${USER}$`),
  apop: new RegExp(`^APOP ${USER} [0-9a-f]{32}$`),
  plain: new RegExp(`^AUTH PLAIN ${b64(`\u0000${USER}\u0000${PASSWORD}`).replace(/[+/=]/g, "\\$&")}$`),
  login: /^AUTH LOGIN$/,
  "cram-md5": /^AUTH CRAM-MD5$/,
  "scram-sha-1": /^AUTH SCRAM-SHA-1 [A-Za-z0-9+/=]+$/,
  "scram-sha-256": /^AUTH SCRAM-SHA-256 [A-Za-z0-9+/=]+$/,
  xoauth2: new RegExp(
    `^AUTH XOAUTH2 ${b64(`user=${USER}\u0001auth=Bearer ${TOKEN}\u0001\u0001`).replace(/[+/=]/g, "\\$&")}$`
  ),
  oauthbearer: /^AUTH OAUTHBEARER [A-Za-z0-9+/=]+$/
}

describe("every mechanism, on a plain and on a TLS connection", () => {
  for (const mode of MODES) {
    describe(`tls ${mode}`, () => {
      it.each(NAMED)("%s logs in and STAT works", async (mechanism) => {
        const server = authServer()
        const stat = success(
          await loginAndThen(server, mode, {
            user: USER,
            password: secretFor(mechanism),
            mechanism,
            allowPlaintext: mode === "none"
          })
        )
        expect(stat).toEqual({ count: MESSAGES.length, size: MESSAGES.reduce((n, m) => n + m.length, 0) })
        // One attempt, with the named mechanism, and nothing else tried.
        expect(attemptLines(server.commands)).toHaveLength(1)
        expect(attemptLines(server.commands)[0]).toMatch(FIRST_LINE[mechanism]!)
        expect(server.commands.at(-2)).toBe("STAT")
        expect(server.connections()).toBe(1)
      })

      it.each(NAMED)("%s with a wrong secret fails with AuthError [AUTH] (permanent)", async (mechanism) => {
        const server = authServer()
        const error = failure(
          await loginAndThen(server, mode, {
            user: USER,
            password: "wrong-secret",
            mechanism,
            allowPlaintext: mode === "none"
          })
        )
        expect(error).toBeInstanceOf(AuthError)
        const auth = error as AuthError
        expect(auth.attempts).toHaveLength(1)
        expect(auth.attempts[0]).toMatchObject({ mechanism: upper(mechanism), code: "AUTH" })
        expect(auth.retry).toBe("permanent")
        expect(auth.message).toMatch(
          new RegExp(`^login failed: ${upper(mechanism)} was refused \\(${upper(mechanism)}: \\[AUTH\\] `)
        )
        expect(server.commands).not.toContain("STAT")
      })

      it("auto picks SCRAM-SHA-256 when it is offered", async () => {
        const server = authServer()
        success(await loginAndThen(server, mode, { user: USER, password: PASSWORD, allowPlaintext: mode === "none" }))
        expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256"])
      })

      if (mode === "implicit") {
        it("auto picks SCRAM-SHA-256 without allowPlaintext (the path is encrypted)", async () => {
          const server = authServer()
          success(await loginAndThen(server, mode, { user: USER, password: PASSWORD }))
          expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256"])
        })
      }
    })
  }

  it("the SCRAM exchange is the RFC's three client lines: client-first, client-final, empty", async () => {
    const server = authServer()
    success(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD, mechanism: "scram-sha-256" }))
    const [auth, final, empty] = server.commands.slice(1, 4)
    const clientFirst = unb64(auth!.split(" ")[2]!)
    expect(clientFirst).toMatch(/^n,,n=alice,r=[\x21-\x2b\x2d-\x7e]+$/)
    expect(unb64(final!)).toMatch(
      new RegExp(
        `^c=biws,r=${clientFirst.split("r=")[1]!.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")}[^,]+,p=[A-Za-z0-9+/]+=*$`
      )
    )
    expect(empty).toBe("")
  })
})

describe("auto follows the documented order", () => {
  const ORDER = ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "APOP", "PLAIN", "LOGIN", "USER"] as const

  it("is the order of the exported list, with the OAuth mechanisms last", () => {
    expect(mechanisms.map((m) => m.name)).toEqual([...ORDER, "XOAUTH2", "OAUTHBEARER"])
  })

  /** A server offering exactly `offer` (plus XOAUTH2 and OAUTHBEARER, which auto must ignore). */
  const offering = (offer: ReadonlyArray<string>) => {
    const sasl = offer.filter((m) => m !== "APOP" && m !== "USER").concat(["XOAUTH2", "OAUTHBEARER"])
    return authServer({
      offer: sasl,
      sasl: { oauthTokens: { [USER]: PASSWORD } },
      behaviour: {
        capa: [
          "TOP",
          "UIDL",
          ...(offer.includes("USER") ? ["USER"] : []),
          "RESP-CODES",
          "AUTH-RESP-CODE",
          `SASL ${sasl.join(" ")}`
        ],
        ...(offer.includes("APOP") ? {} : { greeting: "+OK ready (no APOP here)" })
      }
    })
  }

  for (const [mode, allowPlaintext] of [
    ["implicit", false],
    ["none", true]
  ] as const) {
    it(`on tls ${mode}${allowPlaintext ? " with allowPlaintext" : ""}, as mechanisms are removed from the offer`, async () => {
      const chosen: Array<string> = []
      for (let i = 0; i < ORDER.length; i++) {
        const server = offering(ORDER.slice(i))
        success(await loginAndThen(server, mode, { user: USER, password: PASSWORD, allowPlaintext }))
        chosen.push(...attemptedMechanisms(server.commands))
      }
      expect(chosen).toEqual([...ORDER])
      // With nothing left but the OAuth mechanisms, auto has nothing to use.
      const server = offering([])
      const error = failure(await loginAndThen(server, mode, { user: USER, password: PASSWORD, allowPlaintext }))
      expect(error).toBeInstanceOf(AuthError)
      expect(error.message).toContain("offers no mechanism this client supports")
      expect(server.commands).toEqual(["CAPA", "QUIT"])
    })
  }

  it("on a plain connection without allowPlaintext, uses no mechanism at all — challenge-response ones included", async () => {
    for (let i = 0; i < ORDER.length; i++) {
      const server = offering(ORDER.slice(i))
      const error = failure(await loginAndThen(server, "none", { user: USER, password: PASSWORD }))
      expect(error).toBeInstanceOf(AuthError)
      expect(error.message).toMatch(/^login failed: the connection is not encrypted: /)
      expect((error as AuthError).attempts).toEqual([])
      expect((error as AuthError).plaintextRefused).toBe(true)
      expect(server.commands).toEqual(["CAPA", "QUIT"])
    }
  })

  it("moves on after a refusal without a response code, in order, on the same connection", async () => {
    const server = authServer({
      mechanisms: [refusingMechanism("SCRAM-SHA-256"), ...saslMechanisms({}, ["SCRAM-SHA-1", "CRAM-MD5"])]
    })
    success(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256", "SCRAM-SHA-1"])
    expect(server.connections()).toBe(1)
  })

  it("reports every attempt when all are refused without a code (retry unknown)", async () => {
    const server = authServer({
      mechanisms: [refusingMechanism("SCRAM-SHA-256", "backend down"), refusingMechanism("PLAIN", "no")],
      behaviour: { greeting: "+OK no APOP", capa: ["SASL SCRAM-SHA-256 PLAIN"] }
    })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD })) as AuthError
    expect(error.attempts).toEqual([
      { mechanism: "SCRAM-SHA-256", code: undefined, text: "backend down" },
      { mechanism: "PLAIN", code: undefined, text: "no" }
    ])
    expect(error.retry).toBe("unknown")
    expect(error.message).toBe(
      "login failed: every mechanism tried was refused (SCRAM-SHA-256: backend down; PLAIN: no)"
    )
    // The server refused; it was not the client holding the password back.
    expect(error.plaintextRefused).toBeUndefined()
  })
})

describe("the plaintext guard", () => {
  for (const mechanism of [...PLAINTEXT]) {
    it(`refuses ${mechanism} on an unencrypted connection without allowPlaintext, sending nothing`, async () => {
      const server = authServer()
      const error = failure(
        await loginAndThen(server, "none", { user: USER, password: secretFor(mechanism), mechanism })
      )
      expect(error).toBeInstanceOf(AuthError)
      expect(error.message).toContain(`${upper(mechanism)} would send the password unencrypted`)
      expect((error as AuthError).attempts).toEqual([])
      expect((error as AuthError).plaintextRefused).toBe(true)
      // Only what connect and the scope's farewell send: no USER, AUTH or continuation.
      expect(server.commands).toEqual(["CAPA", "QUIT"])
    })
  }

  for (const mechanism of NAMED.filter((m) => !PLAINTEXT.has(m))) {
    it(`refuses ${mechanism} on an unencrypted connection without allowPlaintext (its digest can be cracked offline), sending nothing`, async () => {
      const server = authServer()
      const error = failure(await loginAndThen(server, "none", { user: USER, password: PASSWORD, mechanism }))
      expect(error).toBeInstanceOf(AuthError)
      expect(error.message).toContain(
        `${upper(mechanism)} would send a digest of it that an attacker on the path can crack offline`
      )
      expect((error as AuthError).plaintextRefused).toBe(true)
      expect(server.commands).toEqual(["CAPA", "QUIT"])
    })

    it(`allows ${mechanism} on an unencrypted connection with allowPlaintext`, async () => {
      const server = authServer()
      success(await loginAndThen(server, "none", { user: USER, password: PASSWORD, mechanism, allowPlaintext: true }))
    })
  }

  it("counts implicit TLS as encrypted (allowPlaintext not needed)", async () => {
    const server = authServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(connectOptions("implicit"))
        expect(session.secure).toBe(true)
        return yield* (yield* session.login({ user: USER, password: PASSWORD, mechanism: "plain" })).stat
      })
    )
    success(exit)
  })

  it("refuses an unknown mechanism name before sending anything", async () => {
    const server = authServer()
    const error = failure(
      await loginAndThen(server, "implicit", { user: USER, password: PASSWORD, mechanism: "gssapi" })
    )
    expect(error).toBeInstanceOf(InvalidArgument)
    expect(error.message).toContain('unknown authentication mechanism "gssapi"')
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })
})

describe("XOAUTH2 and OAUTHBEARER are used only when named", () => {
  it("auto ignores them even when they are all the server offers", async () => {
    const server = authServer({
      offer: ["XOAUTH2", "OAUTHBEARER"],
      behaviour: { greeting: "+OK hi", capa: ["SASL XOAUTH2 OAUTHBEARER"] }
    })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: TOKEN }))
    expect(error.message).toContain("offers no mechanism this client supports")
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("auto does not fall back to them when everything else is refused", async () => {
    const server = authServer({
      mechanisms: [
        refusingMechanism("SCRAM-SHA-256"),
        ...saslMechanisms({ oauthTokens: { [USER]: PASSWORD } }, ["XOAUTH2", "OAUTHBEARER"])
      ],
      behaviour: { greeting: "+OK hi", capa: ["SASL SCRAM-SHA-256 XOAUTH2 OAUTHBEARER"] }
    })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD })) as AuthError
    expect(error.attempts.map((a) => a.mechanism)).toEqual(["SCRAM-SHA-256"])
    expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256"])
  })

  it("named, they take the token as the password", async () => {
    const server = authServer({ behaviour: { capa: ["USER", "SASL OAUTHBEARER"] } })
    success(await loginAndThen(server, "implicit", { user: USER, password: TOKEN, mechanism: "oauthbearer" }))
    const initial = unb64(attemptLines(server.commands)[0]!.split(" ")[2]!)
    expect(initial).toBe(`n,a=${USER},\u0001host=memory.test\u0001port=995\u0001auth=Bearer ${TOKEN}\u0001\u0001`)
  })
})

describe("credentials tell a password from a token", () => {
  it("XOAUTH2 named with { token } sends the token", async () => {
    const server = authServer()
    success(await loginAndThen(server, "implicit", { user: USER, token: TOKEN, mechanism: "xoauth2" }))
    expect(attemptLines(server.commands)[0]).toMatch(FIRST_LINE["xoauth2"]!)
  })

  it("a token is never given to a mechanism that takes a password: InvalidArgument, nothing sent", async () => {
    const server = authServer()
    const error = failure(await loginAndThen(server, "implicit", { user: USER, token: TOKEN, mechanism: "plain" }))
    expect(error).toBeInstanceOf(InvalidArgument)
    expect(error.message).toBe("login: PLAIN takes a password, and a token was given; nothing was sent")
    expect(attemptLines(server.commands)).toEqual([])
  })

  it("auto with a token asks for the mechanism to be named: InvalidArgument, nothing sent", async () => {
    const server = authServer()
    const error = failure(await loginAndThen(server, "implicit", { user: USER, token: TOKEN }))
    expect(error).toBeInstanceOf(InvalidArgument)
    expect(error.message).toContain("name the mechanism (xoauth2 or oauthbearer)")
    expect(attemptLines(server.commands)).toEqual([])
  })
})

describe("a mechanism the caller brings", () => {
  // A stand-in for GSSAPI: the server offers it in CAPA; the client's side is a plain
  // saslMechanism value passed to login, not known to the registry.
  const gssapiServer = (): SaslMechanism => ({
    name: "GSSAPI",
    async authenticate(_exchange, initial) {
      return new TextDecoder().decode(initial) === `ticket-for-${USER}`
        ? { ok: true, user: USER }
        : { ok: false, text: "[AUTH] bad ticket" }
    }
  })
  const gssapi = saslMechanism({
    name: "GSSAPI",
    plaintext: false,
    client: (c) => ({
      initial: () => new TextEncoder().encode(`ticket-for-${c.user}`),
      step: () => new Uint8Array(0),
      finish: () => {}
    })
  })

  it("logs in with it when the server offers it", async () => {
    const server = authServer({ mechanisms: [gssapiServer()], behaviour: { capa: ["SASL GSSAPI"] } })
    success(await loginAndThen(server, "implicit", { user: USER, password: "unused", mechanism: gssapi }))
    expect(attemptedMechanisms(server.commands)).toEqual(["GSSAPI"])
  })

  it("is refused before anything is sent when the server does not offer it", async () => {
    const server = authServer({ behaviour: { capa: ["SASL PLAIN"] } })
    const error = failure(
      await loginAndThen(server, "implicit", { user: USER, password: "unused", mechanism: gssapi })
    ) as AuthError
    expect(error.notOffered).toBe(true)
    expect(error.message).toContain("GSSAPI cannot be used: the server offers SASL PLAIN; nothing was sent")
    expect(attemptLines(server.commands)).toEqual([])
  })

  it("needs consent on an unencrypted connection, like the registry's own", async () => {
    const server = authServer({ mechanisms: [gssapiServer()], behaviour: { capa: ["SASL GSSAPI"] } })
    const error = failure(
      await loginAndThen(server, "none", { user: USER, password: "unused", mechanism: gssapi })
    ) as AuthError
    expect(error.plaintextRefused).toBe(true)
  })
})

/** AUTH as the dev server does it, but the connection is closed after every failed attempt,
 * with or without a response code (closeAfterAuthFailure only covers [AUTH] refusals). */
const closingAuth: CommandTable = {
  AUTH: {
    states: ["AUTHORIZATION"],
    async run(s, c) {
      await defaultCommands["AUTH"]!.run(s, c)
      if (s.state === "AUTHORIZATION") s.close()
    }
  }
}

describe("a server that hangs up after a failed login", () => {
  it("reconnects, and the next mechanism succeeds", async () => {
    const server = authServer({
      mechanisms: [refusingMechanism("SCRAM-SHA-256"), ...saslMechanisms({}, ["SCRAM-SHA-1", "PLAIN"])],
      behaviour: { closeAfterAuthFailure: true },
      commands: closingAuth
    })
    const stat = success(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(stat.count).toBe(MESSAGES.length)
    expect(server.connections()).toBe(2)
    expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256", "SCRAM-SHA-1"])
    // The second connection starts over: CAPA, then the next mechanism.
    const second = server.commands.lastIndexOf(
      "CAPA",
      server.commands.findIndex((l) => l.startsWith("AUTH SCRAM-SHA-1"))
    )
    expect(second).toBeGreaterThan(1)
  })

  it("reconnects for the second mechanism, and stops after the second refusal", async () => {
    const server = authServer({
      mechanisms: [refusingMechanism("SCRAM-SHA-256"), refusingMechanism("CRAM-MD5")],
      behaviour: { closeAfterAuthFailure: true, greeting: "+OK no APOP" },
      commands: closingAuth
    })
    const error = failure(
      await loginAndThen(server, "none", { user: USER, password: PASSWORD, allowPlaintext: true })
    ) as AuthError
    expect(error.attempts.map((a) => a.mechanism)).toEqual(["SCRAM-SHA-256", "CRAM-MD5"])
    expect(server.connections()).toBe(2)
    expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256", "CRAM-MD5"])
  })

  it("stops after a refusal with [AUTH], without reconnecting", async () => {
    const server = authServer({ behaviour: { closeAfterAuthFailure: true } })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: "wrong" })) as AuthError
    expect(error.attempts).toEqual([{ mechanism: "SCRAM-SHA-256", code: "AUTH", text: "Authentication failed" }])
    expect(server.connections()).toBe(1)
  })

  it("reports AuthError, not ConnectionClosed, when the last mechanism is refused and the server hangs up", async () => {
    const server = authServer({
      mechanisms: [refusingMechanism("SCRAM-SHA-256", "nope")],
      behaviour: { closeAfterAuthFailure: true, greeting: "+OK no APOP", capa: ["SASL SCRAM-SHA-256"] },
      commands: closingAuth
    })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(error).toBeInstanceOf(AuthError)
    expect(server.connections()).toBe(1)
  })
})

describe("SCRAM: the server must prove it knows the password", () => {
  it("a wrong server signature fails with AuthError; the client cancels and tries nothing else", async () => {
    const server = authServer({ sasl: { scramWrongSignature: true } })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toMatch(/SCRAM-SHA-256.*signature is wrong/)
    // Above all, no fallback to PLAIN, which would hand the password to an impostor.
    expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256"])
    expect(server.commands.slice(2)).toEqual([server.commands[2], "*", "QUIT"])
    expect(server.commands).not.toContain("STAT")
  })

  it("+OK without a server signature fails with AuthError, and the session cannot be used", async () => {
    const server = authServer({ sasl: { scramNoSignature: true } })
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const session = yield* connect(connectOptions("implicit"))
        const first = yield* Effect.flip(session.login({ user: USER, password: PASSWORD, mechanism: "scram-sha-1" }))
        // The server put the session in TRANSACTION, but the client dropped the connection
        // (a possible impostor), so a second login finds it closed.
        const second = yield* Effect.flip(session.login({ user: USER, password: PASSWORD, mechanism: "plain" }))
        return { first, second }
      })
    )
    const { first, second } = success(exit)
    expect(first).toBeInstanceOf(AuthError)
    expect(first.message).toMatch(/SCRAM-SHA-1.*without proving/)
    expect((first as AuthError).attempts).toEqual([
      { mechanism: "SCRAM-SHA-1", code: undefined, text: expect.stringMatching(/without proving/) }
    ])
    expect(second._tag).toBe("ConnectionClosed")
    expect(second.message).toMatch(/without proving/)
    // Nothing of the mailbox was touched, nothing more of the password was sent, and the
    // connection was dropped without a word (no RSET, no QUIT to the impostor).
    expect(
      server.commands.filter((l) => /^(STAT|LIST|UIDL|RETR|TOP|DELE|AUTH PLAIN|USER|PASS|RSET|QUIT)/.test(l))
    ).toEqual([])
  })

  it("the same with auto: no fallback after the server failed to prove itself", async () => {
    const server = authServer({ sasl: { scramNoSignature: true } })
    const error = failure(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(error).toBeInstanceOf(AuthError)
    expect(attemptedMechanisms(server.commands)).toEqual(["SCRAM-SHA-256"])
  })

  it("a SCRAM password SASLprep prohibits fails with AuthError before anything is sent", async () => {
    const server = authServer()
    const error = failure(
      await loginAndThen(server, "implicit", { user: USER, password: "bell\u0007", mechanism: "scram-sha-256" })
    )
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toContain("SASLprep")
    expect(server.commands).toEqual(["CAPA", "QUIT"])
  })

  it("a password with characters outside the BMP works (SASLprep keeps them)", async () => {
    const server = authServer({ store: makeStore({ password: "pass🙂wörd" }) })
    success(await loginAndThen(server, "implicit", { user: USER, password: "pass🙂wörd", mechanism: "scram-sha-256" }))
  })
})

describe("response codes", () => {
  const cases = [
    { name: "[AUTH] (wrong password)", behaviour: {}, password: "wrong", code: "AUTH", retry: "permanent" },
    {
      name: "[SYS/TEMP]",
      behaviour: { loginFailure: "[SYS/TEMP] Backend unavailable" },
      password: PASSWORD,
      code: "SYS/TEMP",
      retry: "temporary"
    },
    {
      name: "[SYS/PERM]",
      behaviour: { loginFailure: "[SYS/PERM] Account disabled" },
      password: PASSWORD,
      code: "SYS/PERM",
      retry: "permanent"
    },
    { name: "[IN-USE]", behaviour: { inUse: true }, password: PASSWORD, code: "IN-USE", retry: "temporary" },
    {
      name: "[LOGIN-DELAY]",
      behaviour: { loginDelay: 900 },
      password: PASSWORD,
      code: "LOGIN-DELAY",
      retry: "temporary"
    }
  ] as const

  for (const c of cases) {
    for (const mechanism of ["auto", "scram-sha-256", "plain", "user", "apop", "cram-md5", "login"]) {
      it(`${c.name} with ${mechanism} → AuthError, retry ${c.retry}, one attempt only`, async () => {
        const server = authServer({ behaviour: c.behaviour })
        const error = failure(await loginAndThen(server, "implicit", { user: USER, password: c.password, mechanism }))
        expect(error).toBeInstanceOf(AuthError)
        const auth = error as AuthError
        expect(auth.attempts).toHaveLength(1)
        expect(auth.attempts[0]!.code).toBe(c.code)
        expect(auth.retry).toBe(c.retry)
        expect(auth.message).toContain(`[${c.code}]`)
        expect(attemptLines(server.commands)).toHaveLength(1)
      })
    }
  }

  it("a real mailbox lock held by another session is [IN-USE] too", async () => {
    const server = authServer()
    const exit = await run(
      server.layer,
      Effect.gen(function* () {
        const first = yield* connect(connectOptions("implicit"))
        yield* first.login({ user: USER, password: PASSWORD })
        const second = yield* connect(connectOptions("implicit"))
        return yield* Effect.flip(second.login({ user: USER, password: PASSWORD }))
      })
    )
    const error = success(exit) as AuthError
    expect(error.attempts).toEqual([{ mechanism: "SCRAM-SHA-256", code: "IN-USE", text: expect.any(String) }])
    expect(error.retry).toBe("temporary")
  })
})

describe("UTF-8 user names", () => {
  /** The dev server with UTF8 (RFC 6856) in CAPA and a UTF8 command that accepts. */
  const utf8Server = (announce: boolean, sasl?: ReadonlyArray<SaslMechanism>) =>
    authServer({
      ...(sasl !== undefined ? { mechanisms: sasl } : {}),
      behaviour: {
        capa: ["TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", ...(announce ? ["UTF8"] : []), `SASL ${SASL_ALL}`]
      },
      commands: { UTF8: { states: ["AUTHORIZATION"], run: (s) => s.ok("UTF8 enabled") } }
    })
  const SASL_ALL = "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN XOAUTH2 OAUTHBEARER"

  for (const mechanism of ["scram-sha-256", "scram-sha-1", "plain", "login", "cram-md5", "user", "auto"]) {
    it(`${UTF8_USER} logs in with ${mechanism}; UTF8 is sent first when CAPA announces it`, async () => {
      const server = utf8Server(true)
      const stat = success(
        await loginAndThen(server, "implicit", { user: UTF8_USER, password: UTF8_PASSWORD, mechanism })
      )
      expect(stat.count).toBe(1)
      expect(server.commands[1]).toBe("UTF8")
      expect(server.commands[2]).toMatch(/^(AUTH|USER) /)
    })
  }

  it("the SCRAM user name is the UTF-8 of its SASLprep form", async () => {
    const server = utf8Server(true)
    success(
      await loginAndThen(server, "implicit", { user: UTF8_USER, password: UTF8_PASSWORD, mechanism: "scram-sha-256" })
    )
    expect(unb64(server.commands[2]!.split(" ")[2]!)).toMatch(/^n,,n=jürgen,r=/)
  })

  it("SCRAM finds the user however the name is normalized (SASLprep: NFKC)", async () => {
    const server = utf8Server(true)
    success(
      await loginAndThen(server, "implicit", {
        user: "ju\u0308rgen",
        password: UTF8_PASSWORD,
        mechanism: "scram-sha-256"
      })
    )
  })

  it("does not send UTF8 when CAPA does not announce it (and still logs in)", async () => {
    const server = utf8Server(false)
    success(await loginAndThen(server, "implicit", { user: UTF8_USER, password: UTF8_PASSWORD, mechanism: "plain" }))
    expect(server.commands).not.toContain("UTF8")
    expect(server.commands[1]).toBe(`AUTH PLAIN ${b64(`\u0000${UTF8_USER}\u0000${UTF8_PASSWORD}`)}`)
  })

  it("does not send UTF8 for an ASCII user name", async () => {
    const server = utf8Server(true)
    success(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(server.commands).not.toContain("UTF8")
  })

  it("a server refusing UTF8 does not stop the login", async () => {
    const server = authServer({ behaviour: { capa: ["UTF8", `SASL ${SASL_ALL}`] } })
    success(
      await loginAndThen(server, "implicit", { user: UTF8_USER, password: UTF8_PASSWORD, mechanism: "scram-sha-256" })
    )
    expect(server.commands[1]).toBe("UTF8")
  })
})

// Issue 12: what real servers showed (popa3d and Perdition greet without a timestamp;
// Courier sends no [AUTH] codes and delays each failure 5 s).
describe("a named mechanism the server cannot do is refused locally (issue 12, item 1)", () => {
  it("apop without a greeting timestamp: AuthError, and no APOP line (no unsalted MD5) reaches the server", async () => {
    for (const mode of MODES) {
      const server = authServer({ behaviour: { greeting: "+OK popa3d ready" } })
      const error = failure(
        await loginAndThen(server, mode, { user: USER, password: PASSWORD, mechanism: "apop", allowPlaintext: true })
      )
      expect(error).toBeInstanceOf(AuthError)
      expect((error as AuthError).notOffered).toBe(true)
      expect((error as AuthError).attempts).toEqual([])
      expect(error.message).toBe(
        "login failed: APOP cannot be used: the server's greeting has no APOP timestamp; nothing was sent"
      )
      expect(server.commands).toEqual(["CAPA", "QUIT"])
    }
  })

  it("a SASL mechanism CAPA does not list, or a server without CAPA: refused, nothing sent", async () => {
    const listed = authServer({ offer: ["PLAIN"], behaviour: { capa: ["USER", "SASL PLAIN"] } })
    const notListed = failure(
      await loginAndThen(listed, "implicit", { user: USER, password: PASSWORD, mechanism: "cram-md5" })
    ) as AuthError
    expect(notListed.notOffered).toBe(true)
    expect(notListed.message).toBe(
      "login failed: CRAM-MD5 cannot be used: the server offers SASL PLAIN; nothing was sent"
    )
    expect(listed.commands).toEqual(["CAPA", "QUIT"])

    const noCapa = authServer({ behaviour: { capa: false } })
    const refused = failure(
      await loginAndThen(noCapa, "implicit", { user: USER, password: PASSWORD, mechanism: "plain" })
    ) as AuthError
    expect(refused.message).toContain("PLAIN cannot be used: the server has no CAPA")
    expect(noCapa.commands).toEqual(["CAPA", "QUIT"])
    // USER is RFC 1939's baseline: a server without CAPA is assumed to have it.
    success(
      await loginAndThen(authServer({ behaviour: { capa: false } }), "implicit", {
        user: USER,
        password: PASSWORD,
        mechanism: "user"
      })
    )
  })
})

describe("auto costs at most two failed logins (issue 12, item 2)", () => {
  /** Courier: CRAM-MD5, PLAIN, LOGIN and USER, no APOP, failures without [AUTH]. */
  const courier = (options: { readonly pamAccount?: boolean } = {}) =>
    authServer({
      mechanisms: [
        options.pamAccount ? refusingMechanism("CRAM-MD5", "Login failed.") : saslMechanisms({}, ["CRAM-MD5"])[0]!,
        ...saslMechanisms({}, ["PLAIN", "LOGIN"])
      ],
      behaviour: {
        greeting: "+OK Hello there.",
        noAuthCodes: true,
        capa: ["TOP", "UIDL", "USER", "SASL CRAM-MD5 PLAIN LOGIN", "IMPLEMENTATION Courier"]
      }
    })

  it("a wrong password on a server without [AUTH] codes: two attempts, then AuthError", async () => {
    const server = courier()
    const error = failure(
      await loginAndThen(server, "implicit", { user: USER, password: "wrong-password" })
    ) as AuthError
    expect(attemptedMechanisms(server.commands)).toEqual(["CRAM-MD5", "PLAIN"])
    expect(error.attempts.map((a) => a.mechanism)).toEqual(["CRAM-MD5", "PLAIN"])
    expect(error.attempts.every((a) => a.code === undefined)).toBe(true)
    expect(error.message).toMatch(/^login failed: 2 mechanisms were refused; no more are tried/)
  })

  it("an account that cannot do CRAM-MD5 (Courier with PAM) still logs in with the next mechanism", async () => {
    const server = courier({ pamAccount: true })
    success(await loginAndThen(server, "implicit", { user: USER, password: PASSWORD }))
    expect(attemptedMechanisms(server.commands)).toEqual(["CRAM-MD5", "PLAIN"])
  })
})
