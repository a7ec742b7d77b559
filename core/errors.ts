/**
 * The client's failures, as tagged data. Each says what went wrong in one line and never
 * holds a secret: commands appear only in their redacted form, server texts are the
 * server's own words.
 *
 * - `ConnectError`, `TlsError`, `TimeoutError`, `ConnectionClosed`: the network (CLI exit 3).
 * - `ProtocolError`: the server sent something that is not POP3 (CLI exit 4).
 * - `ServerError`, `AuthError`: the server said no (CLI exit 1).
 * - `InvalidArgument`, `InvalidState`: the caller asked for something impossible; nothing
 *   was sent (CLI exit 2).
 *
 * @module
 */
import { hostPort } from "./host.ts"
import * as Data from "effect/Data"
import { type ResponseCode, retryability } from "./protocol/response.ts"

/**
 * The TCP (or WebSocket) connection could not be opened.
 * @category errors
 */
export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly host: string
  readonly port: number
  readonly reason: string
}> {
  override get message() {
    return `cannot connect to ${hostPort(this.host, this.port)}: ${this.reason}`
  }
}

/**
 * TLS could not be established or verified (implicit TLS or STLS).
 * @category errors
 */
export class TlsError extends Data.TaggedError("TlsError")<{
  readonly host: string
  readonly reason: string
  /**
   * What went wrong, when it is one of the common cases a caller can act on:
   * `untrusted-certificate` — the server's chain is not to be trusted: no trusted CA signed
   * it (a private CA: pass it as `ca`) or, in end-to-end TLS, a certificate of it is not
   * for this use (key usage) or carries an extension it cannot check; `not-tls` — the server did not answer with TLS (a plaintext port:
   * use `tls: "starttls"`). End-to-end TLS (`pop3-everywhere/tls`) also says:
   * `host-name-mismatch` — the certificate is not for `servername`; `not-valid-now` — a
   * certificate of the chain has expired or is not valid yet; `protocol-version` — the
   * server does not speak TLS 1.3; `unsupported` — it needs a cipher, group or signature
   * algorithm that end-to-end TLS lacks; `bad-record-mac` — a record or the handshake failed
   * its integrity check: bytes were altered on the way; `handshake-aborted` — the server
   * ended the handshake or the session (an alert, or it hung up).
   */
  readonly problem?:
    | "untrusted-certificate"
    | "not-tls"
    | "host-name-mismatch"
    | "not-valid-now"
    | "protocol-version"
    | "unsupported"
    | "bad-record-mac"
    | "handshake-aborted"
    | undefined
}> {
  override get message() {
    return `TLS with ${this.host} failed: ${this.reason}`
  }
}

/**
 * The server did not answer within the time limit.
 * @category errors
 */
export class TimeoutError extends Data.TaggedError("TimeoutError")<{
  readonly operation: string
  readonly millis: number
}> {
  override get message() {
    return `timed out after ${this.millis} ms waiting for ${this.operation}`
  }
}

/**
 * The connection ended while the client still expected bytes, or was used after closing.
 * @category errors
 */
export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{
  readonly during: string
  readonly reason: string
}> {
  override get message() {
    return `the connection closed during ${this.during}: ${this.reason}`
  }
}

/**
 * A pop3-bridge refused the connection or lost the mail server; `code` is its WebSocket
 * close code (4001 target not allowed, 4002 bad request, 4008 limit, 4010 upstream
 * unreachable, 4011 upstream TLS failed, 4012 upstream timeout), `reason` its words.
 * @category errors
 */
export class BridgeError extends Data.TaggedError("BridgeError")<{
  readonly code: number
  readonly reason: string
}> {
  override get message() {
    return `the bridge closed the connection (${this.code}${this.reason !== "" ? `: ${this.reason}` : ""})`
  }
}

/**
 * The server broke the protocol. `excerpt` is a short, printable piece of what it sent.
 * @category errors
 */
export class ProtocolError extends Data.TaggedError("ProtocolError")<{
  readonly reason: string
}> {
  override get message() {
    return `the server broke the POP3 protocol: ${this.reason}`
  }
}

/**
 * The server answered `-ERR`. `command` is the redacted command line.
 * @category errors
 */
export class ServerError extends Data.TaggedError("ServerError")<{
  readonly command: string
  readonly code: ResponseCode | undefined
  readonly text: string
}> {
  /** Whether trying again later can help, from the response code. */
  get retry(): "temporary" | "permanent" | "unknown" {
    return retryability(this.code)
  }
  override get message() {
    return `${this.command} refused: -ERR${this.code !== undefined ? ` [${this.code}]` : ""}${this.text !== "" ? ` ${this.text}` : ""}`
  }
}

/**
 * One authentication attempt and why it failed.
 * @category models
 */
export interface AuthAttempt {
  readonly mechanism: string
  readonly code: ResponseCode | undefined
  readonly text: string
}

/**
 * Logging in failed. `attempts` lists each mechanism tried, in order, with the server's
 * answer; `retry` says whether trying later can help (`[SYS/TEMP]`, `[IN-USE]`,
 * `[LOGIN-DELAY]` are temporary; `[AUTH]` is permanent).
 * @category errors
 */
export class AuthError extends Data.TaggedError("AuthError")<{
  readonly attempts: ReadonlyArray<AuthAttempt>
  readonly reason: string
  /**
   * Nothing was sent: every usable mechanism would reveal the password — or, for CRAM-MD5,
   * APOP and SCRAM, a digest an active attacker can crack offline — on a path that is not
   * encrypted end to end. Set `allowPlaintext` (or use TLS) to proceed.
   */
  readonly plaintextRefused?: true | undefined
  /**
   * Nothing was sent: the mechanism asked for by name is one the server does not offer
   * (not in CAPA's SASL list, no APOP timestamp in the greeting, no USER capability).
   */
  readonly notOffered?: true | undefined
  /**
   * A plaintext mechanism the server offers that auto did not try after a digest one was
   * refused with `[AUTH]` (to spare the account a second failed login): the one to ask for
   * by name when the password is right but the server cannot check it with the digest.
   */
  readonly untried?: string | undefined
}> {
  get retry(): "temporary" | "permanent" | "unknown" {
    const last = this.attempts[this.attempts.length - 1]
    return retryability(last?.code)
  }
  override get message() {
    const tried = this.attempts
      .map((a) => `${a.mechanism}: ${a.code !== undefined ? `[${a.code}] ` : ""}${a.text === "" ? "refused" : a.text}`)
      .join("; ")
    const hint =
      this.retry === "temporary"
        ? " — temporary, try again later"
        : this.retry === "permanent"
          ? " — permanent, check the credentials or account"
          : ""
    return `login failed: ${this.reason}${tried !== "" ? ` (${tried})` : ""}${hint}`
  }
}

/**
 * An argument cannot be sent safely (CR/LF/NUL, too long, not a message number).
 * @category errors
 */
export class InvalidArgument extends Data.TaggedError("InvalidArgument")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/**
 * The operation is not possible in the session's current state.
 * @category errors
 */
export class InvalidState extends Data.TaggedError("InvalidState")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/**
 * Every failure of the client.
 * @category errors
 */
export type Pop3Error =
  | ConnectError
  | TlsError
  | TimeoutError
  | ConnectionClosed
  | BridgeError
  | ProtocolError
  | ServerError
  | AuthError
  | InvalidArgument
  | InvalidState
