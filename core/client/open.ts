/**
 * Opening the socket and mapping the transport's generic failures to our errors.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import type { Target } from "../transport/transport.ts"
import { TLS_FAILURE, Transport } from "../transport/transport.ts"
import { ConnectError, type Pop3Error, TimeoutError, TlsError } from "../errors.ts"
import { hostPort } from "../host.ts"

// One line: OpenSSL messages end in "\n", and an error is printed as one line (CLI, logs).
const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return oneLine(
      typeof code === "string" && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message
    )
  }
  return oneLine(String(cause))
}

// Verification failures that mean "no trusted CA signed this certificate" (OpenSSL codes
// as Node and Bun report them; rustls's words on Deno).
const UNTRUSTED =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_UNTRUSTED)$|UnknownIssuer/
// The peer answered the ClientHello with something that is not TLS (a plaintext POP3 greeting).
const NOT_TLS =
  /WRONG_VERSION_NUMBER|wrong version number|packet length too long|record overflow|InvalidContentType|invalid content type/i
// Node's advice is for its own command line, not for this library's users.
const NODE_ADVICE = /;?\s*if the root CA is installed locally, try running Node\.js with --use-system-ca/i

const tlsError = (target: Target, text: string, code: string): TlsError => {
  if (NOT_TLS.test(code) || NOT_TLS.test(text)) {
    return new TlsError({
      host: target.servername,
      reason: "the server did not answer with TLS (is this a plaintext port?)",
      problem: "not-tls"
    })
  }
  const reason = text.replace(NODE_ADVICE, "")
  return UNTRUSTED.test(code) || UNTRUSTED.test(text)
    ? new TlsError({
        host: target.servername,
        reason: `${reason} — the certificate is not signed by a trusted CA`,
        problem: "untrusted-certificate"
      })
    : new TlsError({ host: target.servername, reason })
}

/**
 * Maps a socket failure during connect or TLS to `ConnectError`, `TlsError` or `TimeoutError`.
 * @category errors
 */
export const classifySocketError = (
  target: Target,
  error: Socket.SocketError,
  tlsPhase: boolean,
  transport?: Transport["Service"]
) => {
  const precise = transport?.classify?.(error)
  if (precise !== undefined) return precise
  const reason = error.reason
  if (reason._tag === "SocketOpenError" && reason.kind === "Timeout") {
    return new TimeoutError({
      operation: `connecting to ${hostPort(target.host, target.port)}`,
      millis: target.connectTimeoutMillis
    })
  }
  const cause = "cause" in reason ? reason.cause : undefined
  const text = cause === undefined ? reason.message : describe(cause)
  const code = cause instanceof Error ? String((cause as { code?: unknown }).code ?? "") : ""
  if (
    tlsPhase ||
    reason._tag === "SocketUpgradeError" ||
    TLS_FAILURE.test(code) ||
    (target.tls === "implicit" && (TLS_FAILURE.test(text) || NOT_TLS.test(text)))
  ) {
    return tlsError(target, text, code)
  }
  if (reason._tag === "SocketCloseError") {
    return new ConnectError({
      host: target.host,
      port: target.port,
      reason: `closed before the greeting (${reason.message})`
    })
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
  Effect.gen(function* () {
    const transport = yield* Transport
    const socket = yield* transport.open(target)
    const reader = yield* socket.reader.pipe(
      Effect.mapError((error) => classifySocketError(target, error, false, transport)),
      Effect.timeoutOrElse({
        duration: target.connectTimeoutMillis,
        orElse: () =>
          Effect.fail(
            new TimeoutError({
              operation: `connecting to ${hostPort(target.host, target.port)}`,
              millis: target.connectTimeoutMillis
            })
          )
      })
    )
    const writer = yield* socket.writer
    return { reader, writer, transport }
  })
