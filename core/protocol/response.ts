/**
 * Status lines (`+OK`, `-ERR`, `+` continuation) and RFC 2449 extended response codes.
 *
 * A line is classified by its whole first token, never by its first character:
 * hMailServer once answered "+ERR", which a first-character test would call success.
 *
 * @module
 */
import { asciiText } from "./bytes.ts"
import { excerptOf, RemoteProtocolError } from "./errors.ts"

/**
 * An RFC 2449 §8 response code, upper-cased (`AUTH`, `SYS/TEMP`, `SYS/PERM`, `IN-USE`,
 * `LOGIN-DELAY`, `UTF8`, …). Unknown codes are kept as sent.
 * @category models
 */
export type ResponseCode = "AUTH" | "SYS/TEMP" | "SYS/PERM" | "IN-USE" | "LOGIN-DELAY" | "UTF8" | (string & {})

/**
 * A parsed status line.
 * - `ok` / `err`: `+OK` / `-ERR`, with the optional `[CODE]` and the human text after it.
 * - `continuation`: a SASL `+ ` line; `text` is the (base64) challenge, possibly empty.
 * @category models
 */
export interface StatusLine {
  readonly kind: "ok" | "err" | "continuation"
  readonly code: ResponseCode | undefined
  readonly text: string
}

const text = new TextDecoder("utf-8", { fatal: false })

/**
 * Decodes status-line bytes for display; invalid UTF-8 becomes U+FFFD rather than an error,
 * because servers put Latin-1 in their messages.
 * @category parsing
 */
export const decodeText = (bytes: Uint8Array): string => asciiText(bytes) ?? text.decode(bytes)

/**
 * Parses one status line (without its line end).
 * @category parsing
 */
export const parseStatusLine = (line: Uint8Array): StatusLine => {
  const s = decodeText(line)
  const space = s.indexOf(" ")
  const token = space < 0 ? s : s.slice(0, space)
  const rest = space < 0 ? "" : s.slice(space + 1)
  switch (token.toUpperCase()) {
    case "+OK":
      return { kind: "ok", ...splitCode(rest) }
    case "-ERR":
      return { kind: "err", ...splitCode(rest) }
    case "+":
      return { kind: "continuation", code: undefined, text: rest.trim() }
    default:
      // An empty line has no excerpt to show: say what came instead (MailKit #1634).
      throw line.length === 0
        ? new RemoteProtocolError("expected +OK, -ERR or a + continuation, got an empty line")
        : new RemoteProtocolError("expected +OK, -ERR or a + continuation", excerptOf(line))
  }
}

const splitCode = (rest: string): { code: ResponseCode | undefined; text: string } => {
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]")
    // A code is one atom with "/" separators; anything else in brackets is just text.
    if (close > 1 && !/\s/.test(rest.slice(1, close))) {
      return { code: rest.slice(1, close).toUpperCase(), text: rest.slice(close + 1).trim() }
    }
  }
  return { code: undefined, text: rest.trim() }
}

const RETRYABILITY: ReadonlyArray<readonly [ResponseCode, "temporary" | "permanent"]> = [
  ["SYS/TEMP", "temporary"],
  ["IN-USE", "temporary"],
  ["LOGIN-DELAY", "temporary"],
  ["AUTH", "permanent"],
  ["SYS/PERM", "permanent"]
]

/**
 * Whether retrying later can help, from RFC 2449 / RFC 3206 codes: `SYS/TEMP`, `IN-USE`
 * and `LOGIN-DELAY` are temporary; `AUTH` and `SYS/PERM` are permanent; anything else
 * is unknown. Codes are hierarchical (RFC 2449 §8: unknown detail levels are ignored), so
 * `SYS/PERM/QUOTA` is permanent — but `SYS/TEMPORARY` is not `SYS/TEMP`.
 * @category parsing
 */
export const retryability = (code: ResponseCode | undefined): "temporary" | "permanent" | "unknown" => {
  if (code === undefined) return "unknown"
  for (const [known, kind] of RETRYABILITY) {
    if (code === known || code.startsWith(`${known}/`)) return kind
  }
  return "unknown"
}
