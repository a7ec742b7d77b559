// The secrets test: the whole login suite — every mechanism, success and failure, CR/LF in
// passwords, the OAuth error path, SCRAM's missing or wrong server proof, servers that hang
// up or never stop challenging — with a recognisable password and token, and then a search
// for them, plain and base64, in everything an observer can see: every trace event, every
// error (message, JSON, String). The CLI's output: test/cli/secrets.test.ts.
//
// Each case stands alone: it checks that it observed something (trace events; an error
// when the login failed) and, where the mechanism sends the secret in a searchable form,
// that the canary did cross the wire — so the search had something to find.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { connect, type LoginOptions } from "../../../core/client/client.ts"
import { formatTraceEvent, type TraceEvent } from "../../../core/client/trace.ts"
import { refusingMechanism, saslMechanisms } from "../../../dev-server/sasl.ts"
import type { Behaviour, CommandTable } from "../../../dev-server/server.ts"
import { defaultCommands } from "../../../dev-server/server.ts"
import { AuthError, InvalidArgument } from "../../../core/errors.ts"
import { b64 } from "../auth/fake-exchange.ts"
import {
  type AuthServer,
  authServer,
  connectOptions,
  makeStore,
  MESSAGES,
  type Mode,
  MODES,
  run,
  USER
} from "./auth-harness.ts"
import {
  ALL,
  CANARY,
  CANARY_TOKEN,
  canaryServer,
  crossedTheWire,
  leaksIn,
  otherServer,
  secret,
  sendsSecret
} from "./canary.ts"

/** Collects one scenario's observable surfaces and checks them. */
const observer = () => {
  const events: Array<TraceEvent> = []
  const surfaces: Array<{ readonly where: string; readonly text: string }> = []
  let errors = 0
  return {
    trace: (event: TraceEvent) => {
      events.push(event)
    },
    add: (where: string, text: string) => {
      surfaces.push({ where, text })
    },
    exit: (where: string, exit: Exit.Exit<unknown, unknown>) => {
      if (Exit.isSuccess(exit)) return
      surfaces.push({ where: `${where}: Cause.pretty`, text: Cause.pretty(exit.cause) })
      for (const reason of exit.cause.reasons) {
        const error = Cause.isFailReason(reason) ? reason.error : Cause.isDieReason(reason) ? reason.defect : undefined
        if (error === undefined) continue
        errors++
        surfaces.push({ where: `${where}: message`, text: error instanceof Error ? error.message : "" })
        surfaces.push({ where: `${where}: JSON.stringify`, text: JSON.stringify(error) ?? "" })
        surfaces.push({ where: `${where}: String`, text: String(error) })
        surfaces.push({ where: `${where}: stack`, text: error instanceof Error ? (error.stack ?? "") : "" })
      }
    },
    /** Asserts that no surface holds the canary in any form. */
    check: () => {
      for (const event of events) {
        expect(leaksIn(JSON.stringify(event)), `trace event ${JSON.stringify(event)}`).toEqual([])
        expect(leaksIn(formatTraceEvent(event)), `formatted trace event ${formatTraceEvent(event)}`).toEqual([])
      }
      for (const { where, text } of surfaces) expect(leaksIn(text), `${where}: ${text}`).toEqual([])
      return { events, errors }
    }
  }
}

/**
 * Logs in (and STATs) with the canary as the secret, with every surface observed, and
 * checks them. Fails the case when nothing was observed: no trace events, or a failed
 * login that produced no error to search.
 */
const scenario = async (
  name: string,
  server: AuthServer,
  mode: Mode,
  login: LoginOptions
): Promise<{ readonly exit: Exit.Exit<unknown, unknown>; readonly crossed: boolean }> => {
  const watch = observer()
  const exit = await run(
    server.layer,
    Effect.gen(function* () {
      const session = yield* connect(connectOptions(mode, watch.trace))
      const mailbox = yield* session.login(login)
      return yield* mailbox.stat
    })
  )
  watch.exit(name, exit)
  const { events, errors } = watch.check()
  expect(
    events.some((e) => e._tag === "Sent"),
    `${name}: trace events observed`
  ).toBe(true)
  if (Exit.isFailure(exit)) expect(errors, `${name}: errors observed`).toBeGreaterThan(0)
  return { exit, crossed: crossedTheWire(server) }
}

/** The typed error of a failed exit. */
const errorOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got success")
  return exit.cause.reasons.find(Cause.isFailReason)?.error
}

describe("the canary never shows outside the wire", () => {
  for (const mode of MODES) {
    const allowPlaintext = mode === "none"

    it.each(ALL)(`tls ${mode}: %s succeeding`, async (mechanism) => {
      const { exit, crossed } = await scenario(mechanism, canaryServer(), mode, {
        user: USER,
        password: secret(mechanism),
        mechanism,
        allowPlaintext
      })
      expect(Exit.isSuccess(exit)).toBe(true)
      if (sendsSecret(mechanism)) expect(crossed).toBe(true)
    })

    it.each(ALL)(`tls ${mode}: %s with the canary as a wrong secret`, async (mechanism) => {
      const { exit, crossed } = await scenario(mechanism, otherServer(), mode, {
        user: USER,
        password: secret(mechanism),
        mechanism,
        allowPlaintext
      })
      expect(errorOf(exit)).toBeInstanceOf(AuthError)
      if (sendsSecret(mechanism)) expect(crossed).toBe(true)
    })

    it.each(ALL)(`tls ${mode}: %s with CR, LF or NUL in the password: refused before sending`, async (mechanism) => {
      for (const bad of [
        `${secret(mechanism)}\r\nDELE 1`,
        `${secret(mechanism)}\nQUIT`,
        `x\r${secret(mechanism)}`,
        `${secret(mechanism)}\u0000`
      ]) {
        // The server would accept this very secret, so only the client's refusal fails the login.
        const server = authServer({ store: makeStore({ password: bad }), sasl: { oauthTokens: { [USER]: bad } } })
        const { exit, crossed } = await scenario(`${mechanism} ${JSON.stringify(bad)}`, server, mode, {
          user: USER,
          password: bad,
          mechanism,
          allowPlaintext
        })
        expect(errorOf(exit)).toBeInstanceOf(InvalidArgument)
        expect(crossed).toBe(false)
        // Nothing of the login was sent: no injected line, and the mail is all there.
        expect(server.commands.filter((c) => c !== "CAPA" && c !== "QUIT")).toEqual([])
        expect(server.store.messages(USER).length).toBe(MESSAGES.length)
      }
    })
  }

  it.each(ALL)("tls none without allowPlaintext: %s", async (mechanism) => {
    const server = canaryServer()
    const { exit, crossed } = await scenario(mechanism, server, "none", {
      user: USER,
      password: secret(mechanism),
      mechanism
    })
    // Refused by the client, whatever the mechanism: plaintext ones would send the secret,
    // challenge-response ones (APOP, CRAM-MD5, SCRAM, and auto, which picks among them) a
    // digest that an attacker who chooses the challenge cracks offline. Nothing of a login
    // was sent.
    expect(errorOf(exit)).toMatchObject({ _tag: "AuthError", plaintextRefused: true })
    expect(crossed).toBe(false)
    expect(server.commands.filter((c) => /^(USER|PASS|APOP|AUTH)\b/i.test(c))).toEqual([])
  })

  it.each(["xoauth2", "oauthbearer"])("the OAuth error path: %s with a rejected token", async (mechanism) => {
    const server = otherServer()
    const { exit, crossed } = await scenario(mechanism, server, "implicit", {
      user: USER,
      password: CANARY_TOKEN,
      mechanism
    })
    expect(errorOf(exit)).toBeInstanceOf(AuthError)
    expect(crossed).toBe(true)
    // The error challenge was answered (the path this scenario is about).
    expect(server.commands).toContain(mechanism === "xoauth2" ? "" : "AQ==")
  })

  it("a 2 KB OAuth token after + (Office 365)", async () => {
    const token = `${CANARY_TOKEN}.${"A".repeat(2000)}`
    const server = authServer({
      store: makeStore({ password: CANARY }),
      sasl: { oauthTokens: { [USER]: token }, oauthRequireContinuation: true }
    })
    const ok = await scenario("xoauth2 2 KB", server, "implicit", { user: USER, password: token, mechanism: "xoauth2" })
    expect(Exit.isSuccess(ok.exit)).toBe(true)
    expect(ok.crossed).toBe(true)
    const wrong = await scenario("xoauth2 2 KB wrong", otherServer({ oauthRequireContinuation: true }), "implicit", {
      user: USER,
      password: token,
      mechanism: "xoauth2"
    })
    expect(errorOf(wrong.exit)).toBeInstanceOf(AuthError)
    expect(wrong.crossed).toBe(true)
  })

  for (const mechanism of ["auto", "scram-sha-1", "scram-sha-256"]) {
    it(`a wrong SCRAM server signature (${mechanism})`, async () => {
      const { exit } = await scenario(mechanism, canaryServer({ sasl: { scramWrongSignature: true } }), "implicit", {
        user: USER,
        password: CANARY,
        mechanism
      })
      expect(errorOf(exit)).toMatchObject({ message: expect.stringMatching(/SCRAM signature|server signature/i) })
    })

    it(`no SCRAM server signature (${mechanism})`, async () => {
      const { exit } = await scenario(mechanism, canaryServer({ sasl: { scramNoSignature: true } }), "implicit", {
        user: USER,
        password: CANARY,
        mechanism
      })
      expect(errorOf(exit)).toMatchObject({ message: expect.stringMatching(/SCRAM signature|server signature/i) })
    })
  }

  it("a SCRAM password SASLprep prohibits", async () => {
    const { exit } = await scenario("scram", canaryServer(), "implicit", {
      user: USER,
      password: `${CANARY}\u0007`,
      mechanism: "scram-sha-256"
    })
    expect(errorOf(exit)).toBeDefined()
  })

  it.each(["login", "cram-md5", "scram-sha-256", "plain", "xoauth2", "oauthbearer"])(
    "a server that never stops challenging (%s)",
    async (mechanism) => {
      const { exit } = await scenario(mechanism, canaryServer({ sasl: { challengeForever: true } }), "implicit", {
        user: USER,
        password: secret(mechanism),
        mechanism
      })
      expect(errorOf(exit)).toBeDefined()
    }
  )

  it.each([
    { loginFailure: "[SYS/TEMP] Backend unavailable" },
    { loginFailure: "[SYS/PERM] Account disabled" },
    { inUse: true },
    { loginDelay: 900 },
    { closeAfterAuthFailure: true }
  ] satisfies ReadonlyArray<Behaviour>)("refusals with response codes: %j", async (behaviour) => {
    for (const mechanism of ALL) {
      const { exit, crossed } = await scenario(mechanism, canaryServer({ behaviour }), "implicit", {
        user: USER,
        password: behaviour.closeAfterAuthFailure ? "x" + secret(mechanism) : secret(mechanism),
        mechanism
      })
      expect(errorOf(exit), mechanism).toBeInstanceOf(AuthError)
      if (sendsSecret(mechanism)) expect(crossed, mechanism).toBe(true)
    }
  })

  it("reconnecting after a server hung up on a refused mechanism", async () => {
    const closingAuth: CommandTable = {
      AUTH: {
        states: ["AUTHORIZATION"],
        async run(s, c) {
          await defaultCommands["AUTH"]!.run(s, c)
          if (s.state === "AUTHORIZATION") s.close()
        }
      }
    }
    const server = authServer({
      store: makeStore({ password: CANARY }),
      mechanisms: [refusingMechanism("SCRAM-SHA-256"), ...saslMechanisms({}, ["PLAIN"])],
      behaviour: { greeting: "+OK no APOP", closeAfterAuthFailure: true },
      commands: closingAuth
    })
    const { exit, crossed } = await scenario("reconnect", server, "implicit", { user: USER, password: CANARY })
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(crossed).toBe(true) // PLAIN, on the second connection (auto stops after two refusals)
    expect(server.connections()).toBe(2)
  })

  // A server that quotes what it was sent in its refusal (the password, the AUTH line's
  // base64 and what it decodes to): the client did not leak it, yet the trace and the
  // error would carry it. The answers to the login's commands are scrubbed at the source.
  const quoting: CommandTable = {
    PASS: { states: ["AUTHORIZATION"], run: (s, c) => s.err(`wrong password ${c.rest}`) },
    AUTH: {
      states: ["AUTHORIZATION"],
      run(s, c) {
        const initial = c.args[1]
        if (initial === undefined) return defaultCommands["AUTH"]!.run(s, c)
        // atob, not Buffer: this file runs in Chromium too.
        const decoded = atob(initial).replace(/[^\x20-\x7e]/g, " ")
        s.err(`cannot accept ${c.rest} (${decoded})`, "AUTH")
      }
    }
  }
  // The mechanisms whose secret goes on the PASS or AUTH line itself (LOGIN's goes after +).
  it.each(["user", "plain", "xoauth2", "oauthbearer"])(
    "a server that quotes the secret in its refusal: %s",
    async (mechanism) => {
      const server = authServer({ sasl: { oauthTokens: { [USER]: "the-right-token" } }, commands: quoting })
      const { exit, crossed } = await scenario(mechanism, server, "implicit", {
        user: USER,
        password: secret(mechanism),
        mechanism
      })
      expect(errorOf(exit)).toBeInstanceOf(AuthError)
      expect(crossed).toBe(true)
      // The refusal is still there, the secret replaced.
      expect((errorOf(exit) as AuthError).attempts[0]!.text).toMatch(/\*\*\*\*/)
    }
  )
})

describe("the search itself", () => {
  it("would find the canary in each form it searches for", () => {
    expect(leaksIn(`AUTH PLAIN ${b64(`\u0000${USER}\u0000${CANARY}`)}`).length).toBeGreaterThan(0)
    expect(leaksIn(b64(`prefix ${CANARY} suffix`)).length).toBeGreaterThan(0)
    expect(leaksIn(b64(`pre ${CANARY}`)).length).toBeGreaterThan(0)
    expect(leaksIn(b64(`p ${CANARY} s`)).length).toBeGreaterThan(0)
    expect(leaksIn(b64(`ab ${CANARY}!`)).length).toBeGreaterThan(0)
    expect(leaksIn(JSON.stringify({ password: CANARY })).length).toBeGreaterThan(0)
    expect(leaksIn("PASS ****")).toEqual([])
  })
})
