/**
 * The read half that the byte-stream transports (Deno, Bun, Workers) share: the runtime
 * pushes in what arrives (`push`, then `end`), the socket's `pull` takes it out.
 *
 * Flow control, whichever way the runtime needs it:
 * - a runtime that pushes (Bun's `data` handler) gets `pause` once `highWaterMark` bytes
 *   wait unread and `resume` when a pull has taken them: meanwhile the kernel buffer fills
 *   and TCP pushes back on the server;
 * - a runtime that is read (Deno's `conn.read`, a Workers stream) gives `read`, which is
 *   called only while a pull waits with nothing unread, one read at a time: at most one
 *   chunk is read ahead of the client.
 *
 * Bytes always go before the end: a server that sends its last line and hangs up has the
 * line read, then the close. `abort` is the exception: the socket was closed on purpose,
 * so what is unread is dropped and a waiting pull fails at once.
 *
 * @module
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"

/** @category errors */
export const closeError = (code: number, closeReason?: string): Socket.SocketError =>
  new Socket.SocketError({ reason: new Socket.SocketCloseError({ code, closeReason }) })
/** @category errors */
export const openError = (cause: unknown): Socket.SocketError =>
  new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })
/** @category errors */
export const readError = (cause: unknown): Socket.SocketError =>
  new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })
/** @category errors */
export const writeError = (cause: unknown): Socket.SocketError =>
  new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause }) })
/** @category errors */
export const upgradeError = (cause: unknown): Socket.SocketError =>
  new Socket.SocketError({ reason: new Socket.SocketUpgradeError({ cause }) })

/**
 * The CA certificates of `TlsUpgradeOptions` as PEM strings.
 * @category tls
 */
export const pemList = (ca: NonNullable<Socket.TlsUpgradeOptions["ca"]>): Array<string> =>
  (typeof ca === "string" || ca instanceof Uint8Array ? [ca] : [...ca]).map((pem) =>
    typeof pem === "string" ? pem : new TextDecoder().decode(pem)
  )

/**
 * Runs `action`, ignoring a throw (the runtime's socket is already gone).
 * @category utils
 */
export const quietly = (action: () => unknown): void => {
  try {
    action()
  } catch {
    // already closed
  }
}

/**
 * How a runtime feeds a `PushReader`.
 * @category models
 */
export interface PushReaderOptions {
  /** Unread bytes at which `pause` is called (default 64 KiB). */
  readonly highWaterMark?: number
  /** Stop delivering: called once when `highWaterMark` bytes wait unread. */
  readonly pause?: () => void
  /** Deliver again: called when a pull took the bytes that paused it. */
  readonly resume?: () => void
  /**
   * Reads the next chunk; `null` is the end, a rejection ends the reader (a `SocketError`
   * as it is, anything else as a read error). Called only while a pull waits and nothing
   * is unread, never twice at once.
   */
  readonly read?: () => Promise<Uint8Array | null>
}

/**
 * A push-to-pull reader: the runtime's side (`push`, `end`, `abort`) and the socket's
 * (`pull`, `upgrade`).
 * @category models
 */
export interface PushReader {
  /** Queues bytes for the next pull (ignored once ended). */
  readonly push: (chunk: Uint8Array) => void
  /** Ends the stream: what is queued is still pulled, then pulls fail with `error`. The first end wins. */
  readonly end: (error: Socket.SocketError) => void
  /** Drops what is unread and ends with `error` at once (a close on purpose). */
  readonly abort: (error: Socket.SocketError) => void
  /** The next chunks: everything unread, in order; waits when there is nothing. */
  readonly pull: Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>
  /**
   * Hands the connection to TLS with `start`, which switches the runtime's source. Refused
   * when ended or upgraded already, while a read is pending, or when bytes wait unread:
   * they came after the server's go-ahead and before TLS, unprotected (plaintext
   * injection, CVE-2011-0411). Then `refused`, if given, fails it; a failure of `start`
   * ends the reader, so later pulls fail too.
   */
  readonly upgrade: (
    start: Effect.Effect<void, Socket.SocketError>,
    refused?: Socket.SocketError
  ) => Effect.Effect<void, Socket.SocketError>
  /** The error the reader ended with, if it has. */
  readonly error: () => Socket.SocketError | undefined
  /** Fails the pull waiting now, if any, with `error`; the reader goes on (see `ExpiringReader`). */
  readonly expire: ExpiringReader["expire"]
}

/**
 * A reader whose waiting pull can be failed from outside: a connection's time limit then
 * needs no race per read (`Effect.timeoutOrElse` forks two fibers and sets and clears a
 * timer each time, which showed in the per-message cost of `pop3 fetch`); one watchdog
 * per connection fails the pull that waited too long. The socket built by `socket.ts`
 * offers it.
 * @category models
 */
export interface ExpiringReader {
  readonly expire: (error: Socket.SocketError) => void
}

/**
 * Whether `reader` is an `ExpiringReader`.
 * @category guards
 */
export const isExpiringReader = <R extends object>(reader: R): reader is R & ExpiringReader =>
  typeof (reader as Partial<ExpiringReader>).expire === "function"

/**
 * A `read` over a runtime that reads into a buffer it is given (Deno's `conn.read`), 64 KiB
 * at a time: a mostly full buffer is handed over as it is (no copy), a small read is copied
 * so that the buffer is not held by a few bytes.
 * @category constructors
 */
export const bufferedRead = (read: (buffer: Uint8Array) => Promise<number | null>, size = 64 * 1024) => {
  let buffer = new Uint8Array(size)
  return (): Promise<Uint8Array | null> =>
    read(buffer).then((n) => {
      if (n === null || n * 2 < buffer.length) return n === null ? null : buffer.slice(0, n)
      const chunk = buffer.subarray(0, n)
      buffer = new Uint8Array(size)
      return chunk
    })
}

type Resume = (effect: Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>) => void

/**
 * A `PushReader` with the runtime's flow control.
 * @category constructors
 */
export const makePushReader = (options: PushReaderOptions = {}): PushReader => {
  const highWaterMark = options.highWaterMark ?? 64 * 1024
  let chunks: Array<Uint8Array> = []
  let unread = 0
  let paused = false
  let reading = false
  let upgraded = false
  let error: Socket.SocketError | undefined
  let waiter: Resume | undefined

  const take = (): NonEmptyReadonlyArray<Uint8Array> => {
    const batch = chunks as unknown as NonEmptyReadonlyArray<Uint8Array>
    chunks = []
    unread = 0
    if (paused && error === undefined) {
      paused = false
      options.resume?.()
    }
    return batch
  }
  // The only place a pull is resumed: bytes first, then the error.
  const deliver = () => {
    if (waiter === undefined) return
    const resume = waiter
    if (chunks.length > 0) {
      waiter = undefined
      resume(Effect.succeed(take()))
    } else if (error !== undefined) {
      waiter = undefined
      resume(Effect.fail(error))
    }
  }
  const end = (err: Socket.SocketError) => {
    error ??= err
    deliver()
  }
  const push = (chunk: Uint8Array) => {
    if (error !== undefined || chunk.length === 0) return
    chunks.push(chunk)
    unread += chunk.length
    deliver()
    if (!paused && unread >= highWaterMark && options.pause !== undefined) {
      paused = true
      options.pause()
    }
  }
  const readMore = () => {
    const read = options.read
    if (read === undefined || reading || waiter === undefined || chunks.length > 0 || error !== undefined) return
    reading = true
    read().then(
      (chunk) => {
        reading = false
        if (chunk === null) return end(closeError(1000))
        push(chunk)
        // A read of 0 bytes is not the end; read again if someone still waits.
        readMore()
      },
      (cause: unknown) => {
        reading = false
        end(cause instanceof Socket.SocketError ? cause : readError(cause))
      }
    )
  }

  const pull = Effect.callback<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>((resume) => {
    waiter = resume
    deliver()
    if (waiter !== resume) return
    readMore()
    return Effect.sync(() => {
      if (waiter === resume) waiter = undefined
    })
  })

  const upgrade: PushReader["upgrade"] = (start, refused) =>
    Effect.suspend(() => {
      if (upgraded || error !== undefined)
        return Effect.fail(upgradeError(new Error("socket is already upgraded or closed")))
      if (chunks.length > 0)
        return Effect.fail(upgradeError(new Error("data arrived before the TLS handshake started")))
      if (reading) return Effect.fail(upgradeError(new Error("a read is still pending")))
      if (refused !== undefined) return Effect.fail(refused)
      return start.pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            upgraded = true
          })
        ),
        Effect.tapError((err) => Effect.sync(() => end(err)))
      )
    })

  return {
    push,
    end,
    abort: (err) => {
      chunks = []
      unread = 0
      end(err)
    },
    pull,
    upgrade,
    error: () => error,
    expire: (err) => {
      if (waiter === undefined) return
      const resume = waiter
      waiter = undefined
      resume(Effect.fail(err))
    }
  }
}
