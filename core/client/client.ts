/**
 * The POP3 client: connect, log in, work with the mailbox.
 *
 * The types follow the protocol's states: `connect` gives an `Authorization` session,
 * which can only log in or quit; `login` gives a `Mailbox` (TRANSACTION), the only value
 * with `retr`, `dele` and friends. Calls that still reach the engine in the wrong state
 * (for example after `quit`) fail with `InvalidState`.
 *
 * The steps live in their own files: `establish.ts` (socket, greeting, CAPA, STLS),
 * `login.ts` (the mechanisms from `../auth/registry.ts`, tried in order, with reconnect)
 * and `mailbox.ts` (the TRANSACTION commands); this file puts them together.
 *
 * The connection lives in the caller's `Scope`. Closing the scope ends the session: after
 * success it sends QUIT (committing deletions, as POP3 defines); after a failure or an
 * interruption it sends RSET first, so nothing is deleted by a session that went wrong —
 * some servers (Eudora QPOP) apply deletions on any disconnect.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidArgument, type Pop3Error, type ProtocolError } from "../errors.ts"
import type { Capabilities } from "../protocol/parse.ts"
import type { State } from "../protocol/state.ts"
import type { Transport } from "../transport/transport.ts"
import { establish, type Greeting } from "./establish.ts"
import { type LoginOptions, makeLogin, type SessionState } from "./login.ts"
import type { Mailbox } from "./mailbox.ts"
import { BodyLimits, bodyTooLong, type ConnectOptions, invalidOptions, resolveOptions } from "./options.ts"
import { quit, readCapa } from "./read.ts"

export type { Greeting } from "./establish.ts"
export type { LoginOptions, LoginSettings } from "./login.ts"
export type { Listings, Mailbox, Message } from "./mailbox.ts"

/**
 * A session in the AUTHORIZATION state.
 * @category models
 */
export interface Authorization {
  readonly greeting: Greeting
  /** The latest CAPA answer (re-read after STLS); empty when the server has no CAPA. */
  readonly capabilities: () => Capabilities
  /** Whether the connection is encrypted. */
  readonly secure: boolean
  readonly state: () => State
  readonly capa: Effect.Effect<Capabilities, Pop3Error>
  readonly login: (options: LoginOptions) => Effect.Effect<Mailbox, Pop3Error>
  readonly quit: Effect.Effect<void, Pop3Error>
}

/**
 * Collects a body stream into one byte array.
 * @category helpers
 */
export const collect = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<Uint8Array, E | ProtocolError, R> =>
  Effect.gen(function* () {
    const { octets } = yield* BodyLimits
    let total = 0
    return yield* Stream.mkUint8Array(
      Stream.mapEffect(stream, (bytes) => {
        total += bytes.length
        return total > octets ? Effect.fail(bodyTooLong(octets)) : Effect.succeed(bytes)
      })
    )
  })

/**
 * Connects, reads the greeting and capabilities, and does STLS when asked.
 * @category constructors
 */
export const connect = (options: ConnectOptions): Effect.Effect<Authorization, Pop3Error, Transport | Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = invalidOptions(options)
    if (invalid !== undefined) return yield* new InvalidArgument({ reason: invalid })
    const resolved = resolveOptions(options)
    const context = yield* Effect.context<Transport | Scope.Scope>()
    const first = yield* establish(resolved)
    const session: SessionState = { current: first, capabilities: first.capabilities, ended: false }
    // Some servers (free.fr; MailKit #856) hang up after a failed login: the next
    // mechanism then needs a new connection.
    const reconnect = Effect.gen(function* () {
      session.current = yield* Effect.provideContext(establish(resolved), context)
      session.capabilities = session.current.capabilities
    })
    return {
      greeting: first.greeting,
      capabilities: () => session.capabilities,
      secure: first.secure,
      state: () => session.current.conn.state(),
      capa: Effect.suspend(() =>
        session.current.conn.lock.withPermits(1)(
          Effect.tap(readCapa(session.current.conn), (c) => Effect.sync(() => (session.capabilities = c)))
        )
      ),
      login: makeLogin(resolved, session, reconnect),
      quit: Effect.suspend(() => {
        session.ended = true
        return session.current.conn.lock.withPermits(1)(quit(session.current.conn))
      })
    } satisfies Authorization
  })
