// A scripted AuthExchange for the mechanisms' unit tests: every command goes through the
// real encoder (so a line the wire would refuse fails here too) and is answered by the next
// scripted status line.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type { AuthExchange, Mechanism, PasswordCredentials } from "../../../core/auth/mechanism.ts"
import type { Pop3Error } from "../../../core/errors.ts"
import { type Command, encodeCommand } from "../../../core/protocol/command.ts"
import { noCapabilities, parseCapa } from "../../../core/protocol/parse.ts"
import { parseStatusLine, type StatusLine } from "../../../core/protocol/response.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface FakeExchange {
  readonly exchange: AuthExchange
  /** The commands sent, as data. */
  readonly commands: Array<Command>
  /** The same commands as wire lines (no CRLF), secrets included. */
  readonly lines: Array<string>
  /** The same commands as a trace shows them. */
  readonly redacted: Array<string>
}

/**
 * An exchange answering each command with the next of `replies` ("+OK", "-ERR [AUTH] no",
 * "+ <base64>"); a function reply sees the command. Running out of replies is a test bug.
 */
export const fakeExchange = (
  replies: ReadonlyArray<string | ((command: Command) => string)>,
  options: {
    readonly capa?: ReadonlyArray<string>
    readonly apopTimestamp?: string
    readonly secure?: boolean
    readonly host?: string
    readonly port?: number
  } = {}
): FakeExchange => {
  const commands: Array<Command> = []
  const lines: Array<string> = []
  const redacted: Array<string> = []
  let next = 0
  const exchange: AuthExchange = {
    host: options.host ?? "mail.example.com",
    port: options.port ?? 995,
    apopTimestamp: options.apopTimestamp,
    capabilities: options.capa === undefined ? noCapabilities : parseCapa(options.capa),
    secure: options.secure ?? true,
    abandon: () => Effect.void,
    send: (command) =>
      Effect.sync((): StatusLine => {
        const encoded = encodeCommand(command)
        commands.push(command)
        lines.push(decoder.decode(encoded.bytes).replace(/\r\n$/, ""))
        redacted.push(encoded.redacted)
        const reply = replies[next++]
        if (reply === undefined)
          throw new Error(`no scripted reply for command ${commands.length}: ${encoded.redacted}`)
        return parseStatusLine(encoder.encode(typeof reply === "string" ? reply : reply(command)))
      })
  }
  return { exchange, commands, lines, redacted }
}

export const credentials = (user: string, password: string): PasswordCredentials => ({
  user,
  password: Redacted.make(password)
})

/** Runs a mechanism against a fake exchange; `secret` is the password or, for XOAUTH2 and OAUTHBEARER, the token. */
export const authenticate = (
  mechanism: Mechanism,
  fake: FakeExchange,
  user: string,
  secret: string
): Promise<Exit.Exit<StatusLine, Pop3Error>> =>
  Effect.runPromiseExit(
    mechanism.credential === "token"
      ? mechanism.authenticate(fake.exchange, { user, token: Redacted.make(secret) })
      : mechanism.authenticate(fake.exchange, credentials(user, secret))
  )

/** The typed error of a failed exit; throws when it succeeded or died. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got success: ${JSON.stringify(exit.value)}`)
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  if (reason === undefined) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return reason.error
}

/** The value of a successful exit; throws (with the cause) otherwise. */
export const successOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected success, got ${Cause.pretty(exit.cause)}`)
}

// btoa/atob rather than Node's Buffer (or the code under test): these helpers also run in
// Chromium.
export const b64 = (text: string | Uint8Array): string =>
  btoa(Array.from(typeof text === "string" ? encoder.encode(text) : text, (b) => String.fromCharCode(b)).join(""))
export const unb64 = (text: string): string =>
  new TextDecoder().decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)))
