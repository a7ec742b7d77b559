/**
 * The mailbox (TRANSACTION state): the commands as Effects and Streams over one connection,
 * serialized by its lock; bodies streamed, with what a consumer leaves unread drained away.
 *
 * @module
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { type Pop3Error, ProtocolError, ServerError } from "../errors.ts"
import type { Command, EncodedCommand } from "../protocol/command.ts"
import {
  type Capabilities,
  hasCapability,
  type ListEntry,
  parseListLine,
  parseStat,
  parseUidlLine,
  type Stat,
  type UidlEntry
} from "../protocol/parse.ts"
import { RemoteProtocolError } from "../protocol/errors.ts"
import type { State } from "../protocol/state.ts"
import type { Connection } from "./connection.ts"
import { type BodySink, PIPELINE_WINDOW, pipelined, pipelinedInto, type PipelineOptions } from "./pipeline.ts"
import { listingStream } from "./listing.ts"
import { collectLines, parsing, quit, readCapa } from "./read.ts"

/**
 * A message (or its top) with its number.
 * @category models
 */
export interface Message {
  readonly msg: number
  readonly bytes: Uint8Array
}

/**
 * A session in the TRANSACTION state: the mailbox is locked for us.
 * @category models
 */
export interface Mailbox {
  /**
   * Capabilities as re-read after login (some servers announce more then). With
   * `capaWithNextCommand` that CAPA rides with the first command: until its answer is
   * read, these are the ones from before login.
   */
  readonly capabilities: () => Capabilities
  readonly state: () => State
  readonly stat: Effect.Effect<Stat, Pop3Error>
  readonly list: Effect.Effect<ReadonlyArray<ListEntry>, Pop3Error>
  readonly listOne: (msg: number) => Effect.Effect<ListEntry, Pop3Error>
  readonly uidl: Effect.Effect<ReadonlyArray<UidlEntry>, Pop3Error>
  readonly uidlOne: (msg: number) => Effect.Effect<UidlEntry, Pop3Error>
  /**
   * LIST as a stream: each entry is delivered as its line arrives, so a listing of any
   * length is processed without being held (`list` collects it, within `ListingLimits`).
   * The connection is busy until the stream ends; what a consumer leaves unread is drained.
   */
  readonly listStream: Stream.Stream<ListEntry, Pop3Error>
  /** UIDL as a stream, as `listStream`. */
  readonly uidlStream: Stream.Stream<UidlEntry, Pop3Error>
  /** The message, exactly as sent (CRLF line ends), unstuffed, without the terminator. */
  readonly retr: (msg: number) => Stream.Stream<Uint8Array, Pop3Error>
  /** The header and the first `lines` body lines. */
  readonly top: (msg: number, lines: number) => Stream.Stream<Uint8Array, Pop3Error>
  /**
   * Headers (and `lines` body lines) of many messages, pipelined when the server supports
   * it — one round trip per window instead of per message. In order.
   */
  readonly topMany: (msgs: ReadonlyArray<number>, lines: number) => Stream.Stream<Message, Pop3Error>
  /** Many whole messages, pipelined when possible; each is collected in memory. In order. */
  readonly retrMany: (msgs: ReadonlyArray<number>) => Stream.Stream<Message, Pop3Error>
  /** Marks a message deleted; it is removed only when QUIT succeeds. */
  readonly dele: (msg: number) => Effect.Effect<void, Pop3Error>
  /** Marks many messages deleted, pipelined when possible. */
  readonly deleMany: (msgs: ReadonlyArray<number>) => Effect.Effect<void, Pop3Error>
  /** Unmarks every deleted message. */
  readonly rset: Effect.Effect<void, Pop3Error>
  readonly noop: Effect.Effect<void, Pop3Error>
  readonly capa: Effect.Effect<Capabilities, Pop3Error>
  /**
   * UIDL and LIST in one round trip when the server announces PIPELINING (both commands
   * written at once, then both answers read). Each answer stands on its own: a `-ERR` to
   * one is returned as its `ServerError`, and the other is still read. Without PIPELINING,
   * UIDL then LIST, LIST only when UIDL succeeded — as `uidl` then `list` would.
   */
  readonly listings: Effect.Effect<Listings, Pop3Error>
  /**
   * `retrMany` with each body handed to a sink as it arrives instead of being collected,
   * so a large message can go straight to disk whatever size LIST announced. In order.
   * With `{ quit: true }` QUIT follows the last RETR's answer (see `PipelineOptions`):
   * the session is over when the stream ends.
   */
  readonly retrManyInto: <A, E>(
    msgs: ReadonlyArray<number>,
    sinkFor: (msg: number) => BodySink<A, E>,
    options?: PipelineOptions
  ) => Stream.Stream<{ readonly msg: number; readonly body: A }, Pop3Error | E>
  /** Ends the session, committing deletions (UPDATE). `-ERR` means some were not removed. */
  readonly quit: Effect.Effect<void, Pop3Error>
}

/**
 * What `Mailbox.listings` returns.
 * @category models
 */
export interface Listings {
  readonly uidl: Result.Result<ReadonlyArray<UidlEntry>, Pop3Error>
  /** Undefined when LIST was not sent (no PIPELINING and UIDL failed). */
  readonly list: Result.Result<ReadonlyArray<ListEntry>, Pop3Error> | undefined
}

/**
 * How long a body left half read is read away at most (and never longer than the time
 * limit of a wait), as long as the farewell may take.
 */
const DRAIN_MILLIS = 5000

/**
 * The mailbox of a connection that has just logged in.
 * @category internals
 */
export const makeMailbox = (conn: Connection, capabilities: () => Capabilities): Mailbox => {
  const withLock = conn.lock.withPermits(1)
  const simple = (command: Command) => withLock(Effect.asVoid(conn.exec(command)))
  const listing = (command: Command) =>
    withLock(Effect.flatMap(conn.exec(command), ({ encoded }) => collectLines(conn, encoded)))

  const body = (command: Command): Stream.Stream<Uint8Array, Pop3Error> =>
    Stream.unwrap(
      Effect.gen(function* () {
        yield* Effect.acquireRelease(conn.lock.take(1), () => conn.lock.release(1))
        const { encoded } = yield* conn.exec(command)
        let finished = false
        // A consumer that stops early leaves the rest of the body on the wire; read it
        // away so the next command's answer is not mistaken for message bytes — for as long
        // as the farewell may take (the timeout, at most 5 s): a body that goes on past it
        // (one without end, or one dripped a line at a time) is left, and the connection
        // with it. Each read is timed on its own, so only this bounds a server that keeps
        // sending; finalizers are not interrupted, hence the interruptible drain inside.
        const drainMillis = Math.min(conn.timeoutMillis, DRAIN_MILLIS)
        yield* Effect.addFinalizer(() =>
          finished
            ? Effect.void
            : Effect.whileLoop({
                while: () => !finished,
                body: () => conn.read(`the rest of ${encoded.redacted}`),
                step: (event) => {
                  if (event._tag !== "Body") finished = true
                }
              }).pipe(
                Effect.interruptible,
                Effect.timeout(drainMillis),
                Effect.catchTag("TimeoutError", () =>
                  conn.abandon(
                    `the rest of the body of ${encoded.redacted} was still coming ${drainMillis / 1000} s after it was left`
                  )
                ),
                Effect.ignore
              )
        )
        const started = conn.now()
        let size = 0
        // A failed read (timeout, closed, garbage) leaves nothing worth draining: trying would
        // only wait out a second full timeout on a stalled server before reporting the first.
        const readBody = Effect.tapError(conn.read(`the body of ${encoded.redacted}`), () =>
          Effect.sync(() => (finished = true))
        )
        const pull: Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, Pop3Error> = Effect.flatMap(
          readBody,
          (event): Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, Pop3Error> => {
            if (event._tag === "Body") {
              size += event.bytes.length
              // The consumer may keep it (runCollect, a ReadableStream's reader), and a view is
              // valid only until the next read — unless the transport's chunks are fresh (a
              // browser's WebSocket messages): then the view is handed on, not a copy.
              // retrManyInto's sinks get the views.
              return Effect.succeed([conn.freshChunks ? event.bytes : event.bytes.slice()])
            }
            finished = true
            if (event._tag === "BodyEnd") {
              conn.trace({
                _tag: "Body",
                at: conn.now(),
                command: encoded.redacted,
                bytes: size,
                millis: conn.now() - started
              })
              return Cause.done()
            }
            return Effect.fail(
              new ProtocolError({ reason: `expected the body of ${encoded.redacted}, got ${event._tag}` })
            )
          }
        )
        return Stream.fromPull(Effect.succeed(pull))
      })
    )

  // Read when the stream starts, not when it is built: by then the CAPA after login may
  // have been read (it rides with the first command) and said something else.
  const window = () => (hasCapability(capabilities(), "PIPELINING") ? PIPELINE_WINDOW : 1)
  const many = (msgs: ReadonlyArray<number>, command: (msg: number) => Command) =>
    Stream.suspend(() =>
      Stream.map(
        pipelined(conn, msgs.map(command), window()),
        (a): Message => ({ msg: msgs[a.index]!, bytes: a.body ?? new Uint8Array(0) })
      )
    )

  // RFC 1939: the answer to LIST n or UIDL n is a scan listing of message n. One about
  // another message is not an answer to it: a UID checked before DELE n must be n's.
  const about = <E extends { readonly msg: number }>(msg: number, name: string, entry: E): E => {
    if (entry.msg !== msg) throw new RemoteProtocolError(`${name} ${msg} was answered for message ${entry.msg}`)
    return entry
  }

  const mailbox: Mailbox = {
    capabilities,
    state: conn.state,
    topMany: (msgs, lines) => many(msgs, (msg) => ({ name: "TOP", msg, lines })),
    retrMany: (msgs) => many(msgs, (msg) => ({ name: "RETR", msg })),
    deleMany: (msgs) =>
      Effect.suspend(() =>
        Stream.runDrain(
          pipelined(
            conn,
            msgs.map((msg): Command => ({ name: "DELE", msg })),
            window()
          )
        )
      ),
    stat: withLock(Effect.flatMap(conn.exec({ name: "STAT" }), ({ status }) => parsing(() => parseStat(status.text)))),
    list: Effect.flatMap(listing({ name: "LIST" }), (lines) => parsing(() => lines.map(parseListLine))),
    listOne: (msg) =>
      withLock(
        Effect.flatMap(conn.exec({ name: "LIST", msg }), ({ status }) =>
          parsing(() => about(msg, "LIST", parseListLine(status.text)))
        )
      ),
    uidl: Effect.flatMap(listing({ name: "UIDL" }), (lines) => parsing(() => lines.map(parseUidlLine))),
    uidlOne: (msg) =>
      withLock(
        Effect.flatMap(conn.exec({ name: "UIDL", msg }), ({ status }) =>
          parsing(() => about(msg, "UIDL", parseUidlLine(status.text)))
        )
      ),
    listStream: listingStream(conn, "LIST", body({ name: "LIST" }), parseListLine),
    uidlStream: listingStream(conn, "UIDL", body({ name: "UIDL" }), parseUidlLine),
    retr: (msg) => body({ name: "RETR", msg }),
    top: (msg, lines) => body({ name: "TOP", msg, lines }),
    dele: (msg) => simple({ name: "DELE", msg }),
    rset: simple({ name: "RSET" }),
    noop: simple({ name: "NOOP" }),
    capa: withLock(readCapa(conn)),
    listings: Effect.suspend(() => listings(conn, mailbox)),
    retrManyInto: <A, E>(
      msgs: ReadonlyArray<number>,
      sinkFor: (msg: number) => BodySink<A, E>,
      options?: PipelineOptions
    ) =>
      // RETR is multi-line, so every +OK answer has a body (a -ERR fails the stream).
      Stream.suspend(() =>
        Stream.map(
          pipelinedInto(
            conn,
            msgs.map((msg): Command => ({ name: "RETR", msg })),
            window(),
            (index) => sinkFor(msgs[index]!),
            options
          ),
          (answer) => ({ msg: msgs[answer.index]!, body: answer.body as A })
        )
      ),
    quit: withLock(quit(conn))
  }
  return mailbox
}

// UIDL and LIST, pipelined when the server allows it (Mailbox.listings).
const listings = (conn: Connection, mailbox: Mailbox): Effect.Effect<Listings, Pop3Error> => {
  // A -ERR becomes the result; any other failure fails the whole.
  const serverError = <A>(effect: Effect.Effect<A, Pop3Error>): Effect.Effect<Result.Result<A, Pop3Error>, Pop3Error> =>
    Effect.flatMap(Effect.result(effect), (result) =>
      Result.isFailure(result) && result.failure._tag !== "ServerError"
        ? Effect.fail(result.failure)
        : Effect.succeed(result)
    )
  if (!hasCapability(mailbox.capabilities(), "PIPELINING")) {
    return Effect.flatMap(
      serverError(mailbox.uidl),
      (uidl): Effect.Effect<Listings, Pop3Error> =>
        Result.isSuccess(uidl)
          ? Effect.map(serverError(mailbox.list), (list) => ({ uidl, list }))
          : Effect.succeed({ uidl, list: undefined })
    )
  }
  const answer = <A>(
    encoded: EncodedCommand,
    parse: (line: string) => A
  ): Effect.Effect<Result.Result<ReadonlyArray<A>, Pop3Error>, Pop3Error> =>
    serverError(
      Effect.flatMap(conn.status(encoded), (status) =>
        status.kind === "ok"
          ? Effect.flatMap(collectLines(conn, encoded), (lines) => parsing(() => lines.map(parse)))
          : Effect.fail(new ServerError({ command: encoded.redacted, code: status.code, text: status.text }))
      )
    )
  return conn.lock.withPermits(1)(
    Effect.gen(function* (): Effect.fn.Return<Listings, Pop3Error> {
      const [uidl, list] = yield* conn.writeAll([{ name: "UIDL" }, { name: "LIST" }])
      return { uidl: yield* answer(uidl!, parseUidlLine), list: yield* answer(list!, parseListLine) }
    })
  )
}
