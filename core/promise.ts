/**
 * The Promise API, for code that does not use Effect. Same client, same errors (they are
 * `Error` subclasses with a `_tag`), same trace.
 *
 * ```ts
 * import { connect } from "pop3-everywhere/promise"
 *
 * // The runtime's own transport unless `transport` says otherwise (in a browser, give
 * // `pop3-everywhere/websocket`'s layerGlobal(bridgeUrl)). `await using` closes the
 * // connection at the end of the block without committing deletions, unless quit() ran.
 * await using session = await connect({ host: "pop.example.com", port: 995 })
 * const mailbox = await session.login({ user: "alice", password: process.env.POP3_PASSWORD! })
 * const { count } = await mailbox.stat()
 * const message = await mailbox.retr(1)          // Uint8Array, exactly as sent
 * for await (const { msg, bytes } of mailbox.topMany([1, 2, 3], 0)) {
 *   // headers of each message as it arrives, pipelined; `break` is fine
 * }
 * await mailbox.quit()
 * ```
 *
 * @module
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  type Authorization,
  collect,
  connect as connectEffect,
  type Greeting,
  type LoginOptions,
  type Mailbox,
  type Message
} from "./client/client.ts"
import { InvalidState, type Pop3Error } from "./errors.ts"
import { BodyLimits, type ConnectOptions } from "./client/options.ts"
import type { Capabilities, ListEntry, Stat, UidlEntry } from "./protocol/parse.ts"
import type { Transport } from "./transport/transport.ts"

/**
 * A session before login.
 * @category models
 */
export interface PromiseSession extends AsyncDisposable {
  readonly greeting: Greeting
  readonly secure: boolean
  readonly capabilities: () => Capabilities
  readonly login: (options: LoginOptions) => Promise<PromiseMailbox>
  /** Sends QUIT and closes the connection. */
  readonly quit: () => Promise<void>
  /** Closes the connection without committing deletions (RSET first when logged in). */
  readonly close: () => Promise<void>
  /** `await using`: `close()` — nothing is deleted unless `quit()` was called. */
  readonly [Symbol.asyncDispose]: () => Promise<void>
}

/**
 * A logged-in mailbox.
 * @category models
 */
export interface PromiseMailbox extends AsyncDisposable {
  readonly capabilities: () => Capabilities
  readonly stat: () => Promise<Stat>
  readonly list: () => Promise<ReadonlyArray<ListEntry>>
  readonly listOne: (msg: number) => Promise<ListEntry>
  readonly uidl: () => Promise<ReadonlyArray<UidlEntry>>
  readonly uidlOne: (msg: number) => Promise<UidlEntry>
  /**
   * LIST, each entry yielded as its line arrives: a listing of any length is processed
   * without being held (`list` collects it). Like `topMany`, nothing is sent until you
   * iterate, `break` reads the rest away, and the connection is busy until the loop ends.
   */
  readonly listStream: () => AsyncIterable<ListEntry>
  /** UIDL, each entry yielded as its line arrives, as `listStream`. */
  readonly uidlStream: () => AsyncIterable<UidlEntry>
  /** The whole message in memory. For large messages prefer `retrStream`. */
  readonly retr: (msg: number) => Promise<Uint8Array>
  /**
   * The message as a web `ReadableStream`, read from the server as you consume it. RETR is
   * sent at the first read; from then until the stream ends or is cancelled it uses the
   * connection as a loop does (another call rejects at once with `InvalidState`). Inside a
   * `topMany`/`retrMany` loop the stream errors at once with `InvalidState`.
   */
  readonly retrStream: (msg: number) => ReadableStream<Uint8Array>
  readonly top: (msg: number, lines: number) => Promise<Uint8Array>
  /**
   * Headers (and `lines` body lines) of many messages, in order, each yielded as it
   * arrives; pipelined when the server announces PIPELINING. Nothing is sent until you
   * iterate, and each iteration sends the commands anew. Leaving the loop early (`break`,
   * `return`, a throw) reads away the answers still in flight, so the session stays
   * usable. A `-ERR` stops sending and, once the earlier messages were yielded, rejects
   * with `ServerError`. The connection is busy until the loop ends: another call on this
   * mailbox inside the loop (which would wait for the loop, which waits for it) rejects at
   * once with `InvalidState`; `close()` still works.
   */
  readonly topMany: (msgs: ReadonlyArray<number>, lines: number) => AsyncIterable<Message>
  /** Many whole messages, as `topMany`; each is collected in memory (for large ones, `retrStream`). */
  readonly retrMany: (msgs: ReadonlyArray<number>) => AsyncIterable<Message>
  readonly dele: (msg: number) => Promise<void>
  /** Marks many messages deleted, pipelined when possible; removed only when `quit` succeeds. */
  readonly deleMany: (msgs: ReadonlyArray<number>) => Promise<void>
  readonly rset: () => Promise<void>
  readonly noop: () => Promise<void>
  /** Ends the session, committing deletions, and closes the connection. */
  readonly quit: () => Promise<void>
  /**
   * Closes without committing deletions: calls still running reject with `InvalidState`,
   * loops and streams end, what they had in flight is read away, then RSET and QUIT.
   */
  readonly close: () => Promise<void>
  /** `await using`: `close()` — nothing is deleted unless `quit()` was called. */
  readonly [Symbol.asyncDispose]: () => Promise<void>
}

/**
 * Runs an effect of this library (a `Mailbox` call, a login) to a Promise that rejects with
 * the tagged error itself, so `catch (e) { if (e._tag === "AuthError") … }` works — for
 * code that holds the Effect API's values but awaits them, as the web demo does.
 * @category running
 */
export const toPromise = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw rejection(exit.cause)
}

// What a failed run rejects with: the tagged error itself, else the cause squashed.
const rejection = (cause: Cause.Cause<unknown>): unknown => {
  const failure = cause.reasons.find(Cause.isFailReason)
  return failure !== undefined ? failure.error : Cause.squash(cause)
}

/**
 * The transport of the runtime this code runs on, loaded only when `connect` is called
 * without one: the package's own `transport` export picks the file per runtime (node, deno,
 * bun, workerd, browser), so a program that passes its transport never loads another.
 */
const runtimeTransport = async (): Promise<Layer.Layer<Transport>> => (await import("pop3-everywhere/transport")).layer

/**
 * Connects (and does STLS when asked). `transport` is a transport layer; without one, the
 * runtime's own (`pop3-everywhere/transport`: Node, Deno, Bun, Workers; in a browser it
 * fails saying to use `pop3-everywhere/websocket` with a bridge).
 * @category constructors
 */
export const connect = async (
  options: ConnectOptions & {
    readonly transport?: Layer.Layer<Transport> | undefined
    /**
     * Aborting it ends the session as `close()` does (RSET, nothing deleted): a connect or
     * call still running rejects with `InvalidState`. `timeout` bounds each wait, not a
     * whole call; `AbortSignal.timeout(ms)` bounds the session.
     */
    readonly signal?: AbortSignal | undefined
    /**
     * The most octets of one message `retr`, `top`, `retrMany` and `topMany` hold in
     * memory (`BodyLimits`; default 512 MiB); past it they reject with `ProtocolError`.
     * `retrStream` is not bounded by it.
     */
    readonly maxBodyOctets?: number | undefined
  }
): Promise<PromiseSession> => {
  const { signal, maxBodyOctets } = options
  const limits = maxBodyOctets === undefined ? undefined : { octets: maxBodyOctets }
  // Bodies held in memory within `maxBodyOctets` when given (else BodyLimits' default).
  const held = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    limits === undefined ? effect : Effect.provideService(effect, BodyLimits, limits)
  const heldEach = <A, E>(stream: Stream.Stream<A, E>): Stream.Stream<A, E> =>
    limits === undefined ? stream : Stream.provideService(stream, BodyLimits, limits)
  const aborted = () => new InvalidState({ reason: "connect was aborted (its AbortSignal fired)" })
  // A function, not `signal?.aborted` inline: the flag changes behind the type checker's back.
  const isAborted = (): boolean => signal?.aborted === true
  if (isAborted()) throw aborted()
  const transport = options.transport ?? (await runtimeTransport())
  const scope = await Effect.runPromise(Scope.make())
  let session: Authorization
  try {
    const exit = await Effect.runPromiseExit(
      connectEffect(options).pipe(Effect.provide(transport), Scope.provide(scope)),
      signal === undefined ? undefined : { signal }
    )
    if (Exit.isFailure(exit))
      throw exit.cause.reasons.every(Cause.isInterruptReason) ? aborted() : rejection(exit.cause)
    session = exit.value
  } catch (error) {
    const closing = Effect.runPromise(Scope.close(scope, Exit.fail(error)))
    // Aborted: reject now; the connection's cleanup (reading away an answer in flight, at
    // most 5 s from a server that stalls) goes on behind.
    if (isAborted()) closing.catch(() => {})
    else await closing
    throw error
  }
  let closed = false
  // Loops and streams still open (topMany, retrMany, listStream, uidlStream, retrStream):
  // ended before the scope closes, so what they have in flight is read away first.
  const open = new Set<() => Promise<unknown>>()
  // Calls and loop steps waiting for an answer: rejected the moment close() (or the signal)
  // starts, not once the session's cleanup is done — which reads away what was in flight
  // and may wait up to 5 s for a server that stalls.
  const waiting = new Set<() => void>()
  const interrupted = (what: string) =>
    new InvalidState({ reason: `${what} did not finish: the session was closed while it ran` })
  const untilClosed = <A>(what: string, promise: Promise<A>): Promise<A> => {
    let done: () => void = () => {}
    const closing = new Promise<never>((_, reject) => {
      done = () => reject(interrupted(what))
    })
    waiting.add(done)
    return Promise.race([promise, closing]).finally(() => waiting.delete(done))
  }
  let detachSignal = (): void => {}
  const close = (exit: Exit.Exit<unknown, unknown>) => async () => {
    if (closed) return
    closed = true
    detachSignal()
    for (const reject of [...waiting]) reject()
    await Promise.allSettled([...open].map((stop) => stop()))
    await Effect.runPromise(Scope.close(scope, exit))
  }
  // A call runs in the session's scope: close() interrupts it before the connection's
  // farewell, and its own finalizers read away the answer it had in flight, so the farewell
  // can send RSET — dropping the socket instead commits the deletions on servers that apply
  // them on any disconnect (QPOP). Interrupted that way, it rejects with InvalidState.
  const inScope = async <A, E>(what: string, effect: Effect.Effect<A, E>): Promise<A> => {
    // Once closing has begun nothing more is sent: refused at once (not after the cleanup).
    if (closed)
      throw new InvalidState({ reason: `${what} was called after the session was closed (close, quit or its signal)` })
    const exit = await untilClosed(what, Effect.runPromise(Effect.flatMap(Effect.forkIn(effect, scope), Fiber.await)))
    if (Exit.isSuccess(exit)) return exit.value
    if (exit.cause.reasons.every(Cause.isInterruptReason)) throw interrupted(what)
    throw rejection(exit.cause)
  }
  // Closing without QUIT must not commit: close with a failure exit so the client sends RSET.
  const abort = close(Exit.fail("closed"))
  if (signal !== undefined) {
    const onAbort = () => void abort()
    signal.addEventListener("abort", onAbort, { once: true })
    detachSignal = () => signal.removeEventListener("abort", onAbort)
    // Aborted between the connect's end and here: the event has passed.
    if (isAborted()) onAbort()
  }
  const finish = close(Exit.void)
  const ending = async <A>(effect: Effect.Effect<A, unknown>) => {
    try {
      return await toPromise(effect)
    } finally {
      await finish()
    }
  }
  const wrap = (mailbox: Mailbox): PromiseMailbox => {
    // While a topMany/retrMany loop runs it owns the connection, so a call awaited inside
    // the loop would wait for the loop, which waits for the call: a silent hang. Such a
    // call is refused at once instead.
    let looping = 0
    const refuseInLoop = (what: string) =>
      new InvalidState({
        reason: `${what} was called while a topMany/retrMany/listStream/uidlStream loop or a retrStream is using the connection; finish or break the loop first (deleMany after the loop deletes in one go)`
      })
    const guarded = <A>(what: string, call: () => Promise<A>): Promise<A> =>
      looping > 0 ? Promise.reject(refuseInLoop(what)) : call()
    const iterate = <A>(what: string, stream: Stream.Stream<A, Pop3Error>): AsyncIterable<A> => ({
      [Symbol.asyncIterator]: () => {
        // Effect's own conversion: `return()` closes the stream's scope (which reads away
        // what is in flight and frees the connection); a failure is thrown as the tagged
        // error itself (`Cause.squash`, as `run` does).
        const inner = Stream.toAsyncIterable(stream)[Symbol.asyncIterator]()
        let running = false
        const stop = () => inner.return?.() ?? Promise.resolve()
        const end = () => {
          if (running) looping -= 1
          running = false
          open.delete(stop)
        }
        const iterator: AsyncIterator<A> = {
          next: async () => {
            if (!running) {
              if (looping > 0) throw refuseInLoop(what)
              running = true
              looping += 1
              open.add(stop)
            }
            try {
              const result = await untilClosed(what, inner.next())
              if (result.done === true) {
                end()
                // Ended by close() (which stopped it): what it yielded is incomplete (a
                // retrStream's message cut short), so it must not end as if it were whole.
                if (closed) throw interrupted(what)
              }
              return result
            } catch (error) {
              end()
              throw error
            }
          },
          return: async (value?: unknown) => {
            try {
              return (await inner.return?.(value)) ?? { done: true, value: undefined }
            } finally {
              end()
            }
          }
        }
        return iterator
      }
    })
    return {
      capabilities: mailbox.capabilities,
      stat: () => guarded("stat", () => inScope("stat", mailbox.stat)),
      list: () => guarded("list", () => inScope("list", mailbox.list)),
      listOne: (msg) => guarded("listOne", () => inScope("listOne", mailbox.listOne(msg))),
      uidl: () => guarded("uidl", () => inScope("uidl", mailbox.uidl)),
      uidlOne: (msg) => guarded("uidlOne", () => inScope("uidlOne", mailbox.uidlOne(msg))),
      listStream: () => iterate("listStream", mailbox.listStream),
      uidlStream: () => iterate("uidlStream", mailbox.uidlStream),
      retr: (msg) => guarded("retr", () => inScope("retr", held(collect(mailbox.retr(msg))))),
      retrStream: (msg) => {
        if (looping > 0)
          return new ReadableStream({ start: (controller) => controller.error(refuseInLoop("retrStream")) })
        // Nothing is sent until the first read (highWaterMark 0), and from then until the
        // stream ends or is cancelled it counts as a loop: another call is refused at once
        // rather than waiting for a stream nobody may ever read to its end.
        const iterator = iterate("retrStream", mailbox.retr(msg))[Symbol.asyncIterator]()
        return new ReadableStream<Uint8Array>(
          {
            async pull(controller) {
              const next = await iterator.next()
              if (next.done === true) controller.close()
              else controller.enqueue(next.value)
            },
            async cancel() {
              await iterator.return?.()
            }
          },
          { highWaterMark: 0 }
        )
      },
      top: (msg, lines) => guarded("top", () => inScope("top", held(collect(mailbox.top(msg, lines))))),
      topMany: (msgs, lines) => iterate("topMany", heldEach(mailbox.topMany(msgs, lines))),
      retrMany: (msgs) => iterate("retrMany", heldEach(mailbox.retrMany(msgs))),
      dele: (msg) => guarded("dele", () => inScope("dele", mailbox.dele(msg))),
      deleMany: (msgs) => guarded("deleMany", () => inScope("deleMany", mailbox.deleMany(msgs))),
      rset: () => guarded("rset", () => inScope("rset", mailbox.rset)),
      noop: () => guarded("noop", () => inScope("noop", mailbox.noop)),
      quit: () => guarded("quit", () => ending(mailbox.quit)),
      close: abort,
      [Symbol.asyncDispose]: abort
    }
  }
  return {
    greeting: session.greeting,
    secure: session.secure,
    capabilities: session.capabilities,
    login: async (login) => wrap(await toPromise(session.login(login))),
    quit: () => ending(session.quit),
    close: abort,
    [Symbol.asyncDispose]: abort
  }
}
