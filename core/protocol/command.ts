/**
 * POP3 commands as data, and the encoder that turns one into wire bytes.
 *
 * The encoder is the only way bytes reach the server, so it is where injection is
 * stopped: CR, LF or NUL in any argument, and any line over the RFC 2449 limit, are
 * refused before anything is written (CPython #94019: a newline in a password became a
 * second command). Each encoded command also carries a redacted rendering for traces,
 * made here — at the source — so no observer ever sees a secret.
 *
 * @module
 */
import { asciiBytes } from "./bytes.ts"
import { LocalProtocolError } from "./errors.ts"
import { MAX_COMMAND_LINE, MAX_SASL_LINE } from "./limits.ts"

/**
 * A POP3 command (RFC 1939, CAPA from RFC 2449, STLS from RFC 2595, AUTH from RFC 5034,
 * UTF8 from RFC 6856). `SaslResponse` is a client line inside an AUTH exchange.
 * @category models
 */
export type Command =
  | { readonly name: "USER"; readonly user: string }
  | { readonly name: "PASS"; readonly password: string }
  | { readonly name: "APOP"; readonly user: string; readonly digest: string }
  | { readonly name: "AUTH"; readonly mechanism: string; readonly initialResponse?: string | undefined }
  | { readonly name: "SaslResponse"; readonly response: string }
  | { readonly name: "STAT" }
  | { readonly name: "LIST"; readonly msg?: number | undefined }
  | { readonly name: "UIDL"; readonly msg?: number | undefined }
  | { readonly name: "RETR"; readonly msg: number }
  | { readonly name: "TOP"; readonly msg: number; readonly lines: number }
  | { readonly name: "DELE"; readonly msg: number }
  | { readonly name: "NOOP" }
  | { readonly name: "RSET" }
  | { readonly name: "QUIT" }
  | { readonly name: "CAPA" }
  | { readonly name: "STLS" }
  | { readonly name: "UTF8" }

/**
 * The names of all commands.
 * @category models
 */
export type CommandName = Command["name"]

/**
 * A command ready for the wire.
 * @category models
 */
export interface EncodedCommand {
  readonly command: Command
  /** The exact bytes to write, CRLF included. */
  readonly bytes: Uint8Array
  /** The line as a trace may show it: secrets replaced by `****`, no CRLF. */
  readonly redacted: string
  /** Whether a `+OK` answer is followed by a multi-line body ending in `.`. */
  readonly multiline: boolean
}

/**
 * What a trace shows in place of a secret.
 * @category redaction
 */
export const REDACTED = "****"

const utf8 = new TextEncoder()

/**
 * Whether `+OK` to this command starts a multi-line response (RFC 1939 §3).
 * @category models
 */
export const isMultiline = (command: Command): boolean => {
  switch (command.name) {
    case "LIST":
    case "UIDL":
      return command.msg === undefined
    case "RETR":
    case "TOP":
    case "CAPA":
      return true
    default:
      return false
  }
}

/**
 * The first CR, LF or NUL in a value — characters that would end a command line early —
 * as its position and name (never the value: it may be a password).
 * @category validation
 */
export const lineBreakIn = (
  value: string
): { readonly index: number; readonly name: "CR" | "LF" | "NUL" } | undefined => {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 13 || c === 10 || c === 0) return { index: i, name: c === 0 ? "NUL" : c === 13 ? "CR" : "LF" }
  }
  return undefined
}

const checkText = (command: CommandName, what: string, value: string, allowSpace: boolean): void => {
  const unsafe = lineBreakIn(value)
  if (unsafe !== undefined) {
    throw new LocalProtocolError(
      "InvalidArgument",
      `${command}: the ${what} contains a ${unsafe.name} character at position ${unsafe.index}, which would end the command line early`
    )
  }
  if (!allowSpace && value.includes(" ")) {
    throw new LocalProtocolError("InvalidArgument", `${command}: the ${what} must not contain a space`)
  }
}

const checkInteger = (command: CommandName, what: string, n: number, min: number): void => {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new LocalProtocolError("InvalidArgument", `${command}: ${what} must be an integer ≥ ${min}, got ${String(n)}`)
  }
}

const checkNumber = (command: CommandName, what: string, n: number, min: number): string => {
  checkInteger(command, what, n, min)
  return String(n)
}

const lineOf = (command: Command): { line: string; redacted: string } => {
  switch (command.name) {
    case "USER":
      if (command.user === "") throw new LocalProtocolError("InvalidArgument", "USER: the user name is empty")
      checkText("USER", "user name", command.user, true)
      return { line: `USER ${command.user}`, redacted: `USER ${command.user}` }
    case "PASS":
      checkText("PASS", "password", command.password, true)
      return { line: `PASS ${command.password}`, redacted: `PASS ${REDACTED}` }
    case "APOP":
      if (command.user === "") throw new LocalProtocolError("InvalidArgument", "APOP: the user name is empty")
      checkText("APOP", "user name", command.user, false)
      checkText("APOP", "digest", command.digest, false)
      return { line: `APOP ${command.user} ${command.digest}`, redacted: `APOP ${command.user} ${REDACTED}` }
    case "AUTH": {
      checkText("AUTH", "mechanism", command.mechanism, false)
      if (command.mechanism === "") throw new LocalProtocolError("InvalidArgument", "AUTH: the mechanism is empty")
      if (command.initialResponse === undefined) {
        return { line: `AUTH ${command.mechanism}`, redacted: `AUTH ${command.mechanism}` }
      }
      checkText("AUTH", "initial response", command.initialResponse, false)
      // RFC 5034 §4: an empty initial response is sent as a single "=".
      return {
        line: `AUTH ${command.mechanism} ${command.initialResponse === "" ? "=" : command.initialResponse}`,
        redacted: `AUTH ${command.mechanism} ${REDACTED}`
      }
    }
    case "SaslResponse":
      checkText("AUTH", "SASL response", command.response, false)
      // "*" cancels the exchange (RFC 5034 §4); it is not a secret and helps the reader.
      return { line: command.response, redacted: command.response === "*" ? "*" : REDACTED }
    case "LIST":
    case "UIDL": {
      const line =
        command.msg === undefined
          ? command.name
          : `${command.name} ${checkNumber(command.name, "the message number", command.msg, 1)}`
      return { line, redacted: line }
    }
    case "RETR":
    case "DELE": {
      const line = `${command.name} ${checkNumber(command.name, "the message number", command.msg, 1)}`
      return { line, redacted: line }
    }
    case "TOP": {
      const line = `TOP ${checkNumber("TOP", "the message number", command.msg, 1)} ${checkNumber("TOP", "the line count", command.lines, 0)}`
      return { line, redacted: line }
    }
    default:
      return { line: command.name, redacted: command.name }
  }
}

/**
 * Refuses what `encodeCommand` would refuse, without encoding: a command with only message
 * numbers (and a line count) is checked as numbers — its line is at most 39 octets, far
 * under the limit — so checking a pipelined batch up front costs no bytes, strings or
 * objects per command; any other command is encoded and the result dropped.
 * @category encoding
 */
export const validateCommand = (command: Command): void => {
  switch (command.name) {
    case "RETR":
    case "DELE":
      checkInteger(command.name, "the message number", command.msg, 1)
      return
    case "TOP":
      checkInteger("TOP", "the message number", command.msg, 1)
      checkInteger("TOP", "the line count", command.lines, 0)
      return
    default:
      encodeCommand(command)
  }
}

/**
 * Encodes a command, refusing unsafe arguments and over-long lines with a
 * `LocalProtocolError` before any byte exists.
 * @category encoding
 */
export const encodeCommand = (command: Command): EncodedCommand => {
  const { line, redacted } = lineOf(command)
  const full = line + "\r\n"
  const bytes = asciiBytes(full) ?? utf8.encode(full)
  const limit = command.name === "SaslResponse" ? MAX_SASL_LINE : MAX_COMMAND_LINE
  if (bytes.length > limit) {
    throw new LocalProtocolError(
      "LineTooLong",
      `${command.name === "SaslResponse" ? "AUTH" : command.name}: the command line is ${bytes.length} octets, over the ${limit}-octet limit`
    )
  }
  return { command, bytes, redacted, multiline: isMultiline(command) }
}
