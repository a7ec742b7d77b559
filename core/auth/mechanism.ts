/**
 * The pluggable authentication step. A mechanism gets a small exchange API — send a
 * command, read the server's status line — and returns the final status. Each mechanism
 * also carries the facts the rest of the library needs about it (its rank for `auto`,
 * what it reveals without TLS, which credential it takes, how to tell that the server
 * offers it), so `auto`, the CLI and the docs read them from one place (`registry.ts`).
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
 * A user name and password. The secret is `Redacted`, so printing the object shows nothing.
 * @category models
 */
export interface PasswordCredentials {
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

/**
 * A user name and an OAuth 2 access token (XOAUTH2, OAUTHBEARER). Redacted like a password.
 * @category models
 */
export interface TokenCredentials {
  readonly user: string
  readonly token: Redacted.Redacted<string>
}

/**
 * The user's credentials, as a mechanism receives them.
 * @category models
 */
export type Credentials = PasswordCredentials | TokenCredentials

/**
 * Which credential a mechanism takes.
 * @category models
 */
export type CredentialKind = "password" | "token"

/**
 * The credentials a mechanism taking `K` receives.
 * @category models
 */
export type CredentialsFor<K extends CredentialKind> = K extends "token" ? TokenCredentials : PasswordCredentials

/**
 * An authentication mechanism taking the credential `K`, with its facts.
 * @category models
 */
export interface MechanismOf<K extends CredentialKind> {
  /** The name as the server, the CLI's `--auth` (lower-cased) and error messages show it. */
  readonly name: string
  /** Strength: `auto` tries the offered mechanisms highest rank first. Unique in the registry. */
  readonly rank: number
  /**
   * Whether the secret crosses the wire recoverably (the password or token itself); when
   * false, what crosses is a digest an active attacker can crack offline. Either way the
   * mechanism needs an encrypted path unless the caller allows plaintext.
   */
  readonly plaintext: boolean
  /** Whether `auto` may pick it; otherwise it is used only when named. */
  readonly auto: boolean
  /** The credential it takes. */
  readonly credential: K
  /** Whether the server appears to offer it. */
  readonly offered: (exchange: AuthExchange) => boolean
  /** Why the server does not offer it, for the error when it is named anyway. */
  readonly notOffered: (exchange: AuthExchange) => string
  /** Runs the exchange; the final status says whether it worked. */
  readonly authenticate: (
    exchange: AuthExchange,
    credentials: CredentialsFor<K>
  ) => Effect.Effect<StatusLine, Pop3Error>
}

/**
 * An authentication mechanism: one taking a password or one taking a token.
 * @category models
 */
export type Mechanism = MechanismOf<"password"> | MechanismOf<"token">
