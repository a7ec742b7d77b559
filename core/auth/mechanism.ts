/**
 * The pluggable authentication step. A mechanism gets a small exchange API — send a
 * command, read the server's status line — and returns the final status. USER/PASS and
 * APOP live here now; SASL mechanisms (RFC 5034 AUTH) plug in through the same shape.
 *
 * @module
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { Pop3Error } from "../errors.ts"
import type { Command } from "../protocol/command.ts"
import type { Capabilities } from "../protocol/parse.ts"
import type { StatusLine } from "../protocol/response.ts"

/**
 * What a mechanism may see and do.
 * @category models
 */
export interface AuthExchange {
  /** The server's name and port, as the caller gave them (OAUTHBEARER sends them). */
  readonly host: string
  readonly port: number
  /** The greeting's APOP timestamp, if it had one. */
  readonly apopTimestamp: string | undefined
  readonly capabilities: Capabilities
  /** Whether the connection is encrypted (implicit TLS or STLS done, or a TLS bridge leg). */
  readonly secure: boolean
  /** Marks the connection unusable (nothing more is sent on it, not even QUIT). */
  readonly abandon: (reason: string) => Effect.Effect<void>
  /** Sends a command and returns the status line answering it (`-ERR` is returned, not failed). */
  readonly send: (command: Command) => Effect.Effect<StatusLine, Pop3Error>
}

/**
 * The user's credentials. The secret is `Redacted`, so printing the object shows nothing.
 * @category models
 */
export interface Credentials {
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

/**
 * An authentication mechanism.
 * @category models
 */
export interface Mechanism {
  /** The name as the CLI's `--auth` and error messages show it (`USER`, `APOP`, `PLAIN`, …). */
  readonly name: string
  /** Whether the secret crosses the wire recoverably (needs TLS unless the caller allows it). */
  readonly plaintext: boolean
  /** Whether the server appears to offer it. */
  readonly offered: (exchange: AuthExchange) => boolean
  /** Runs the exchange; the final status says whether it worked. */
  readonly authenticate: (exchange: AuthExchange, credentials: Credentials) => Effect.Effect<StatusLine, Pop3Error>
}
