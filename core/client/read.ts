/**
 * Reading answers that every step needs: CAPA, bounded listings, parsing server text into
 * a `ProtocolError`, and QUIT.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import { type Pop3Error, ProtocolError, ServerError } from "../errors.ts"
import type { EncodedCommand } from "../protocol/command.ts"
import { RemoteProtocolError } from "../protocol/errors.ts"
import { MAX_CAPA_LINES, MAX_CAPA_OCTETS } from "../protocol/limits.ts"
import { makeLineSplitter } from "../protocol/lines.ts"
import { type Capabilities, noCapabilities, parseCapa } from "../protocol/parse.ts"
import type { Connection } from "./connection.ts"
import { ListingLimits } from "./options.ts"

/**
 * Sends CAPA and parses the answer; a server without RFC 2449 gives empty capabilities.
 * @category internals
 */
export const readCapa = (conn: Connection): Effect.Effect<Capabilities, Pop3Error> =>
  Effect.flatMap(conn.write({ name: "CAPA" }), (encoded) => capaAnswer(conn, encoded))

/**
 * Reads and parses the answer to a CAPA already written.
 * @category internals
 */
export const capaAnswer = (conn: Connection, encoded: EncodedCommand): Effect.Effect<Capabilities, Pop3Error> =>
  Effect.gen(function* () {
    const status = yield* conn.status(encoded)
    // RFC 2449 is an extension: a server without it answers -ERR, and that is fine.
    if (status.kind !== "ok") return { ...noCapabilities, refused: status.text }
    const listing = yield* ListingLimits
    const limits = {
      lines: Math.min(listing.lines, MAX_CAPA_LINES),
      octets: Math.min(listing.octets, MAX_CAPA_OCTETS)
    }
    return parseCapa(yield* collectLines(conn, encoded, limits))
  })

/**
 * The lines of a multi-line answer whose status line was read. A listing is held in
 * memory, so it is bounded (`within`, else ListingLimits): past the limit, or at a line too long, reading
 * stops and the connection — left mid-body — is abandoned.
 * @category internals
 */
export const collectLines = (
  conn: Connection,
  encoded: EncodedCommand,
  within?: { readonly lines: number; readonly octets: number }
): Effect.Effect<Array<string>, Pop3Error> =>
  Effect.gen(function* () {
    const limits = within ?? (yield* ListingLimits)
    const splitter = makeLineSplitter()
    const lines: Array<string> = []
    let octets = 0
    const refuse = (reason: string) =>
      Effect.andThen(
        conn.abandon(`the answer to ${encoded.redacted} was not read to its end`),
        Effect.fail(new ProtocolError({ reason }))
      )
    yield* conn.collectBody(encoded, (bytes) => {
      octets += bytes.length
      try {
        for (const line of splitter.push(bytes)) lines.push(line)
      } catch (error) {
        if (error instanceof RemoteProtocolError) return refuse(error.message)
        throw error
      }
      if (lines.length > limits.lines || octets > limits.octets) {
        return refuse(
          `the answer to ${encoded.redacted} is longer than this client's limit of ${limits.lines} lines or ${limits.octets} octets (${within === undefined ? "ListingLimits" : "MAX_CAPA_LINES, MAX_CAPA_OCTETS"})`
        )
      }
    })
    for (const line of splitter.end()) lines.push(line)
    return lines
  })

/**
 * Runs a parser of server text; what it throws becomes a `ProtocolError`.
 * @category internals
 */
export const parsing = <A>(parse: () => A): Effect.Effect<A, ProtocolError> =>
  Effect.try({
    try: parse,
    catch: (error) =>
      new ProtocolError({ reason: error instanceof RemoteProtocolError ? error.message : String(error) })
  })

/**
 * Sends QUIT; `-ERR` (some deletions not committed) is a `ServerError`.
 * @category internals
 */
export const quit = (conn: Connection): Effect.Effect<void, Pop3Error> =>
  Effect.gen(function* () {
    const status = yield* Effect.flatMap(conn.write({ name: "QUIT" }), conn.status)
    if (status.kind === "err") return yield* new ServerError({ command: "QUIT", code: status.code, text: status.text })
  })
