// The secrets test: the whole login suite — every mechanism, success and failure, CR/LF in
// passwords, the OAuth error path, SCRAM's missing or wrong server proof, servers that hang
// up or never stop challenging — with a recognisable password and token, and then a search
// for them, plain and base64, in everything an observer can see: every trace event, every
// error (message, JSON, String), and the CLI's stdout and stderr.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { main } from "../../../core/cli/main.ts"
import { connect, type LoginOptions } from "../../../core/client/client.ts"
import { formatTraceEvent, type TraceEvent } from "../../../core/client/trace.ts"
import { refusingMechanism, type SaslOptions, saslMechanisms } from "../../../dev-server/sasl.ts"
import type { Behaviour, CommandTable } from "../../../dev-server/server.ts"
import { defaultCommands } from "../../../dev-server/server.ts"
import { type AuthServer, authServer, connectOptions, makeStore, MESSAGES, type Mode, MODES, NAMED, OAUTH, run, USER } from "./auth-harness.ts"

const CANARY = "CANARY-s3cr3t-Pw"
/** An OAuth token with the canary inside, for XOAUTH2 and OAUTHBEARER. */
const CANARY_TOKEN = `ya29.${CANARY}-token`

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64")

/**
 * The base64 characters that encode `s` wherever it sits in a longer message: for each of
 * the three alignments, the characters determined by `s` alone.
 */
const base64Inside = (s: string): Array<string> =>
  [0, 1, 2].map((offset) => {
    const encoded = b64("\u0000".repeat(offset) + s)
    const skip = Math.ceil((offset * 4) / 3)
    return encoded.slice(skip, encoded.length - 4)
  })

/** Every form in which the canary could leak. */
const FORMS: ReadonlyArray<string> = [
  CANARY,
  b64(CANARY),
  ...base64Inside(CANARY),
  // PLAIN's initial response, with and without an authorization identity.
  b64(`\u0000${USER}\u0000${CANARY}`),
  b64(`${USER}\u0000${USER}\u0000${CANARY}`),
  // The OAuth initial responses.
  b64(`user=${USER}\u0001auth=Bearer ${CANARY_TOKEN}\u0001\u0001`),
  ...base64Inside(`auth=Bearer ${CANARY_TOKEN}`),
  // Percent- and JSON-escaped forms (a URL, a JSON dump).
  encodeURIComponent(CANARY),
  JSON.stringify(CANARY).slice(1, -1)
]

const leaksIn = (text: string): Array<string> => FORMS.filter((form) => text.includes(form))

/** Everything observers saw, across the whole file. */
const seen = { events: 0, errors: 0, cliRuns: 0, wireLeaks: 0 }

/** Collects one scenario's observable surfaces and checks them. */
const observer = () => {
  const events: Array<TraceEvent> = []
  const surfaces: Array<{ readonly where: string; readonly text: string }> = []
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
        seen.errors++
        surfaces.push({ where: `${where}: message`, text: error instanceof Error ? error.message : "" })
        surfaces.push({ where: `${where}: JSON.stringify`, text: JSON.stringify(error) ?? "" })
        surfaces.push({ where: `${where}: String`, text: String(error) })
        surfaces.push({ where: `${where}: stack`, text: error instanceof Error ? (error.stack ?? "") : "" })
      }
    },
    /** Asserts that no surface holds the canary in any form. */
    check: () => {
      seen.events += events.length
      for (const event of events) {
        expect(leaksIn(JSON.stringify(event)), `trace event ${JSON.stringify(event)}`).toEqual([])
        expect(leaksIn(formatTraceEvent(event)), `formatted trace event ${formatTraceEvent(event)}`).toEqual([])
      }
      for (const { where, text } of surfaces) expect(leaksIn(text), `${where}: ${text}`).toEqual([])
      return { events, surfaces }
    }
  }
}

/** Checks that the secret did cross the wire, so finding nothing elsewhere means something. */
const crossedTheWire = (server: AuthServer): void => {
  if (leaksIn(server.commands.join("\n")).length > 0) seen.wireLeaks++
}

/** Logs in (and STATs) with the canary as the secret, with every surface observed. */
const scenario = async (
  name: string,
  server: AuthServer,
  mode: Mode,
  login: LoginOptions
): Promise<Exit.Exit<unknown, unknown>> => {
  const watch = observer()
  const exit = await run(server.layer, Effect.gen(function*() {
    const session = yield* connect(connectOptions(mode, watch.trace))
    const mailbox = yield* session.login(login)
    return yield* mailbox.stat
  }))
  watch.exit(name, exit)
  watch.check()
  crossedTheWire(server)
  return exit
}

/** A server where alice's password and token are the canary. */
const canaryServer = (options: { readonly sasl?: SaslOptions; readonly behaviour?: Behaviour; readonly commands?: CommandTable; readonly offer?: ReadonlyArray<string> } = {}) =>
  authServer({
    store: makeStore({ password: CANARY }),
    sasl: { oauthTokens: { [USER]: CANARY_TOKEN }, ...options.sasl },
    ...(options.behaviour !== undefined ? { behaviour: options.behaviour } : {}),
    ...(options.commands !== undefined ? { commands: options.commands } : {}),
    ...(options.offer !== undefined ? { offer: options.offer } : {})
  })

/** A server where the canary is wrong (alice has another password and token). */
const otherServer = (sasl: SaslOptions = {}) => authServer({ sasl: { oauthTokens: { [USER]: "the-right-token" }, ...sasl } })

const secret = (mechanism: string) => (OAUTH.has(mechanism) ? CANARY_TOKEN : CANARY)

const ALL = [...NAMED, "auto"] as const

describe("the canary never shows outside the wire", () => {
  for (const mode of MODES) {
    const allowPlaintext = mode === "none"

    it.each(ALL)(`tls ${mode}: %s succeeding`, async (mechanism) => {
      const exit = await scenario(mechanism, canaryServer(), mode, { user: USER, password: secret(mechanism), mechanism, allowPlaintext })
      expect(Exit.isSuccess(exit)).toBe(true)
    })

    it.each(ALL)(`tls ${mode}: %s with the canary as a wrong secret`, async (mechanism) => {
      const exit = await scenario(mechanism, otherServer(), mode, { user: USER, password: secret(mechanism), mechanism, allowPlaintext })
      expect(Exit.isFailure(exit)).toBe(true)
    })

    it.each(ALL)(`tls ${mode}: %s with CR, LF or NUL in the password`, async (mechanism) => {
      for (const bad of [`${secret(mechanism)}\r\nDELE 1`, `${secret(mechanism)}\nQUIT`, `x\r${secret(mechanism)}`, `${secret(mechanism)}\u0000`]) {
        const exit = await scenario(`${mechanism} ${JSON.stringify(bad)}`, otherServer(), mode, { user: USER, password: bad, mechanism, allowPlaintext })
        expect(Exit.isFailure(exit)).toBe(true)
      }
    })
  }

  it.each(ALL)("tls none without allowPlaintext: %s", async (mechanism) => {
    await scenario(mechanism, canaryServer(), "none", { user: USER, password: secret(mechanism), mechanism })
  })

  it.each(["xoauth2", "oauthbearer"])("the OAuth error path: %s with a rejected token", async (mechanism) => {
    const server = otherServer()
    const exit = await scenario(mechanism, server, "implicit", { user: USER, password: CANARY_TOKEN, mechanism })
    expect(Exit.isFailure(exit)).toBe(true)
    // The error challenge was answered (the path this scenario is about).
    expect(server.commands).toContain(mechanism === "xoauth2" ? "" : "AQ==")
  })

  it("a 2 KB OAuth token after + (Office 365)", async () => {
    const token = `${CANARY_TOKEN}.${"A".repeat(2000)}`
    const server = authServer({ store: makeStore({ password: CANARY }), sasl: { oauthTokens: { [USER]: token }, oauthRequireContinuation: true } })
    expect(Exit.isSuccess(await scenario("xoauth2 2 KB", server, "implicit", { user: USER, password: token, mechanism: "xoauth2" }))).toBe(true)
    expect(Exit.isFailure(await scenario("xoauth2 2 KB wrong", otherServer({ oauthRequireContinuation: true }), "implicit", { user: USER, password: token, mechanism: "xoauth2" }))).toBe(true)
  })

  for (const mechanism of ["auto", "scram-sha-1", "scram-sha-256"]) {
    it(`a wrong SCRAM server signature (${mechanism})`, async () => {
      const exit = await scenario(mechanism, canaryServer({ sasl: { scramWrongSignature: true } }), "implicit", { user: USER, password: CANARY, mechanism })
      expect(Exit.isFailure(exit)).toBe(true)
    })

    it(`no SCRAM server signature (${mechanism})`, async () => {
      const exit = await scenario(mechanism, canaryServer({ sasl: { scramNoSignature: true } }), "implicit", { user: USER, password: CANARY, mechanism })
      expect(Exit.isFailure(exit)).toBe(true)
    })
  }

  it("a SCRAM password SASLprep prohibits", async () => {
    const exit = await scenario("scram", canaryServer(), "implicit", { user: USER, password: `${CANARY}\u0007`, mechanism: "scram-sha-256" })
    expect(Exit.isFailure(exit)).toBe(true)
  })

  it.each(["login", "cram-md5", "scram-sha-256", "plain", "xoauth2", "oauthbearer"])("a server that never stops challenging (%s)", async (mechanism) => {
    const exit = await scenario(mechanism, canaryServer({ sasl: { challengeForever: true } }), "implicit", { user: USER, password: secret(mechanism), mechanism })
    expect(Exit.isFailure(exit)).toBe(true)
  })

  it.each([
    { loginFailure: "[SYS/TEMP] Backend unavailable" },
    { loginFailure: "[SYS/PERM] Account disabled" },
    { inUse: true },
    { loginDelay: 900 },
    { closeAfterAuthFailure: true }
  ] satisfies ReadonlyArray<Behaviour>)("refusals with response codes: %j", async (behaviour) => {
    for (const mechanism of ALL) {
      const exit = await scenario(mechanism, canaryServer({ behaviour }), "implicit", { user: USER, password: behaviour.closeAfterAuthFailure ? "x" + secret(mechanism) : secret(mechanism), mechanism })
      expect(Exit.isFailure(exit), mechanism).toBe(true)
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
    const exit = await scenario("reconnect", server, "implicit", { user: USER, password: CANARY })
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(server.connections()).toBe(2)
  })
})

describe("the CLI never prints the canary", () => {
  const cli = async (server: AuthServer, args: ReadonlyArray<string>, password: string): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = ""
    let stderr = ""
    const code = await main(args, {
      stdout: async (bytes) => {
        stdout += typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)
      },
      stderr: (text) => {
        stderr += text + "\n"
      },
      env: { POP3_PASSWORD: password },
      readFile: () => "",
      transport: server.layer
    })
    seen.cliRuns++
    expect(leaksIn(stdout), `stdout of pop3 ${args.join(" ")}: ${stdout}`).toEqual([])
    expect(leaksIn(stderr), `stderr of pop3 ${args.join(" ")}: ${stderr}`).toEqual([])
    crossedTheWire(server)
    return { code, stdout, stderr }
  }

  const argv = (mode: Mode, mechanism: string, ...extra: ReadonlyArray<string>) => [
    "--host", "memory.test", "--tls", mode, "--user", USER, "--auth", mechanism, "--timeout", "2", ...extra, "stat"
  ]

  for (const mode of MODES) {
    it.each(ALL)(`tls ${mode}: %s, success and failure, with --trace and with --json`, async (mechanism) => {
      for (const extra of [["--trace"], ["--json"], ["--trace", "--json"]]) {
        const ok = await cli(canaryServer(), argv(mode, mechanism, ...extra), secret(mechanism))
        expect(ok.code, ok.stderr).toBe(0)
        expect(ok.stdout).toContain(extra.includes("--json") ? `"count":${MESSAGES.length}` : `${MESSAGES.length} `)
        if (extra.includes("--trace")) expect(ok.stderr).toMatch(/C: (AUTH|USER|APOP) /)

        const refused = await cli(otherServer(), argv(mode, mechanism, ...extra), secret(mechanism))
        expect(refused.code, refused.stderr).toBe(1)
        expect(refused.stderr).toMatch(/login failed/)

        const injected = await cli(otherServer(), argv(mode, mechanism, ...extra), `${secret(mechanism)}\r\nDELE 1`)
        expect([1, 2]).toContain(injected.code)
      }
    })
  }

  it.each(["xoauth2", "oauthbearer"])("the OAuth error JSON is printed, the token is not (%s)", async (mechanism) => {
    const { code, stderr } = await cli(otherServer(), argv("implicit", mechanism, "--trace"), CANARY_TOKEN)
    expect(code).toBe(1)
    expect(stderr).toContain('"status":')
  })

  it("a wrong SCRAM signature, and no signature", async () => {
    for (const sasl of [{ scramWrongSignature: true }, { scramNoSignature: true }]) {
      const { code, stderr } = await cli(canaryServer({ sasl }), argv("implicit", "auto", "--trace"), CANARY)
      expect(code).toBe(1)
      expect(stderr).toMatch(/SCRAM-SHA-256/)
    }
  })
})

describe("the search itself", () => {
  it("observed a great deal, and the canary did cross the wire", () => {
    console.log(`secrets: ${seen.events} trace events, ${seen.errors} errors, ${seen.cliRuns} CLI runs checked; the canary crossed the wire in ${seen.wireLeaks} sessions`)
    expect(seen.events).toBeGreaterThan(1000)
    expect(seen.errors).toBeGreaterThan(100)
    expect(seen.cliRuns).toBeGreaterThan(100)
    expect(seen.wireLeaks).toBeGreaterThan(50)
  })

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
