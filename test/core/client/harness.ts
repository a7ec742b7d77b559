// Shared helpers for the client's and the CLI's tests: the dev server behind the
// in-memory transport (with every command line it saw recorded), a store of messages
// that exercise framing, and small Exit helpers.

import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryTransport from "../../../core/transport/memory.ts"
import type { ServerEnd } from "../../../core/transport/memory.ts"
import type { Transport } from "../../../core/transport/transport.ts"
import type { Behaviour, ConnectionHooks, MailStore } from "../../../dev-server/server.ts"
import { makeMailStore, serveConnection } from "../../../dev-server/server.ts"

export const USER = "alice"
/** A password that must never show up in a trace, an error or CLI output. */
export const PASSWORD = "canary-Pw-7f3e9c1d"

const enc = new TextEncoder()

/** Every byte 0x00–0xFF except CR and LF, then UTF-8 text: 8-bit content must pass untouched. */
const eightBitLine = (): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 10 && b !== 13)

const concat = (...parts: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  const bytes = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p))
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0))
  let o = 0
  for (const b of bytes) {
    out.set(b, o)
    o += b.length
  }
  return out
}

/** A 200 KB line in a ~330 KB message: spans many reads, and a status-line limit must not apply. */
export const LONG_LINE_LENGTH = 200_000

/** Messages by number (1-based in POP3). */
export const MESSAGES = {
  plain:
    "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nline one\r\nline two\r\nline three\r\n",
  dots:
    "Subject: dots\r\n\r\nstart\r\n.\r\n..\r\n...\r\n.hidden\r\n..double\r\n. a dot and a space\r\n" +
    "middle . dot\r\n.\r\nthe line above is a single dot\r\n..\r\n",
  eightBit: concat(
    "Subject: =?UTF-8?B?w7w=?=\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    eightBitLine(),
    "\r\nGrüße aus Köln 🌷\r\n\x80\xff\r\n"
  ),
  long: concat(
    "Subject: long\r\n\r\n",
    "x".repeat(LONG_LINE_LENGTH),
    "\r\n",
    "." + "y".repeat(LONG_LINE_LENGTH / 2),
    "\r\n",
    Array.from({ length: 2000 }, (_, i) => `line ${i} of the tail\r\n`).join("")
  ),
  /** A lone "." line: on a server that does not dot-stuff, the message ends there. */
  earlyDot: "Subject: early\r\n\r\nbefore\r\n.\r\nafter the dot\r\nlast line\r\n"
} as const

export const MESSAGE_ORDER = ["plain", "dots", "eightBit", "long", "earlyDot"] as const

export const makeStore = (): MailStore =>
  makeMailStore({
    [USER]: { password: PASSWORD, messages: MESSAGE_ORDER.map((k) => MESSAGES[k]) },
    empty: { password: "empty-pw", messages: [] }
  })

/** The message number of a named message. */
export const num = (name: (typeof MESSAGE_ORDER)[number]): number => MESSAGE_ORDER.indexOf(name) + 1

/** The stored (CRLF) bytes of message n of a user. */
export const stored = (store: MailStore, n: number, user = USER): Uint8Array => {
  const m = store.messages(user)[n - 1]
  if (m === undefined) throw new Error(`no message ${n}`)
  return m.data
}

export interface MemoryServer {
  readonly layer: Layer.Layer<Transport>
  readonly store: MailStore
  /** Every line the client sent, secrets included, in order, across connections. */
  readonly commands: Array<string>
  /** One promise per accepted connection, settled when that session is over. */
  readonly sessions: Array<Promise<void>>
  /** Octets the server wrote to the client, across connections. */
  readonly sentOctets: () => number
  /** Waits until every session ended. */
  readonly settled: () => Promise<void>
}

/** The dev server behind the in-memory transport. */
export const memoryServer = (
  options: { readonly store?: MailStore; readonly behaviour?: Behaviour; readonly hooks?: ConnectionHooks } = {}
): MemoryServer => {
  const store = options.store ?? makeStore()
  const commands: Array<string> = []
  const sessions: Array<Promise<void>> = []
  let octets = 0
  const behaviour: Behaviour = {
    ...options.behaviour,
    onCommand: (line) => {
      commands.push(line)
      options.behaviour?.onCommand?.(line)
    }
  }
  const layer = MemoryTransport.layer((server: ServerEnd) => {
    // Count what the server writes, passing every chunk through unchanged.
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        octets += chunk.length
        controller.enqueue(chunk)
      }
    })
    void counter.readable.pipeTo(server.writable).catch(() => {})
    sessions.push(
      serveConnection(store, { readable: server.readable, writable: counter.writable }, behaviour, options.hooks ?? {})
    )
  })
  return {
    layer,
    store,
    commands,
    sessions,
    sentOctets: () => octets,
    settled: async () => {
      await Promise.all(sessions)
    }
  }
}

/** Runs a scoped client program against a transport layer. */
export const run = <A, E>(
  layer: Layer.Layer<Transport>,
  program: Effect.Effect<A, E, Transport | Scope.Scope>
): Promise<Exit.Exit<A, E>> => Effect.runPromiseExit(program.pipe(Effect.scoped, Effect.provide(layer)))

/** The value of a successful exit; throws (with the cause) otherwise. */
export const success = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected success, got ${Cause.pretty(exit.cause)}`)
}

/** The typed error of a failed exit; throws when it succeeded or died. */
export const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got success: ${String(exit.value)}`)
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  if (reason === undefined) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return reason.error
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/** CRLF → LF, for what an lfOnly server sends. */
export const toLf = (bytes: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) continue
    out.push(bytes[i]!)
  }
  return Uint8Array.from(out)
}

/** One turn of the real event loop: in-memory I/O proceeds, no time is measured. */
export const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

/**
 * Runs a scoped client program under the TestClock, which moves only here: `step` ms at a
 * time, each step after one turn of the real event loop (so the in-memory I/O proceeds).
 * Returns the exit and how much test time passed before the program ended — the time
 * limits the client waited out, independent of how loaded the machine is. A program still
 * running after `limit` ms of test time is interrupted and has no exit.
 */
export const clocked = <A, E>(
  layer: Layer.Layer<Transport>,
  program: Effect.Effect<A, E, Transport | Scope.Scope>,
  options: { readonly limit: number; readonly step?: number }
): Promise<{ readonly exit: Exit.Exit<A, E> | undefined; readonly elapsed: number }> => {
  const step = options.step ?? 10
  return Effect.runPromise(
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(Effect.exit(program.pipe(Effect.scoped, Effect.provide(layer))))
      let elapsed = 0
      for (;;) {
        yield* Effect.promise(macrotask)
        const exit = fiber.pollUnsafe()
        if (exit !== undefined) return { exit: Exit.isSuccess(exit) ? exit.value : undefined, elapsed }
        if (elapsed >= options.limit) {
          yield* Fiber.interrupt(fiber)
          return { exit: undefined, elapsed }
        }
        yield* TestClock.adjust(step)
        elapsed += step
      }
    }).pipe(Effect.provide(TestClock.layer()))
  )
}
