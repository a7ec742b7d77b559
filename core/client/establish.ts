/**
 * Establishing a session: open the socket, read the greeting, and either ask CAPA or, when
 * asked, do STLS and then ask CAPA (RFC 2595). Used by `connect`, and by `login` when a server hung
 * up after a failed attempt and the next mechanism needs a new connection.
 *
 * @module
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { type Pop3Error, ProtocolError, ServerError, TlsError } from "../errors.ts"
import { apopTimestamp, type Capabilities, hasCapability, noCapabilities } from "../protocol/parse.ts"
import type { ResponseCode } from "../protocol/response.ts"
import { allowed, canQuit } from "../protocol/state.ts"
import { Transport } from "../transport/transport.ts"
import { type Connection, makeConnection } from "./connection.ts"
import { classifySocketError, openSocket } from "./open.ts"
import type { ResolvedOptions } from "./options.ts"
import { readCapa } from "./read.ts"

/**
 * The server's greeting.
 * @category models
 */
export interface Greeting {
  readonly text: string
  readonly code: ResponseCode | undefined
  /** The APOP timestamp, when the server offers APOP. */
  readonly apopTimestamp: string | undefined
}

/**
 * One open connection after the greeting, CAPA and (when asked) STLS.
 * @category internals
 */
export interface Established {
  readonly conn: Connection
  readonly greeting: Greeting
  readonly capabilities: Capabilities
  readonly secure: boolean
}

/**
 * Opens one connection: socket, greeting, CAPA, and STLS when asked (then CAPA again). The
 * connection lives in the current scope, whose closing leaves politely (see client.ts).
 * @category internals
 */
export const establish = (resolved: ResolvedOptions): Effect.Effect<Established, Pop3Error, Transport | Scope.Scope> =>
  Effect.gen(function* () {
    const { target, trace } = resolved
    // Trace timestamps come from Effect's Clock, so tests can drive time with TestClock.
    const clock = yield* Clock.Clock
    const now = () => clock.currentTimeMillisUnsafe()
    const { name: transportName, startTls } = yield* Transport
    // Known before connecting: fail without opening a connection (through a bridge, that
    // would be an upstream connection and a plaintext CAPA for nothing).
    if (resolved.tls === "starttls" && !startTls) {
      return yield* new TlsError({
        host: target.servername,
        reason: `the ${transportName} transport cannot do STLS; use implicit TLS`
      })
    }
    trace({
      _tag: "Connecting",
      at: now(),
      host: target.host,
      port: target.port,
      tls: resolved.tls,
      transport: transportName
    })
    const { reader, writer, transport } = yield* openSocket(target)
    trace({ _tag: "Connected", at: now() })
    const conn = yield* makeConnection({
      reader,
      writer,
      timeoutMillis: resolved.timeoutMillis,
      trace,
      now,
      classify: transport.classify,
      freshChunks: transport.freshChunks
    })

    // Leave politely when the scope closes (see the module comment for why RSET on failure).
    yield* Effect.addFinalizer((exit) =>
      Effect.suspend(() => {
        // Only from a state QUIT may be sent in (the table's). Answers still owed to commands
        // nobody reads (interrupted, or abandoned by close) are read away first by `exec`
        // (Connection.settle): dropping the socket instead would commit the deletions on
        // servers that apply them on any disconnect. Within the farewell's time limit; a
        // reader still holding the lock (a body being consumed) means no farewell.
        if (!canQuit(conn.state())) return Effect.void
        const farewell = Effect.gen(function* () {
          if (Exit.isFailure(exit) && allowed[conn.state()].includes("RSET")) yield* conn.exec({ name: "RSET" })
          yield* conn.exec({ name: "QUIT" })
        })
        return conn.lock
          .withPermitsIfAvailable(1)(farewell)
          .pipe(
            Effect.timeout(Math.min(resolved.timeoutMillis, 5000)),
            Effect.ignore,
            Effect.andThen(
              Effect.sync(() =>
                trace({
                  _tag: "Closed",
                  at: now(),
                  reason: Exit.isFailure(exit) ? "scope closed after a failure" : "scope closed"
                })
              )
            )
          )
      })
    )

    const first = yield* conn.read("the greeting")
    if (first._tag !== "Greeting") return yield* new ProtocolError({ reason: "expected a greeting" })
    if (first.status.kind !== "ok") {
      return yield* new ServerError({ command: "(greeting)", code: first.status.code, text: first.status.text })
    }
    const greeting: Greeting = {
      text: first.status.text,
      code: first.status.code,
      apopTimestamp: apopTimestamp(first.status.text)
    }

    const secure = transport.secure?.(target) ?? target.tls === "implicit"
    // With STLS asked for, no CAPA before it: RFC 2595 §4 has the client forget what a
    // plaintext CAPA said, so it would cost a round trip for nothing. It is asked only
    // when the server refuses STLS, to say why.
    if (resolved.tls !== "starttls") return { conn, greeting, capabilities: yield* readCapa(conn), secure }
    const upgradeOptions = transport.upgradeOptions(target)
    const status = yield* Effect.flatMap(conn.write({ name: "STLS" }), (encoded) =>
      Effect.andThen(
        Effect.sync(() => transport.prepareUpgrade?.(upgradeOptions)),
        conn.status(encoded)
      )
    )
    if (status.kind !== "ok") {
      const capabilities = yield* Effect.orElseSucceed(readCapa(conn), () => noCapabilities)
      return yield* new TlsError({
        host: target.servername,
        reason: `the server refused STLS${status.text !== "" ? `: ${status.text}` : ""}${hasCapability(capabilities, "STLS") ? "" : " (it does not announce STLS; use --tls implicit, or --tls none to go without encryption)"}`
      })
    }
    yield* conn
      .upgrade(upgradeOptions)
      .pipe(
        Effect.mapError((error) =>
          error._tag === "TimeoutError" ? error : classifySocketError(target, error, true, transport)
        )
      )
    return { conn, greeting, capabilities: yield* readCapa(conn), secure: true }
  })
