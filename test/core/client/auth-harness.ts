// Helpers for the login tests (auth.test.ts, secrets.test.ts, test/core/auth/sasl.test.ts):
// the dev server with its SASL mechanisms behind the in-memory transport, recording every
// line the client sent (secrets included) and how many connections it opened.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { connect, type LoginOptions, type Mailbox } from "../../../core/client/client.ts"
import type { Pop3Error } from "../../../core/errors.ts"
import type { ConnectOptions } from "../../../core/client/options.ts"
import type { TraceEvent } from "../../../core/client/trace.ts"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import type { Transport } from "../../../core/transport/transport.ts"
import { type SaslOptions, saslMechanisms } from "../../../dev-server/sasl.ts"
import type { Behaviour, CommandTable, MailStore, SaslMechanism } from "../../../dev-server/server.ts"
import { makeMailStore, serveConnection } from "../../../dev-server/server.ts"

export const USER = "alice"
export const PASSWORD = "alice-pw"
/** alice's OAuth access token (XOAUTH2 / OAUTHBEARER). */
export const TOKEN = "ya29.alice-token"
export const UTF8_USER = "jürgen"
export const UTF8_PASSWORD = "jürgens-pässwort"

export const MESSAGES = ["Subject: one\r\n\r\nfirst\r\n", "Subject: two\r\n\r\nsecond\r\n"] as const

export type Mode = "none" | "implicit"
export const MODES: ReadonlyArray<Mode> = ["none", "implicit"]

/** Every mechanism `login` accepts by name, as the CLI spells them. */
export const NAMED = [
  "user",
  "apop",
  "plain",
  "login",
  "cram-md5",
  "scram-sha-1",
  "scram-sha-256",
  "xoauth2",
  "oauthbearer"
] as const
export type Named = (typeof NAMED)[number]
export const PLAINTEXT: ReadonlySet<Named> = new Set(["user", "plain", "login", "xoauth2", "oauthbearer"])
export const OAUTH: ReadonlySet<string> = new Set(["xoauth2", "oauthbearer"])

export const makeStore = (options: { readonly password?: string; readonly utf8Password?: string } = {}): MailStore =>
  makeMailStore({
    [USER]: { password: options.password ?? PASSWORD, messages: [...MESSAGES] },
    [UTF8_USER]: { password: options.utf8Password ?? UTF8_PASSWORD, messages: [MESSAGES[0]] }
  })

export interface AuthServerOptions {
  readonly store?: MailStore
  readonly behaviour?: Behaviour
  /** Options of the dev server's SASL mechanisms (tokens default to alice's TOKEN). */
  readonly sasl?: SaslOptions
  /** The SASL mechanisms offered, by name (default: all of the dev server's). */
  readonly offer?: ReadonlyArray<string>
  /** Replaces the SASL mechanisms entirely. */
  readonly mechanisms?: ReadonlyArray<SaslMechanism>
  readonly commands?: CommandTable
}

export interface AuthServer {
  readonly layer: Layer.Layer<Transport>
  readonly store: MailStore
  /** Every line the client sent, in order, across connections (secrets included). */
  readonly commands: Array<string>
  /** How many connections the client opened. */
  readonly connections: () => number
}

export const authServer = (options: AuthServerOptions = {}): AuthServer => {
  const store = options.store ?? makeStore()
  const commands: Array<string> = []
  let connections = 0
  const sasl =
    options.mechanisms ??
    saslMechanisms({ oauthTokens: { [USER]: TOKEN, [UTF8_USER]: TOKEN }, ...options.sasl }, options.offer)
  const behaviour: Behaviour = {
    ...options.behaviour,
    onCommand: (line) => {
      commands.push(line)
      options.behaviour?.onCommand?.(line)
    }
  }
  const layer = MemoryTransport.layer((end) => {
    connections++
    void serveConnection(store, end, behaviour, {
      sasl,
      ...(options.commands !== undefined ? { commands: options.commands } : {})
    })
  })
  return { layer, store, commands, connections: () => connections }
}

export const connectOptions = (mode: Mode, trace?: (event: TraceEvent) => void): ConnectOptions => ({
  host: "memory.test",
  tls: mode,
  timeout: 2000,
  ...(trace !== undefined ? { trace } : {})
})

/** Runs a scoped program against a transport layer. */
export const run = <A, E>(
  layer: Layer.Layer<Transport>,
  program: Effect.Effect<A, E, Transport | Scope.Scope>
): Promise<Exit.Exit<A, E>> => Effect.runPromiseExit(program.pipe(Effect.scoped, Effect.provide(layer)))

/** Connects, logs in and runs `then` on the mailbox (STAT by default). */
export const loginAndThen = <A = { readonly count: number; readonly size: number }>(
  server: AuthServer,
  mode: Mode,
  login: LoginOptions,
  options: {
    readonly trace?: (event: TraceEvent) => void
    readonly then?: (mailbox: Mailbox) => Effect.Effect<A, Pop3Error>
  } = {}
): Promise<Exit.Exit<A, Pop3Error>> =>
  run(
    server.layer,
    Effect.gen(function* () {
      const session = yield* connect(connectOptions(mode, options.trace))
      const mailbox = yield* session.login(login)
      return yield* (options.then ?? ((m: Mailbox) => m.stat as unknown as Effect.Effect<A, Pop3Error>))(mailbox)
    })
  )

/** The value of a successful exit; throws (with the cause) otherwise. */
export const success = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected success, got ${Cause.pretty(exit.cause)}`)
}

/** The typed error of a failed exit; throws when it succeeded or died. */
export const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got success: ${JSON.stringify(exit.value)}`)
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  if (reason === undefined) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return reason.error
}

/** The secret `login` needs for a mechanism: the OAuth token or the password. */
export const secretFor = (mechanism: string, password = PASSWORD, token = TOKEN): string =>
  OAUTH.has(mechanism) ? token : password

/** The upper-case name `AuthError.attempts` uses. */
export const upper = (mechanism: string): string => mechanism.toUpperCase()

/** The lines that start a login attempt (USER, APOP, AUTH), in order. */
export const attemptLines = (commands: ReadonlyArray<string>): Array<string> =>
  commands.filter((l) => /^(USER|APOP|AUTH) /i.test(l))

/** The mechanism each login attempt used, from the lines the server saw. */
export const attemptedMechanisms = (commands: ReadonlyArray<string>): Array<string> =>
  attemptLines(commands).map((l) => {
    const [keyword = "", mechanism = ""] = l.split(" ")
    return keyword.toUpperCase() === "AUTH" ? mechanism.toUpperCase() : keyword.toUpperCase()
  })
