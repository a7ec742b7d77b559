// Every login mechanism against a real Dovecot, over every TLS mode: each logs in and STAT
// works, and each with a wrong password is refused with [AUTH]. The matrix is printed so the
// run output shows what was covered.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import type * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Pop3 from "../../core/index.ts"
import type { ConnectOptions, Stat, TraceEvent, Transport } from "../../core/index.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import { dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import type { Dovecot } from "../support/dovecot.ts"
import { requireService } from "../support/require-service.ts"

const available = requireService("Dovecot", dovecotAvailable())

const MECHANISMS = ["user", "apop", "plain", "login", "cram-md5", "scram-sha-1", "scram-sha-256", "auto"] as const
const MODES = ["none", "starttls", "implicit"] as const
type Mechanism = (typeof MECHANISMS)[number]
type Mode = (typeof MODES)[number]

/** What each mechanism's first line looks like in the (redacted) trace. */
const firstLine = (mechanism: Mechanism, user: string): RegExp => {
  switch (mechanism) {
    case "user":
      return new RegExp(`^USER ${user}$`)
    case "apop":
      return new RegExp(`^APOP ${user} \\*\\*\\*\\*$`)
    case "auto":
      return /^AUTH SCRAM-SHA-256 \*\*\*\*$/
    case "login":
    case "cram-md5":
      return new RegExp(`^AUTH ${mechanism.toUpperCase()}$`)
    default:
      return new RegExp(`^AUTH ${mechanism.toUpperCase()} \\*\\*\\*\\*$`)
  }
}

const run = <A, E>(effect: Effect.Effect<A, E, Transport | Scope.Scope>): Promise<Exit.Exit<A, E>> =>
  Effect.runPromiseExit(effect.pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

const describeExit = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "succeeded"
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  return reason !== undefined && reason.error instanceof Error
    ? reason.error.message
    : (Cause.pretty(exit.cause).split("\n")[0] ?? "failed")
}

describe.skipIf(!available)("the auth matrix against Dovecot", () => {
  let server: Dovecot | undefined
  const d = (): Dovecot => {
    if (server === undefined) throw new Error("Dovecot did not start")
    return server
  }
  beforeAll(async () => {
    server = await startDovecot({ bulkMessages: 0 })
  })
  afterAll(async () => {
    await server?.stop()
  })

  const options = (mode: Mode, trace: (event: TraceEvent) => void): ConnectOptions => ({
    host: d().host,
    port: mode === "implicit" ? d().tlsPort : d().port,
    tls: mode,
    ca: d().ca,
    servername: "localhost",
    timeout: 10_000,
    trace
  })

  /** Logs in and STATs; returns the exit and the client lines of the session. */
  const attempt = async (mechanism: Mechanism, mode: Mode, password: string) => {
    const sent: Array<string> = []
    const secure: Array<boolean> = []
    const exit = await run(
      Effect.gen(function* () {
        const session = yield* Pop3.connect(options(mode, (e) => void (e._tag === "Sent" && sent.push(e.line))))
        secure.push(session.secure)
        const mailbox = yield* session.login({ user: "alice", password, mechanism, allowPlaintext: mode === "none" })
        return yield* mailbox.stat
      })
    )
    return { exit, sent, secure: secure[0] }
  }

  const login = new Map<string, string>()
  const refusal = new Map<string, string>()
  const key = (mechanism: Mechanism, mode: Mode) => `${mechanism} ${mode}`

  for (const mode of MODES) {
    describe(`tls ${mode}`, () => {
      it.each(MECHANISMS)("%s logs in and STAT works", async (mechanism) => {
        login.set(key(mechanism, mode), "FAIL")
        const { exit, sent, secure } = await attempt(mechanism, mode, d().users.alice.password)
        login.set(key(mechanism, mode), Exit.isSuccess(exit) ? "ok" : `FAIL (${describeExit(exit)})`)
        expect(describeExit(exit)).toBe("succeeded")
        const stat = (exit as Exit.Success<Stat, unknown>).value
        expect(stat.count).toBe(d().messages("alice").length)
        expect(stat.size).toBe(
          d()
            .messages("alice")
            .reduce((n, m) => n + m.length, 0)
        )
        expect(secure).toBe(mode !== "none")
        // The mechanism asked for is the one used, and it was the only attempt.
        const attempts = sent.filter((l) => /^(USER|APOP|AUTH) /.test(l))
        expect(attempts).toHaveLength(1)
        expect(attempts[0]).toMatch(firstLine(mechanism, "alice"))
        if (mode === "starttls") expect(sent.indexOf("STLS")).toBeLessThan(sent.indexOf(attempts[0]!))
      })

      it.each(MECHANISMS)("%s with a wrong password is refused with [AUTH]", async (mechanism) => {
        refusal.set(key(mechanism, mode), "FAIL")
        const { exit, sent } = await attempt(mechanism, mode, "not-alices-password")
        expect(Exit.isFailure(exit)).toBe(true)
        const reason = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason) : undefined
        const error = reason?.error
        expect(error).toBeInstanceOf(Pop3.AuthError)
        const auth = error as Pop3.AuthError
        expect(auth.attempts).toHaveLength(1)
        expect(auth.attempts[0]!.code).toBe("AUTH")
        expect(auth.retry).toBe("permanent")
        // auto stopped at the first refusal: it carried a code.
        expect(sent.filter((l) => /^(USER|APOP|AUTH) /.test(l))).toHaveLength(1)
        refusal.set(key(mechanism, mode), `[${auth.attempts[0]!.code}]`)
      })
    })
  }

  it("prints the matrix, and every cell passed", () => {
    const width = 16
    const pad = (s: string) => s.padEnd(width)
    const rows = [
      `${pad("mechanism")}${MODES.map((m) => pad(`tls ${m}`)).join("")}`,
      ...MECHANISMS.map(
        (mechanism) =>
          `${pad(mechanism)}${MODES.map((mode) => pad(`${login.get(key(mechanism, mode)) ?? "not run"} / ${refusal.get(key(mechanism, mode)) ?? "not run"}`)).join("")}`
      )
    ]
    console.log(`auth matrix against Dovecot (login + STAT / wrong password):\n${rows.join("\n")}`)
    for (const mechanism of MECHANISMS) {
      for (const mode of MODES) {
        expect(login.get(key(mechanism, mode)), `${mechanism} over ${mode}`).toBe("ok")
        expect(refusal.get(key(mechanism, mode)), `${mechanism} over ${mode}, wrong password`).toBe("[AUTH]")
      }
    }
  })
})
