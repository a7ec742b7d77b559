/**
 * Pipelining (RFC 2449 §6.6): many commands in flight, answers matched in order.
 *
 * Latency dominates POP3: at 25 ms round trip, a serial RETR per message costs 25 ms of
 * waiting each. With PIPELINING we keep a bounded window of commands on the wire and read
 * answers as they come. We never write a whole batch before reading — that deadlocks once
 * both sides' socket buffers fill (the MailKit risk) — and the window bounds what we ever
 * write ahead: at most WINDOW command lines, and the commands pipelined here (RETR, TOP,
 * DELE with message numbers) take at most 28 octets each, 8.4 KB for 300 — below any
 * socket buffer, so a write cannot block behind reads. Without PIPELINING the window is 1:
 * the same code, one command at a time.
 *
 * Why 300 (mpop keeps about 100): the window caps throughput at WINDOW answers per round
 * trip. At 25 ms and 100 in flight, 1000 small messages took 0.40 s of round trips with
 * the client mostly idle; at 300 the client's own work (~0.1 ms per message) is the limit
 * and they take 0.2 s. The price: a consumer that stops early waits for the answers still
 * in flight, up to 300 instead of 100.
 *
 * @module
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import { type Command, type EncodedCommand, encodeCommand } from "../protocol/command.ts"
import { concatBytes } from "../protocol/bytes.ts"
import { LocalProtocolError } from "../protocol/errors.ts"
import type { StatusLine } from "../protocol/response.ts"
import type { Connection } from "./connection.ts"
import { InvalidArgument, type Pop3Error, ServerError } from "../errors.ts"

/**
 * Commands kept in flight when the server supports pipelining.
 * @category limits
 */
export const PIPELINE_WINDOW = 300

/**
 * Refill the window once this many answers have arrived (one batched write each time).
 * @category limits
 */
export const PIPELINE_REFILL = 20

/**
 * One answered command: its position in the input, its status line, and its body
 * (multi-line commands with `+OK`).
 * @category models
 */
export interface Answer {
  readonly index: number
  readonly status: StatusLine
  readonly body: Uint8Array | undefined
}

/**
 * Where the body of one answer goes, chunk by chunk: `push` gets views valid only until it
 * returns (or its effect ends); `end` gives the result once the body is complete.
 * @category models
 */
export interface BodySink<A, E> {
  readonly push: (bytes: Uint8Array) => void | Effect.Effect<void, E>
  readonly end: () => Effect.Effect<A, E>
}

/**
 * One answered command whose body went to a sink.
 * @category models
 */
export interface SunkAnswer<A> {
  readonly index: number
  readonly status: StatusLine
  readonly body: A | undefined
}

// Bodies collected in memory: `pipelined`'s sink.
const collecting = (): BodySink<Uint8Array, never> => {
  const parts: Array<Uint8Array> = []
  let total = 0
  return {
    // Copied as they come: the parts are views into socket chunks, valid until the next read.
    push: (bytes) => {
      parts.push(bytes.slice())
      total += bytes.length
    },
    end: () => Effect.succeed(concatBytes(parts, total))
  }
}

const discarding: BodySink<undefined, never> = { push: () => {}, end: () => Effect.succeed(undefined) }

/**
 * Runs `commands` with up to `window` in flight, emitting answers in order. The first
 * `-ERR` stops sending; answers already on their way are read and dropped so the
 * connection stays usable, then the stream fails with `ServerError`. Bodies are collected
 * per message (use `retr` for a message too large for memory).
 * @category pipelining
 */
export const pipelined = (
  conn: Connection,
  commands: ReadonlyArray<Command>,
  window: number
): Stream.Stream<Answer, Pop3Error> => pipelinedInto(conn, commands, window, collecting)

/**
 * How a pipelined run ends.
 * @category models
 */
export interface PipelineOptions {
  /**
   * End the session with QUIT once the last answer has been read to its end — not sooner,
   * in the batch with the last command: a server may close with the tail of a large
   * answer still unsent (Dovecot does). Not written after a `-ERR` (the stream fails with
   * it and the connection stays in TRANSACTION); a `-ERR` to QUIT fails the stream with
   * `ServerError`. The connection is closed afterwards.
   */
  readonly quit?: boolean | undefined
}

/**
 * `pipelined`, with each body handed to the sink `sinkFor(index)` makes instead of being
 * collected — so a consumer can write a message to disk as it arrives, whatever size the
 * server announced. A failing sink stops the stream and leaves the connection unusable
 * (abandoned mid-body).
 * @category pipelining
 */
export const pipelinedInto = <A, E>(
  conn: Connection,
  commands: ReadonlyArray<Command>,
  window: number,
  sinkFor: (index: number) => BodySink<A, E>,
  options?: PipelineOptions
): Stream.Stream<SunkAnswer<A>, Pop3Error | E> =>
  Stream.unwrap(
    Effect.gen(function* () {
      // Refuse bad arguments before anything is sent, so a half-sent batch cannot happen.
      for (const command of commands) {
        try {
          encodeCommand(command)
        } catch (error) {
          if (error instanceof LocalProtocolError) return yield* new InvalidArgument({ reason: error.message })
          throw error
        }
      }
      yield* Effect.acquireRelease(conn.lock.take(1), () => conn.lock.release(1))
      const size = Math.max(1, window)
      const refill = Math.max(1, Math.min(PIPELINE_REFILL, Math.floor(size / 5)))
      const inflight: Array<{ readonly index: number; readonly encoded: EncodedCommand }> = []
      let next = 0
      let failure: Pop3Error | undefined

      const readAnswer = <B, F>(
        entry: { readonly index: number; readonly encoded: EncodedCommand },
        sink: (index: number) => BodySink<B, F>
      ): Effect.Effect<SunkAnswer<B>, Pop3Error | F> =>
        Effect.flatMap(conn.status(entry.encoded), (status) => {
          if (status.kind !== "ok" || !entry.encoded.multiline)
            return Effect.succeed({ index: entry.index, status, body: undefined })
          const into = sink(entry.index)
          return conn.collectBody(entry.encoded, into.push).pipe(
            // A sink that failed mid-body leaves the rest of it on the wire.
            Effect.tapError(() => (conn.idle() ? Effect.void : conn.abandon("a body was not read to its end"))),
            Effect.flatMap(into.end),
            Effect.map((body): SunkAnswer<B> => ({ index: entry.index, status, body }))
          )
        })

      // Abandoned early (or failed): read away what is still on its way.
      yield* Effect.addFinalizer(() =>
        Effect.ignore(
          Effect.whileLoop({
            while: () => inflight.length > 0,
            body: () => readAnswer(inflight.shift()!, () => discarding),
            step: () => {}
          })
        )
      )

      // QUIT (options.quit) is written once the last answer has been read to its end, not
      // in the batch with the last command: Dovecot, reading a pipelined QUIT, flushes its
      // output once without waiting and closes, so the tail of a large RETR still in its
      // buffers is lost (seen: 683 bytes short of a 5 MB message over STLS, in about one
      // run in fifteen with a busy client). Its entry's index is -1.
      let quitWritten = options?.quit !== true
      const fill = Effect.suspend(() => {
        const batch: Array<Command> = []
        while (
          failure === undefined &&
          next + batch.length < commands.length &&
          inflight.length + batch.length < size
        ) {
          batch.push(commands[next + batch.length]!)
        }
        if (batch.length === 0) return Effect.void
        return Effect.map(conn.writeAll(batch), (sent) => {
          for (const encoded of sent) inflight.push({ index: next++, encoded })
        })
      })
      const writeQuit = Effect.map(conn.write({ name: "QUIT" }), (encoded) => {
        quitWritten = true
        inflight.push({ index: -1, encoded })
      })

      const pull: Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> = Effect.suspend(
        function step(): Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> {
          if (failure === undefined && inflight.length <= size - refill && next < commands.length) {
            return Effect.flatMap(fill, step)
          }
          if (failure === undefined && !quitWritten && next === commands.length && inflight.length === 0) {
            return Effect.flatMap(writeQuit, step)
          }
          const entry = inflight.shift()
          if (entry === undefined) return failure === undefined ? Cause.done() : Effect.fail(failure)
          // After a -ERR, the answers still on their way are read and dropped.
          if (failure !== undefined)
            return Effect.flatMap(
              readAnswer(entry, () => discarding),
              step
            )
          if (entry.index === -1) {
            return Effect.flatMap(conn.status(entry.encoded), (status) => {
              if (status.kind !== "ok")
                failure = new ServerError({ command: "QUIT", code: status.code, text: status.text })
              return step()
            })
          }
          return Effect.flatMap(
            readAnswer(entry, sinkFor),
            (answer): Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> => {
              if (answer.status.kind === "err") {
                failure ??= new ServerError({
                  command: entry.encoded.redacted,
                  code: answer.status.code,
                  text: answer.status.text
                })
                return step()
              }
              if (failure !== undefined) return step()
              return Effect.succeed([answer] as const)
            }
          )
        }
      )
      return Stream.fromPull(Effect.succeed(pull))
    })
  )
