/**
 * Opening the socket and mapping the transport's generic failures to our errors.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import type { Target } from "../transport/transport.ts"
import { Transport } from "../transport/transport.ts"
import { ConnectError, type Pop3Error, TimeoutError, TlsError } from "./errors.ts"

// Node/OpenSSL error codes and messages that mean "TLS failed", not "could not connect".
const TLS_FAILURE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|HANDSHAKE|certificate|wrong version number/i

// One line: OpenSSL messages end in "\n", and an error is printed as one line (CLI, logs).
const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return oneLine(typeof code === "string" && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message)
  }
  return oneLine(String(cause))
}

/**
 * Maps a socket failure during connect or TLS to `ConnectError`, `TlsError` or `TimeoutError`.
 * @category errors
 */
export const classifySocketError = (target: Target, error: Socket.SocketError, tlsPhase: boolean, transport?: Transport["Service"]) => {
  const precise = transport?.classify?.(error)
  if (precise !== undefined) return precise
  const reason = error.reason
  if (reason._tag === "SocketOpenError" && reason.kind === "Timeout") {
    return new TimeoutError({ operation: `connecting to ${target.host}:${target.port}`, millis: target.connectTimeoutMillis })
  }
  const cause = "cause" in reason ? reason.cause : undefined
  const text = cause === undefined ? reason.message : describe(cause)
  const code = cause instanceof Error ? String((cause as { code?: unknown }).code ?? "") : ""
  if (tlsPhase || reason._tag === "SocketUpgradeError" || TLS_FAILURE.test(code) || (target.tls === "implicit" && TLS_FAILURE.test(text))) {
    return new TlsError({ host: target.servername, reason: text })
  }
  if (reason._tag === "SocketCloseError") {
    return new ConnectError({ host: target.host, port: target.port, reason: `closed before the greeting (${reason.message})` })
  }
  return new ConnectError({ host: target.host, port: target.port, reason: text })
}

/**
 * Opens the transport's socket in the current scope and returns its reader and writer.
 * @category constructors
 */
export const openSocket = (
  target: Target
): Effect.Effect<
  { readonly reader: Socket.Reader; readonly writer: Socket.Writer; readonly transport: Transport["Service"] },
  Pop3Error,
  Transport | Scope.Scope
> =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const socket = yield* transport.open(target)
    const reader = yield* socket.reader.pipe(
      Effect.mapError((error) => classifySocketError(target, error, false, transport)),
      Effect.timeoutOrElse({
        duration: target.connectTimeoutMillis,
        orElse: () =>
          Effect.fail(new TimeoutError({ operation: `connecting to ${target.host}:${target.port}`, millis: target.connectTimeoutMillis }))
      })
    )
    const writer = yield* socket.writer
    return { reader, writer, transport }
  })
