/**
 * The sans-I/O POP3 client engine: the state machine, the decoder and the queue of
 * commands awaiting answers, with no sockets, timers or Effect runtime.
 *
 * Theory of operation. `send(command)` checks the command against the state table and
 * the queue, encodes it and returns the bytes for the caller to write; the command is
 * queued. `receive(bytes)` hands over whatever the server sent, and `next()` returns the
 * next event — the greeting, the answer to the oldest queued command, or a piece of its
 * body. Answers are matched to commands strictly in order (RFC 2449 PIPELINING), so the
 * caller may send several state-keeping commands before reading. A socket loop around
 * this is a few lines; the Effect client is one.
 *
 * Errors follow h11: a `LocalProtocolError` from `send` means nothing was sent and the
 * engine is unchanged; a `RemoteProtocolError` from `next` moves the engine to ERROR, and
 * every later call throws it again. `send` throws one too, when bytes wait that no command
 * asked for: they would be taken for its answer.
 *
 * @module
 */
import { type Command, type EncodedCommand, encodeCommand } from "./command.ts"
import { type DecoderEvent, makeDecoder, NeedData } from "./decoder.ts"
import { excerptOf, LocalProtocolError, RemoteProtocolError } from "./errors.ts"
import { parseStatusLine, type StatusLine } from "./response.ts"
import { allowed, endsSession, keepsState, type State, statesAllowing, transition, type Transition } from "./state.ts"

export { NeedData } from "./decoder.ts"

/**
 * What the engine yields.
 * - `Greeting`: the server's first line.
 * - `Response`: the status line answering `command`. When it is `+OK` and the command is
 *   multi-line, `Body` events and one `BodyEnd` for the same command follow.
 * @category models
 */
export type EngineEvent =
  | { readonly _tag: "Greeting"; readonly status: StatusLine }
  | { readonly _tag: "Response"; readonly command: EncodedCommand; readonly status: StatusLine }
  | { readonly _tag: "Body"; readonly command: EncodedCommand; readonly bytes: Uint8Array }
  | { readonly _tag: "BodyEnd"; readonly command: EncodedCommand }

/**
 * A state change, reported to the `onStateChange` listener.
 * @category models
 */
export interface StateChange {
  readonly from: State
  readonly to: State
  readonly cause: string
}

/**
 * The engine.
 * @category models
 */
export interface Engine {
  readonly state: () => State
  /**
   * Validates, encodes and queues a command; returns what to write. Throws
   * `LocalProtocolError`; or `RemoteProtocolError` (moving to ERROR, as `next` does) when
   * the server sent bytes while nothing was asked, which would be taken for this answer.
   */
  readonly send: (command: Command) => EncodedCommand
  /** Hands over received bytes. */
  readonly receive: (bytes: Uint8Array) => void
  /** The next event, or `NeedData`. Throws `RemoteProtocolError`. */
  readonly next: () => EngineEvent | typeof NeedData
  /** Reports the STLS handshake done: drops pre-TLS bytes (RFC 2595 §4) and returns to AUTHORIZATION. */
  readonly tlsEstablished: () => void
  /** Reports the connection gone. */
  readonly connectionLost: () => void
  /** How many commands await an answer. */
  readonly pending: () => number
  /** Whether a multi-line body is being read. */
  readonly inBody: () => boolean
  /** How many received bytes are not decoded yet. */
  readonly buffered: () => number
}

interface Pending {
  readonly encoded: EncodedCommand
  readonly sentIn: State
  /** Whether the answer may change the state (then nothing else may queue behind it). */
  readonly changesState: boolean
}

/**
 * Creates an engine for one connection, starting in GREETING.
 * @category constructors
 */
export const makeEngine = (options: { readonly onStateChange?: (change: StateChange) => void } = {}): Engine => {
  const decoder = makeDecoder()
  const queue: Array<Pending> = []
  let head = 0
  let state: State = "GREETING"
  let failure: RemoteProtocolError | undefined
  let inBodyOf: Pending | undefined

  // Every move is a row of the table, from the state the engine is in. An answer's row
  // starts where sending the command led (SASL for AUTH, UPDATE for QUIT), which is where
  // the engine is when it arrives: only one state-changing command is ever unanswered. No
  // row, no move (an event in a terminal state, an answer after the connection was lost).
  const move = (on: Transition["on"], outcome: Transition["outcome"], cause: string) => {
    const to = transition(state, on, outcome)
    if (to === undefined || to === state) return
    const was = state
    state = to
    options.onStateChange?.({ from: was, to, cause })
  }

  const fail = (error: RemoteProtocolError): never => {
    failure = error
    move("protocol-error", "event", error.message)
    throw error
  }

  const pendingCount = () => queue.length - head
  // How many unanswered commands may change the state: kept as a count so a send behind a
  // full pipelining window costs O(1), not a scan of the window.
  let stateChangingPending = 0

  const shift = (): Pending => {
    const p = queue[head]!
    if (p.changesState) stateChangingPending--
    queue[head++] = undefined as unknown as Pending
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head)
      head = 0
    }
    return p
  }

  const send = (command: Command): EncodedCommand => {
    if (failure !== undefined) {
      throw new LocalProtocolError(
        "IllegalInState",
        `${nameOf(command)}: the connection already failed (${failure.message})`
      )
    }
    // Pipelining: behind unanswered commands we may only queue commands whose answers
    // cannot change the state, or one that ends the session (QUIT); anything else must
    // wait for the answers.
    const blocking = stateChangingPending > 0 ? queue.slice(head).find((p) => p.changesState) : undefined
    if (!allowed[state].includes(command.name)) {
      // Not allowed *yet*: an answer still to come may change the state (USER then PASS) —
      // unless what is awaited ends the session, after which nothing is allowed at all.
      if (blocking !== undefined && !endsSession(blocking.sentIn, blocking.encoded.command.name)) {
        throw new LocalProtocolError(
          "Busy",
          `${nameOf(command)} must wait: ${nameOf(blocking.encoded.command)} is still unanswered`
        )
      }
      const where = statesAllowing(command.name)
      throw new LocalProtocolError(
        "IllegalInState",
        `${nameOf(command)} is not allowed in the ${state} state${where.length > 0 ? ` (only in ${where.join(", ")})` : ""}`
      )
    }
    if (pendingCount() > 0) {
      if (blocking !== undefined || (!endsSession(state, command.name) && !keepsState(state, command.name))) {
        throw new LocalProtocolError(
          "Busy",
          `${nameOf(command)} must wait: ${blocking !== undefined ? nameOf(blocking.encoded.command) : "an earlier command"} is still unanswered`
        )
      }
    }
    // Bytes received while nothing was asked (after the last answer, often in the same read)
    // answer nothing. Taken for this command's answer, they would shift every later answer
    // onto the wrong command: a stray "+OK" before a RETR's made the real status line the
    // first line of the message stored, and deleted. (Bytes that arrive only after this
    // command is written cannot be told apart: POP3 answers carry no tags.)
    if (pendingCount() === 0 && inBodyOf === undefined && decoder.buffered() > 0) {
      let line: Uint8Array | undefined
      try {
        const event = decoder.next()
        if (event !== NeedData && event._tag === "Status") line = event.line
      } catch {
        // Not even a line: reported without an excerpt.
      }
      fail(
        new RemoteProtocolError(
          `the server sent data nobody asked for (before ${nameOf(command)})`,
          line === undefined ? "" : excerptOf(line)
        )
      )
    }
    const encoded = encodeCommand(command)
    const changesState = !keepsState(state, command.name)
    if (changesState) stateChangingPending++
    queue.push({ encoded, sentIn: state, changesState })
    move(command.name, "sent", `${encoded.redacted} sent`)
    return encoded
  }

  const onStatus = (line: Uint8Array): EngineEvent => {
    const status = parseStatusLine(line)
    if (state === "GREETING") {
      if (status.kind === "continuation") return fail(new RemoteProtocolError("the greeting is a SASL continuation"))
      move("greeting", status.kind, `greeting ${status.kind === "ok" ? "+OK" : "-ERR"}`)
      return { _tag: "Greeting", status }
    }
    if (pendingCount() === 0)
      return fail(
        new RemoteProtocolError(
          "the server sent a response nobody asked for",
          line.length > 0 ? statusExcerpt(status) : ""
        )
      )
    const pending = shift()
    const name = pending.encoded.command.name
    // A "+" continuation is an answer only where the table has a row for it (SASL).
    if (status.kind === "continuation" && transition(state, name, "continue") === undefined) {
      return fail(new RemoteProtocolError(`a "+" continuation answered ${name}, which is not a SASL exchange`))
    }
    const outcome = status.kind === "continuation" ? "continue" : status.kind
    // An answer to a state-keeping command moves nothing: the state may have moved on since
    // it was sent (RETR pipelined before QUIT is answered in UPDATE, not TRANSACTION).
    // Otherwise the answer's row starts where sending led: SASL for AUTH, UPDATE for QUIT.
    if (pending.changesState) {
      move(name, outcome, `${name} ${status.kind === "ok" ? "+OK" : status.kind === "err" ? "-ERR" : "+"}`)
    }
    if (status.kind === "ok" && pending.encoded.multiline) {
      decoder.readBody()
      inBodyOf = pending
    }
    return { _tag: "Response", command: pending.encoded, status }
  }

  const next = (): EngineEvent | typeof NeedData => {
    if (failure !== undefined) throw failure
    let event: DecoderEvent | typeof NeedData
    try {
      event = decoder.next()
    } catch (error) {
      return fail(error instanceof RemoteProtocolError ? error : new RemoteProtocolError(String(error)))
    }
    if (event === NeedData) return NeedData
    switch (event._tag) {
      case "Status":
        try {
          return onStatus(event.line)
        } catch (error) {
          if (error instanceof RemoteProtocolError && failure === undefined) return fail(error)
          throw error
        }
      case "Body":
        return { _tag: "Body", command: inBodyOf!.encoded, bytes: event.bytes }
      case "BodyEnd": {
        const command = inBodyOf!.encoded
        inBodyOf = undefined
        return { _tag: "BodyEnd", command }
      }
    }
  }

  return {
    state: () => state,
    send,
    receive: (bytes) => decoder.feed(bytes),
    next,
    tlsEstablished: () => {
      if (transition(state, "tls-established", "event") === undefined) {
        throw new LocalProtocolError("IllegalInState", `TLS was established in the ${state} state, not after STLS`)
      }
      decoder.clear()
      move("tls-established", "event", "TLS established")
    },
    connectionLost: () => move("connection-lost", "event", "connection lost"),
    pending: pendingCount,
    inBody: () => inBodyOf !== undefined,
    buffered: () => decoder.buffered()
  }
}

const nameOf = (command: Command): string => (command.name === "SaslResponse" ? "a SASL response" : command.name)

const statusExcerpt = (status: StatusLine): string => status.text.slice(0, 60)
