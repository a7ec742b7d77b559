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
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import { type Command, type EncodedCommand, encodeCommand, validateCommand } from "../protocol/command.ts"
import { concatBytes } from "../protocol/bytes.ts"
import { NeedData } from "../protocol/engine.ts"
import { LocalProtocolError } from "../protocol/errors.ts"
import type { StatusLine } from "../protocol/response.ts"
import type { Connection } from "./connection.ts"
import { BodyLimits, bodyTooLong } from "./options.ts"
import { ConnectionClosed, InvalidArgument, type Pop3Error, ProtocolError, ServerError } from "../errors.ts"

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

// Bodies collected in memory, each within BodyLimits: `pipelined`'s sink.
const collecting =
  (octets: number, commands: ReadonlyArray<Command>) =>
  (index: number): BodySink<Uint8Array, ProtocolError> => {
    const parts: Array<Uint8Array> = []
    let total = 0
    return {
      // Copied as they come: the parts are views into socket chunks, valid until the next read.
      push: (bytes) => {
        total += bytes.length
        if (total > octets) {
          // The command as a trace shows it (already sent, so it encodes).
          const command = commands[index]
          const named = command === undefined ? "a command" : encodeCommand(command).redacted
          return Effect.fail(bodyTooLong(octets, `the answer to ${named}`))
        }
        parts.push(bytes.slice())
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
): Stream.Stream<Answer, Pop3Error> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const { octets } = yield* BodyLimits
      return pipelinedInto(conn, commands, window, collecting(octets, commands))
    })
  )

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
          validateCommand(command)
        } catch (error) {
          if (error instanceof LocalProtocolError) return yield* new InvalidArgument({ reason: error.message })
          throw error
        }
      }
      yield* Effect.acquireRelease(conn.lock.take(1), () => conn.lock.release(1))
      const size = Math.max(1, window)
      const refill = Math.max(1, Math.min(PIPELINE_REFILL, Math.floor(size / 5)))
      type Entry = { readonly index: number; readonly encoded: EncodedCommand }
      const inflight: Array<Entry> = []
      let next = 0
      let failure: Pop3Error | undefined

      // The answer at the head of `inflight`, as far as it has been read: a pull may end
      // with half an answer read (its bytes not all received yet) and the next goes on.
      interface Head {
        readonly entry: Entry
        status: StatusLine | undefined
        sink: BodySink<A, E> | BodySink<undefined, never> | undefined
        during: string
        size: number
        started: number
      }
      let head: Head | undefined
      const headOf = (entry: Entry): Head =>
        (head ??= {
          entry,
          status: undefined,
          sink: undefined,
          during: `the answer to ${entry.encoded.redacted}`,
          size: 0,
          started: 0
        })
      // A sink that failed mid-body leaves the rest of it on the wire.
      const giveUp = <X, F>(effect: Effect.Effect<X, F>): Effect.Effect<X, F> =>
        Effect.tapError(effect, () => (conn.idle() ? Effect.void : conn.abandon("a body was not read to its end")))

      // Reads the head answer as far as the bytes already received go, without an Effect
      // per event: the answer once whole; NeedData when more bytes are needed; or an effect
      // to run first (a sink's asynchronous write, or its end), which gives the answer or
      // undefined (then advance again). `discard` reads a body into nothing.
      const advance = (
        h: Head,
        discard: boolean
      ): SunkAnswer<A> | typeof NeedData | Effect.Effect<SunkAnswer<A> | undefined, Pop3Error | E> => {
        const { index, encoded } = h.entry
        if (h.status === undefined) {
          const event = conn.poll(h.during)
          if (event === NeedData) return NeedData
          if (isPop3Error(event)) return Effect.fail(event)
          if (event._tag !== "Response" || event.command !== encoded)
            return Effect.fail(
              new ProtocolError({ reason: `expected the answer to ${encoded.redacted}, got ${event._tag}` })
            )
          h.status = event.status
          if (event.status.kind !== "ok" || !encoded.multiline) return { index, status: event.status, body: undefined }
          h.sink = discard ? discarding : sinkFor(index)
          h.during = `the body of ${encoded.redacted}`
          if (conn.tracing) h.started = conn.now()
        }
        const status = h.status
        const sink = h.sink!
        for (;;) {
          const event = conn.poll(h.during)
          if (event === NeedData) return NeedData
          if (isPop3Error(event)) return giveUp(Effect.fail(event))
          if (event._tag === "Body") {
            h.size += event.bytes.length
            const pushed = sink.push(event.bytes)
            if (pushed !== undefined && !isSuccess(pushed)) return Effect.as(giveUp(pushed), undefined)
          } else if (event._tag === "BodyEnd") {
            if (conn.tracing) {
              const at = conn.now()
              conn.trace({ _tag: "Body", at, command: encoded.redacted, bytes: h.size, millis: at - h.started })
            }
            const ended: Effect.Effect<A | undefined, E> = sink.end()
            if (isSuccess(ended)) return { index, status, body: ended.value }
            return Effect.map(ended, (body): SunkAnswer<A> => ({ index, status, body }))
          } else {
            return giveUp(
              Effect.fail(new ProtocolError({ reason: `expected the body of ${encoded.redacted}, got ${event._tag}` }))
            )
          }
        }
      }

      // Abandoned early (or failed): read away what is still on its way.
      yield* Effect.addFinalizer(() =>
        Effect.ignore(
          Effect.suspend(function drain(): Effect.Effect<void, Pop3Error | E> {
            for (;;) {
              const entry = inflight[0]
              if (entry === undefined) return Effect.void
              const h = headOf(entry)
              // A body left half read goes on into nothing: its consumer is gone.
              if (h.sink !== undefined) h.sink = discarding
              const got = advance(h, true)
              if (got === NeedData) return Effect.flatMap(conn.fill(h.during), drain)
              if (Effect.isEffect(got))
                return Effect.flatMap(got, (answer) => {
                  if (answer !== undefined) done()
                  return drain()
                })
              done()
            }
          })
        )
      )
      const done = () => {
        inflight.shift()
        head = undefined
      }

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

      // Every answer whose bytes are already here is read in one pull and emitted together:
      // a socket read often holds many small answers, and each Effect step per answer costs.
      const ready: Array<SunkAnswer<A>> = []
      const emit = (): Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> =>
        Effect.succeed(ready.splice(0) as unknown as NonEmptyReadonlyArray<SunkAnswer<A>>)
      // The head answer is whole: kept, dropped after a -ERR, or a -ERR that stops the run.
      const finish = (answer: SunkAnswer<A>, encoded: EncodedCommand) => {
        done()
        if (answer.index === -1) {
          if (answer.status.kind !== "ok")
            failure = new ServerError({ command: "QUIT", code: answer.status.code, text: answer.status.text })
        } else if (answer.status.kind === "err") {
          failure ??= new ServerError({ command: encoded.redacted, code: answer.status.code, text: answer.status.text })
        } else if (failure === undefined) {
          ready.push(answer)
        }
      }

      const answers: Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> = Effect.suspend(
        function step(): Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> {
          for (;;) {
            if (failure === undefined && inflight.length <= size - refill && next < commands.length) {
              return Effect.flatMap(fill, step)
            }
            if (failure === undefined && !quitWritten && next === commands.length && inflight.length === 0) {
              // The consumer has the last answers before QUIT goes out.
              return ready.length > 0 ? emit() : Effect.flatMap(writeQuit, step)
            }
            const entry = inflight[0]
            if (entry === undefined) {
              if (ready.length > 0) return emit()
              return failure === undefined ? Cause.done() : Effect.fail(failure)
            }
            const h = headOf(entry)
            // After a -ERR, the answers still on their way are read and dropped.
            const got = advance(h, failure !== undefined)
            if (got === NeedData) return ready.length > 0 ? emit() : Effect.flatMap(conn.fill(h.during), step)
            if (Effect.isEffect(got))
              return Effect.flatMap(got, (answer) => {
                if (answer !== undefined) finish(answer, entry.encoded)
                return step()
              })
            finish(got, entry.encoded)
          }
        }
      )
      // A server that answers -ERR and hangs up (a damaged message) makes the drain of the
      // answers behind it fail with ConnectionClosed: the -ERR is what happened, and the one
      // the caller must see (the sync engine skips a refused RETR by its ServerError; the
      // user needs the server's words, not "closed during RETR n+1").
      const pull: Pull.Pull<NonEmptyReadonlyArray<SunkAnswer<A>>, Pop3Error | E> = Effect.catchIf(
        answers,
        (error): error is ConnectionClosed => error instanceof ConnectionClosed && failure instanceof ServerError,
        () => Effect.fail(failure!)
      )
      return Stream.fromPull(Effect.succeed(pull))
    })
  )

// What `Connection.poll` returns besides events and NeedData.
const isPop3Error = (value: object): value is Pop3Error =>
  value instanceof ConnectionClosed || value instanceof ProtocolError

// An effect that has already succeeded (`Effect.succeed`, `Effect.void` are Exits): its value
// is taken at once instead of through the runtime.
const isSuccess = <X, F>(effect: Effect.Effect<X, F>): effect is Exit.Success<X, F> =>
  Exit.isExit(effect) && Exit.isSuccess(effect)
