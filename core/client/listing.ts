/**
 * A listing (LIST, UIDL) as a stream of parsed entries, delivered as its lines arrive: a
 * mailbox of 100,000 messages is processed a network chunk at a time instead of being held
 * whole. Nothing accumulates, so the total bounds of `ListingLimits` do not apply; each
 * line is still bounded (`MAX_LISTING_LINE`), since a line must be held to be parsed.
 *
 * @module
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { type Pop3Error, ProtocolError } from "../errors.ts"
import { RemoteProtocolError } from "../protocol/errors.ts"
import { makeLineSplitter } from "../protocol/lines.ts"
import type { Connection } from "./connection.ts"

/**
 * The entries of a listing whose body streams in `body` (the command's multi-line answer,
 * holding the connection's lock while it runs and draining what is left unread).
 * @category internals
 */
export const listingStream = <A>(
  conn: Connection,
  command: string,
  body: Stream.Stream<Uint8Array, Pop3Error>,
  parse: (line: string) => A
): Stream.Stream<A, Pop3Error> =>
  Stream.suspend(() => {
    const splitter = makeLineSplitter()
    const parseAll = (lines: ReadonlyArray<string>) =>
      Effect.try({
        try: () => lines.map(parse),
        catch: (error) =>
          new ProtocolError({ reason: error instanceof RemoteProtocolError ? error.message : String(error) })
      })
    const chunk = (bytes: Uint8Array): Effect.Effect<Array<A>, Pop3Error> => {
      let lines: Array<string>
      try {
        lines = splitter.push(bytes)
      } catch (error) {
        if (!(error instanceof RemoteProtocolError)) throw error
        // A line past the bound may never end: reading the rest away could take forever,
        // so the connection, left mid-body, is given up instead.
        return Effect.andThen(
          conn.abandon(`the answer to ${command} was not read to its end`),
          Effect.fail(new ProtocolError({ reason: error.message }))
        )
      }
      return parseAll(lines)
    }
    // Each network chunk's entries go on as one chunk of the stream, not one by one: a
    // 100,000-line listing costs a few pulls, not 100,000.
    return Stream.flattenArray(
      Stream.filter(
        Stream.concat(Stream.mapEffect(body, chunk), Stream.fromEffect(Effect.suspend(() => parseAll(splitter.end())))),
        Arr.isArrayNonEmpty
      )
    )
  })
