/**
 * One POP3 connection: the sans-I/O engine driven over a `Socket`, with a time limit on
 * every read and write, a lock so one operation owns the wire at a time, and the trace.
 *
 * This is the only place that touches the socket. Everything above it speaks in
 * commands and responses.
 *
 * @module
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Socket from "effect/socket/Socket"
import { type Command, type EncodedCommand, REDACTED } from "../protocol/command.ts"
import { type EngineEvent, makeEngine, NeedData, type StateChange } from "../protocol/engine.ts"
import { LocalProtocolError, RemoteProtocolError } from "../protocol/errors.ts"
import type { StatusLine } from "../protocol/response.ts"
import type { State } from "../protocol/state.ts"
import { ConnectionClosed, InvalidArgument, InvalidState, ProtocolError, ServerError, TimeoutError } from "../errors.ts"
import type { Pop3Error } from "../errors.ts"
import { isExpiringReader } from "../transport/reader.ts"
import { noTrace } from "./options.ts"
import type { TraceListener } from "./trace.ts"

/**
 * The driven connection.
 * @category models
 */
export interface Connection {
  readonly state: () => State
  /** Writes a command (validated and encoded by the engine). */
  readonly write: (command: Command) => Effect.Effect<EncodedCommand, Pop3Error>
  /** Writes several commands in one batch (pipelining). */
  readonly writeAll: (commands: ReadonlyArray<Command>) => Effect.Effect<Array<EncodedCommand>, Pop3Error>
  /**
   * Queues a command as `write` does, but its bytes leave with the next write — or before
   * the next wait for the server, whichever comes first. Commands that arrive in two TCP
   * segments are answered a round trip apart by Dovecot (CAPA then STAT at a 25 ms round
   * trip: the second answer 50 ms after writing, against 26 ms when they come together).
   */
  readonly hold: (command: Command) => Effect.Effect<EncodedCommand, Pop3Error>
  /** Reads the next engine event, pulling from the socket as needed. */
  readonly read: (during: string) => Effect.Effect<EngineEvent, Pop3Error>
  /**
   * The next event from the bytes already received, traced as `read` traces it, without
   * waiting: `NeedData` when they hold no whole event, or when a deferred answer is owed
   * (`fill` reads it). What `read` does, minus the Effect per event: the pipelined loop
   * reads every answer a socket read holds this way.
   */
  readonly poll: (during: string) => EngineEvent | typeof NeedData | Pop3Error
  /** After `poll` gave `NeedData`: reads an owed deferred answer, or else waits for more bytes. */
  readonly fill: (during: string) => Effect.Effect<void, Pop3Error>
  /** Reads the status line answering `encoded`; `-ERR` is returned, not failed. */
  readonly status: (encoded: EncodedCommand) => Effect.Effect<StatusLine, Pop3Error>
  /** Writes a command and reads its status line; `-ERR` fails with `ServerError`. */
  readonly exec: (
    command: Command
  ) => Effect.Effect<{ readonly encoded: EncodedCommand; readonly status: StatusLine }, Pop3Error>
  /**
   * Reads a multi-line body, handing each chunk to `onChunk`. The chunk is a view into the
   * socket's bytes, valid until the next read; an effect returned by `onChunk` runs before
   * the next chunk is read (so a slow consumer holds back the socket), and its failure
   * stops reading — the body is then half read, so the caller abandons the connection.
   */
  readonly collectBody: <E = never>(
    encoded: EncodedCommand,
    onChunk: (bytes: Uint8Array) => void | Effect.Effect<void, E>
  ) => Effect.Effect<void, Pop3Error | E>
  /** Upgrades to TLS after STLS was accepted, within the time limit like every other wait. */
  readonly upgrade: (options: Socket.TlsUpgradeOptions) => Effect.Effect<void, Socket.SocketError | TimeoutError>
  /**
   * Secrets the caller holds (a password, a token) beside those this connection sends
   * itself: a server that echoes one in its answer to a login command (`-ERR bad password
   * hunter2`) has it replaced by `****` before any trace, error or caller sees the line.
   */
  readonly addSecrets: (values: ReadonlyArray<string>) => void
  /** Marks the connection unusable: later operations fail, and closing sends nothing. */
  readonly abandon: (reason: string) => Effect.Effect<void>
  /**
   * Registers how to read the answer to a command already written whose answer nobody
   * waits for yet (a CAPA pipelined behind a login): the next read runs `consume` first,
   * so the answers stay in order while the command rides with whatever is written next.
   */
  readonly defer: (consume: Effect.Effect<void, Pop3Error>) => void
  /** Serializes operations: one owns the wire at a time. */
  readonly lock: Semaphore.Semaphore
  /** Whether no command awaits an answer and no body is half read. */
  readonly idle: () => boolean
  readonly trace: TraceListener
  /** Whether anyone listens to `trace` (events need not be built otherwise). */
  readonly tracing: boolean
  readonly now: () => number
  /** The time limit of each wait, in milliseconds. */
  readonly timeoutMillis: number
  /** Whether the bytes of events are views that stay valid (the transport's `freshChunks`). */
  readonly freshChunks: boolean
}

// A socket error in words: Effect's own message ("An error occurred during Read") says
// nothing; the runtime's cause does ("Too many message fragments", "read ECONNRESET"). A
// cause's message names no secret: tokens travel only in the URL, which no cause quotes.
const causeOf = (error: Socket.SocketError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  return cause instanceof Error && cause.message !== "" ? `${error.message}: ${cause.message}` : error.message
}

/**
 * Secrets shorter than this are not looked for in the server's text: a two-letter one would
 * turn up in ordinary words and garble them, and says little anyway.
 */
const MIN_SCRUBBED = 4

// The commands whose answers may quote what the login sent.
const LOGIN_COMMANDS: ReadonlySet<string> = new Set(["USER", "PASS", "APOP", "AUTH", "SaslResponse"])

// What a command carries that must not come back in the server's words.
const secretsOf = (command: Command): ReadonlyArray<string> => {
  const values =
    command.name === "PASS"
      ? [command.password]
      : command.name === "APOP"
        ? [command.digest]
        : command.name === "AUTH"
          ? [command.initialResponse ?? ""]
          : command.name === "SaslResponse" && command.response !== "*"
            ? [command.response]
            : []
  return values.filter((value) => value.length >= MIN_SCRUBBED)
}

// The answer to a login command with every known secret in its text replaced. Only those:
// elsewhere a secret made of digits could match a size in STAT's answer. A continuation's
// text (a SASL challenge) is left as it is: the mechanism parses it.
const scrubbed = (event: Extract<EngineEvent, { _tag: "Response" }>, secrets: ReadonlySet<string>) => {
  if (event.status.kind === "continuation" || !LOGIN_COMMANDS.has(event.command.command.name)) return event
  let text = event.status.text
  for (const secret of secrets) text = text.split(secret).join(REDACTED)
  return text === event.status.text ? event : { ...event, status: { ...event.status, text } }
}

/**
 * Wraps an open socket reader/writer into a `Connection`.
 * @category constructors
 */
export const makeConnection = (options: {
  readonly reader: Socket.Reader
  readonly writer: Socket.Writer
  readonly timeoutMillis: number
  readonly trace: TraceListener
  readonly now: () => number
  readonly classify?: ((error: Socket.SocketError) => Pop3Error | undefined) | undefined
  readonly freshChunks?: boolean | undefined
}): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function* () {
    // Already guarded against a throwing observer (resolveOptions).
    const { reader, writer, timeoutMillis, now, trace } = options
    // Nobody listens: no event is built (per message: a status line's text, three objects, the clock).
    const tracing = trace !== noTrace
    // State changes happen inside the engine while a line is parsed or a command queued;
    // they are traced right after that line, so a reader sees cause before effect.
    const changes: Array<StateChange> = []
    const engine = makeEngine({ onStateChange: (change) => changes.push(change) })
    const flushChanges = () => {
      for (const change of changes.splice(0)) trace({ _tag: "StateChanged", at: now(), ...change })
    }
    const lock = yield* Semaphore.make(1)
    const sentAt = new Map<EncodedCommand, number>()
    // What this session sent as secrets (and what login said it holds): taken out of the
    // answers to the login's commands before anyone — trace, error, caller — sees them.
    const secrets = new Set<string>()
    let closedReason: string | undefined

    // Completed once the connection is over: the watchdog stops.
    const ended = Deferred.makeUnsafe<void>()
    let over = false
    const stopWatching = () => {
      over = true
      Deferred.doneUnsafe(ended, Effect.void)
    }
    const end = (reason: string): string => {
      closedReason ??= reason
      stopWatching()
      return closedReason
    }

    const closed = (during: string, error: Socket.SocketError): Pop3Error => {
      engine.connectionLost()
      flushChanges()
      stopWatching()
      const precise = options.classify?.(error)
      if (precise !== undefined) return precise
      const reason = end(error.reason._tag === "SocketCloseError" ? "the server closed the connection" : causeOf(error))
      return new ConnectionClosed({ during, reason })
    }

    // After a timeout the answer may still arrive later and would be taken for the answer
    // to the next command; the connection is unusable from then on.
    const timedOut = (operation: string) => {
      end(`an earlier wait timed out (${operation})`)
      engine.connectionLost()
      flushChanges()
      return new TimeoutError({ operation, millis: timeoutMillis })
    }

    const encode = (command: Command): EncodedCommand | Pop3Error => {
      if (closedReason !== undefined)
        return new ConnectionClosed({ during: `sending ${command.name}`, reason: closedReason })
      try {
        return engine.send(command)
      } catch (error) {
        if (error instanceof RemoteProtocolError) {
          flushChanges()
          return new ProtocolError({ reason: error.message })
        }
        if (error instanceof LocalProtocolError) {
          return error.reason === "InvalidArgument" || error.reason === "LineTooLong"
            ? new InvalidArgument({ reason: error.message })
            : new InvalidState({ reason: error.message })
        }
        throw error
      }
    }

    // Bytes of held commands (hold): they go out in front of the next write, or alone
    // before the next wait for the server.
    const held: Array<Uint8Array> = []
    const send = (bytes: ReadonlyArray<Uint8Array>, first: EncodedCommand): Effect.Effect<void, Pop3Error> =>
      writer.writeAll(bytes as [Uint8Array, ...Array<Uint8Array>]).pipe(
        Effect.mapError((error) => closed(`sending ${first.redacted}`, error)),
        Effect.timeoutOrElse({
          duration: timeoutMillis,
          orElse: () => Effect.fail(timedOut(`the server to accept ${first.command.name}`))
        })
      )
    let heldFirst: EncodedCommand | undefined
    const flushHeld: Effect.Effect<void, Pop3Error> = Effect.suspend(() => {
      if (held.length === 0) return Effect.void
      const first = heldFirst!
      heldFirst = undefined
      return send(held.splice(0), first)
    })

    // Queues the commands in the engine (traced as sent), then, unless `holding`, writes
    // their bytes — after any held ones — in one batch (one syscall for a whole pipelining
    // window). Stops at the first command the engine refuses; those before it are written,
    // so the engine and the wire stay in step.
    const queue = (
      commands: ReadonlyArray<Command>,
      holding: boolean
    ): Effect.Effect<Array<EncodedCommand>, Pop3Error> =>
      Effect.suspend(() => {
        const sent: Array<EncodedCommand> = []
        let refused: Pop3Error | undefined
        for (const command of commands) {
          const encoded = encode(command)
          if (!("bytes" in encoded)) {
            refused = encoded
            break
          }
          for (const secret of secretsOf(command)) secrets.add(secret)
          if (tracing) {
            const at = now()
            sentAt.set(encoded, at)
            trace({ _tag: "Sent", at, line: encoded.redacted, bytes: encoded.bytes.length })
          }
          flushChanges()
          sent.push(encoded)
        }
        let written: Effect.Effect<void, Pop3Error> = Effect.void
        if (holding) {
          heldFirst ??= sent[0]
          for (const encoded of sent) held.push(encoded.bytes)
        } else if (sent.length > 0) {
          const first = heldFirst ?? sent[0]!
          heldFirst = undefined
          written = send([...held.splice(0), ...sent.map((e) => e.bytes)], first)
        }
        return Effect.flatMap(written, () => (refused === undefined ? Effect.succeed(sent) : Effect.fail(refused)))
      })
    const writeAll = (commands: ReadonlyArray<Command>) => queue(commands, false)
    const hold = (command: Command): Effect.Effect<EncodedCommand, Pop3Error> =>
      Effect.map(queue([command], true), (sent) => sent[0]!)

    const write = (command: Command): Effect.Effect<EncodedCommand, Pop3Error> =>
      Effect.map(writeAll([command]), (sent) => sent[0]!)

    // The time limit on reads. A reader that can fail its waiting pull from outside (our
    // transports': isExpiringReader) gets one watchdog fiber per connection, on Effect's
    // clock, which fails the read that waited timeoutMillis; a read then costs two
    // assignments instead of a race (two fibers, a timer set and cleared) — a read per
    // socket chunk showed in the per-message cost of `pop3 fetch`. Other readers race.
    //
    // A status line (or the greeting) must be whole within the limit of the first wait for
    // it, not of each wait: a server sending it a byte at a time, each just in time, held
    // the client up to its 8 KiB × the limit (~68 h at 30 s). A body's waits are timed one
    // by one: a large message may take long, as long as bytes keep coming.
    let lineSince = -1
    const waitStart = (): number => {
      const t = now()
      if (engine.inBody()) return t
      if (lineSince < 0) lineSince = t
      return lineSince
    }
    let waitingSince = -1
    const expiry = new Socket.SocketError({ reason: new Socket.SocketReadError({ cause: "time limit" }) })
    const pull = isExpiringReader(reader)
      ? (during: string) =>
          Effect.suspend(() => {
            waitingSince = waitStart()
            return Effect.matchEffect(reader.pull, {
              onFailure: (error) => {
                waitingSince = -1
                return Effect.fail(error === expiry ? timedOut(during) : closed(during, error))
              },
              onSuccess: (chunks) => {
                waitingSince = -1
                return Effect.succeed(chunks)
              }
            })
          })
      : (during: string) =>
          Effect.suspend(() =>
            reader.pull.pipe(
              Effect.mapError((error) => closed(during, error)),
              Effect.timeoutOrElse({
                duration: Math.max(0, waitStart() + timeoutMillis - now()),
                orElse: () => Effect.fail(timedOut(during))
              })
            )
          )
    if (isExpiringReader(reader)) {
      // Sleeps until the deadline of the read waiting now (or a whole limit when none
      // waits), so it wakes at most once per time limit while reads come and go. It ends
      // with the connection: a timer left behind kept the process alive after the server
      // dropped it, for as long as the caller did not close the session.
      yield* Effect.forkScoped(
        Effect.suspend(function watch(): Effect.Effect<void> {
          if (over) return Effect.void
          const left = waitingSince < 0 ? timeoutMillis : waitingSince + timeoutMillis - now()
          if (left > 0) return Effect.flatMap(Effect.raceFirst(Effect.sleep(left), Deferred.await(ended)), watch)
          waitingSince = -1
          reader.expire(expiry)
          return watch()
        })
      )
    }

    // The next event from the bytes already received, traced; NeedData when they hold none.
    // Synchronous: a pipelined batch of answers mostly sits in one socket read, so the loops
    // below decode many events per pull and only go back to the runtime for the socket.
    const poll = (during: string): EngineEvent | typeof NeedData | ConnectionClosed | ProtocolError => {
      let event: EngineEvent | typeof NeedData
      try {
        event = engine.next()
      } catch (error) {
        flushChanges()
        if (error instanceof RemoteProtocolError) return new ProtocolError({ reason: error.message })
        throw error
      }
      if (event === NeedData) {
        return closedReason !== undefined ? new ConnectionClosed({ during, reason: closedReason }) : NeedData
      }
      if (event._tag === "Response" && secrets.size > 0) event = scrubbed(event, secrets)
      if (tracing && event._tag === "Greeting") {
        trace({ _tag: "Received", at: now(), line: statusText(event.status) })
      } else if (tracing && event._tag === "Response") {
        const at = now()
        const sent = sentAt.get(event.command)
        sentAt.delete(event.command)
        trace({
          _tag: "Received",
          at,
          line: statusText(event.status),
          command: event.command.redacted,
          ...(sent !== undefined ? { latency: at - sent } : {})
        })
      }
      if (changes.length > 0) flushChanges()
      lineSince = -1
      return event
    }

    // Pulls from the socket into the engine; held commands go out first (their answers
    // may be what is awaited).
    const feed = (during: string): Effect.Effect<void, Pop3Error> =>
      Effect.map(pull(during), (chunks) => {
        for (const chunk of chunks) {
          if (typeof chunk === "string") engine.receive(new TextEncoder().encode(chunk))
          else engine.receive(chunk)
        }
      })
    const receive = (during: string): Effect.Effect<void, Pop3Error> =>
      held.length > 0 ? Effect.flatMap(flushHeld, () => feed(during)) : feed(during)

    // Answers written for but not yet read (defer): taken one by one before any other read.
    const deferred: Array<Effect.Effect<void, Pop3Error>> = []
    const defer = (consume: Effect.Effect<void, Pop3Error>) => {
      deferred.push(consume)
    }

    const pollOwn = (during: string): EngineEvent | typeof NeedData | Pop3Error =>
      deferred.length > 0 ? NeedData : poll(during)
    const fill = (during: string): Effect.Effect<void, Pop3Error> => deferred.shift() ?? receive(during)

    const read = (during: string): Effect.Effect<EngineEvent, Pop3Error> =>
      Effect.suspend(function loop(): Effect.Effect<EngineEvent, Pop3Error> {
        const owed = deferred.shift()
        if (owed !== undefined) return Effect.flatMap(owed, loop)
        const event = poll(during)
        if (event === NeedData) return Effect.flatMap(receive(during), loop)
        return isPop3Error(event) ? Effect.fail(event) : Effect.succeed(event)
      })

    const status = (encoded: EncodedCommand): Effect.Effect<StatusLine, Pop3Error> =>
      Effect.flatMap(read(`the answer to ${encoded.redacted}`), (event) =>
        event._tag === "Response" && event.command === encoded
          ? Effect.succeed(event.status)
          : Effect.fail(new ProtocolError({ reason: `expected the answer to ${encoded.redacted}, got ${event._tag}` }))
      )

    // Answers owed to commands nobody reads any more: a command interrupted after it was
    // written (Effect.timeout around stat, a fiber interrupted, a Promise call abandoned by
    // close) releases the lock with its answer still coming. Read away before the next
    // command (under the lock, so no pipeline or body reader is active), that answer would
    // otherwise be taken for the next one's and every command after fail; and the farewell
    // reads them away before RSET and QUIT, or the socket would just be dropped, which
    // commits the session's deletions on servers that apply them on any disconnect (QPOP).
    // Deferred answers (`defer`) are not orphans: the next read takes them.
    const orphaned = () => engine.pending() > deferred.length || engine.inBody()
    const settle = (during: string): Effect.Effect<void, Pop3Error> =>
      Effect.suspend(function loop(): Effect.Effect<void, Pop3Error> {
        return orphaned() ? Effect.flatMap(read(during), loop) : Effect.void
      })

    const exec = (
      command: Command
    ): Effect.Effect<{ readonly encoded: EncodedCommand; readonly status: StatusLine }, Pop3Error> =>
      Effect.flatMap(
        Effect.suspend(() =>
          orphaned()
            ? Effect.andThen(settle("an answer owed to an interrupted command"), write(command))
            : write(command)
        ),
        (encoded) =>
          Effect.flatMap(
            status(encoded),
            (s): Effect.Effect<{ readonly encoded: EncodedCommand; readonly status: StatusLine }, Pop3Error> => {
              if (s.kind === "err")
                return Effect.fail(new ServerError({ command: encoded.redacted, code: s.code, text: s.text }))
              if (s.kind === "continuation")
                return Effect.fail(new ProtocolError({ reason: `a "+" continuation answered ${encoded.command.name}` }))
              return Effect.succeed({ encoded, status: s })
            }
          )
      )

    const collectBody = <E = never>(
      encoded: EncodedCommand,
      onChunk: (bytes: Uint8Array) => void | Effect.Effect<void, E>
    ): Effect.Effect<void, Pop3Error | E> =>
      Effect.suspend(() => {
        const started = now()
        const during = `the body of ${encoded.redacted}`
        let size = 0
        const loop = (): Effect.Effect<void, Pop3Error | E> => {
          for (;;) {
            const event = poll(during)
            if (event === NeedData) return Effect.flatMap(receive(during), loop)
            if (isPop3Error(event)) return Effect.fail(event)
            if (event._tag === "Body") {
              size += event.bytes.length
              const next = onChunk(event.bytes)
              if (next !== undefined) return Effect.flatMap(next, loop)
            } else if (event._tag === "BodyEnd") {
              if (tracing)
                trace({ _tag: "Body", at: now(), command: encoded.redacted, bytes: size, millis: now() - started })
              return Effect.void
            } else {
              return Effect.fail(
                new ProtocolError({ reason: `expected the body of ${encoded.redacted}, got ${event._tag}` })
              )
            }
          }
        }
        return loop()
      })

    // A server (or a man in the middle) that answers +OK to STLS and then stalls must not
    // hold the client forever: interrupting the upgrade tears the socket down.
    const upgrade = (tlsOptions: Socket.TlsUpgradeOptions) =>
      Effect.tap(
        reader.upgrade(tlsOptions).pipe(
          Effect.timeoutOrElse({
            duration: timeoutMillis,
            orElse: () => Effect.fail(timedOut("the TLS handshake after STLS"))
          })
        ),
        () =>
          Effect.sync(() => {
            engine.tlsEstablished()
            trace({ _tag: "TlsEstablished", at: now() })
            flushChanges()
          })
      )

    // A deferred answer does not count: the next read takes it.
    const idle = () => engine.pending() === deferred.length && !engine.inBody()
    const abandon = (reason: string) =>
      Effect.sync(() => {
        end(reason)
        engine.connectionLost()
        flushChanges()
      })
    return {
      state: engine.state,
      addSecrets: (values) => {
        for (const value of values) if (value.length >= MIN_SCRUBBED) secrets.add(value)
      },
      abandon,
      write,
      writeAll,
      hold,
      read,
      poll: pollOwn,
      fill,
      status,
      exec,
      collectBody,
      upgrade,
      defer,
      lock,
      idle,
      trace,
      tracing,
      now,
      timeoutMillis,
      freshChunks: options.freshChunks === true
    } satisfies Connection
  })

// What poll returns besides engine events (plain objects) and NeedData.
const isPop3Error = (value: object): value is ConnectionClosed | ProtocolError =>
  value instanceof ConnectionClosed || value instanceof ProtocolError

const statusText = (s: StatusLine): string =>
  s.kind === "continuation"
    ? `+ ${s.text}`.trimEnd()
    : `${s.kind === "ok" ? "+OK" : "-ERR"}${s.code !== undefined ? ` [${s.code}]` : ""}${s.text !== "" ? ` ${s.text}` : ""}`
