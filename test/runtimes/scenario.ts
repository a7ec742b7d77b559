// One POP3 session per TLS mode against a real server, through the automatic transport,
// for test/interop/runtimes.test.ts to run on Node, Deno and Bun. Runtime-neutral: only
// web-standard APIs (crypto.subtle, TextEncoder, console) and `process.env`, which all
// three provide. Input: the JSON of a ScenarioInput in the POP3_SCENARIO environment
// variable. Output: one JSON line per step on stdout (a StepResult); the parent compares.
import * as Effect from "effect/Effect"
import { collect, connect } from "../../core/client/client.ts"
import type { Pop3Error } from "../../core/errors.ts"
import { detectRuntime, layer } from "../../core/transport/auto.ts"
import * as NodeTransport from "../../core/transport/node.ts"
import { Transport } from "../../core/transport/transport.ts"

export type Mode = "implicit" | "starttls" | "none"

export interface ScenarioInput {
  readonly host: string
  readonly servername: string
  readonly port: number
  readonly tlsPort: number
  readonly ca: string
  readonly user: string
  readonly password: string
  readonly modes: ReadonlyArray<Mode>
  /** Where nothing listens (a ConnectError is expected). */
  readonly closedPort: number
  /** Accepts and then says nothing (a TLS handshake there must time out). */
  readonly silentPort: number
  /** Greets, answers STLS with +OK and then says nothing (the STLS handshake must time out). */
  readonly stallingStlsPort: number
  readonly expected: {
    /** Octet size of each message, in order. */
    readonly sizes: ReadonlyArray<number>
    readonly uidls: ReadonlyArray<string>
    /** SHA-256 (hex) of each message's RETR bytes. */
    readonly sha256: ReadonlyArray<string>
    /** SHA-256 of `TOP msg lines`. */
    readonly top: { readonly msg: number; readonly lines: number; readonly sha256: string }
  }
}

/** One line of output. `mode` is absent on the first line (which runtime and transport). */
export interface StepResult {
  readonly mode?: Mode | "failures"
  readonly step: string
  readonly actual?: unknown
  readonly expected?: unknown
  readonly error?: { readonly tag: string; readonly message: string }
  readonly ms: number
}

const emit = (result: StepResult): void => console.log(JSON.stringify(result))

const hex = async (bytes: Uint8Array): Promise<string> =>
  Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)), (b) =>
    b.toString(16).padStart(2, "0")
  ).join("")

const sum = (sizes: ReadonlyArray<number>): number => sizes.reduce((a, b) => a + b, 0)

/** Times `effect` and prints its result next to what was expected. */
const step = <A, E extends { readonly _tag: string; readonly message: string }, R>(
  mode: Mode | "failures",
  name: string,
  expected: unknown,
  effect: Effect.Effect<A, E, R>,
  show: (a: A) => unknown | Promise<unknown> = (a) => a
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const started = performance.now()
    const a = yield* effect.pipe(
      Effect.tapError((error) =>
        Effect.sync(() =>
          emit({
            mode,
            step: name,
            expected,
            error: { tag: error._tag, message: error.message },
            ms: Math.round(performance.now() - started)
          })
        )
      )
    )
    const actual = yield* Effect.promise(async () => show(a))
    emit({ mode, step: name, actual, expected, ms: Math.round(performance.now() - started) })
    return a
  })

const session = (input: ScenarioInput, mode: Mode): Effect.Effect<void, Pop3Error, Transport> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { expected } = input
      const count = expected.sizes.length
      const auth = yield* step(
        mode,
        "connect",
        { secure: mode !== "none" },
        connect({
          host: input.host,
          servername: input.servername,
          port: mode === "implicit" ? input.tlsPort : input.port,
          tls: mode,
          ca: input.ca,
          timeout: "10 seconds"
        }),
        (a) => ({ secure: a.secure })
      )
      // Without TLS every mechanism gives something away (the password, or a digest an active
      // attacker can crack offline), so the scenario consents explicitly, as `--tls none` does.
      const mailbox = yield* step(
        mode,
        "login",
        "TRANSACTION",
        auth.login({ user: input.user, password: input.password, allowPlaintext: mode === "none" }),
        (m) => m.state()
      )
      yield* step(mode, "stat", { count, size: sum(expected.sizes) }, mailbox.stat, (s) => ({
        count: s.count,
        size: s.size
      }))
      yield* step(mode, "list", expected.sizes, mailbox.list, (l) => l.map((e) => e.size))
      yield* step(mode, "uidl", expected.uidls, mailbox.uidl, (l) => l.map((e) => e.uid))
      yield* step(mode, "top", expected.top.sha256, collect(mailbox.top(expected.top.msg, expected.top.lines)), hex)
      yield* step(
        mode,
        "retr",
        expected.sha256,
        Effect.forEach(expected.sizes, (_, i) => collect(mailbox.retr(i + 1))),
        (bodies) => Promise.all(bodies.map(hex))
      )
      yield* step(mode, "dele", { count: count - 1 }, Effect.andThen(mailbox.dele(1), mailbox.stat), (s) => ({
        count: s.count
      }))
      yield* step(mode, "rset", { count }, Effect.andThen(mailbox.rset, mailbox.stat), (s) => ({ count: s.count }))
      yield* step(mode, "quit", "CLOSED", mailbox.quit, () => mailbox.state())
    })
  )

/**
 * How connecting fails: each step prints the error (or the session's `secure` when it
 * connects), and the parent knows what each runtime must give.
 */
const failures = (input: ScenarioInput): Effect.Effect<void, never, Transport> => {
  const attempt = (name: string, options: Omit<Parameters<typeof connect>[0], "host">) =>
    Effect.ignore(
      Effect.scoped(
        step("failures", name, undefined, connect({ host: input.host, timeout: "5 seconds", ...options }), (a) => ({
          secure: a.secure
        }))
      )
    )
  const implicit = { port: input.tlsPort, tls: "implicit", servername: input.servername } as const
  const starttls = { port: input.port, tls: "starttls", servername: input.servername } as const
  return Effect.gen(function* () {
    yield* attempt("implicit without the CA", implicit)
    yield* attempt("starttls without the CA", starttls)
    yield* attempt("implicit, wrong name", { ...implicit, ca: input.ca, servername: "pop3.example.com" })
    yield* attempt("starttls, wrong name", { ...starttls, ca: input.ca, servername: "pop3.example.com" })
    yield* attempt("implicit, insecure", { ...implicit, insecure: true })
    yield* attempt("starttls, insecure", { ...starttls, insecure: true })
    yield* attempt("closed port", { port: input.closedPort, tls: "none" })
    yield* attempt("silent server", { port: input.silentPort, tls: "implicit", ca: input.ca, timeout: "300 millis" })
    yield* attempt("stalled STLS", {
      port: input.stallingStlsPort,
      tls: "starttls",
      ca: input.ca,
      timeout: "300 millis"
    })
    yield* attempt("implicit TLS to the plaintext port", { port: input.port, tls: "implicit", ca: input.ca })
    // The Node transport named explicitly, whatever the runtime: STLS works on Node, and on
    // Deno and Bun (whose node:tls cannot upgrade this socket) fails at once, naming the way.
    yield* attempt("starttls through pop3-everywhere/node", { ...starttls, ca: input.ca }).pipe(
      Effect.provide(NodeTransport.layer)
    )
  })
}

const program = (input: ScenarioInput): Effect.Effect<void, never, Transport> =>
  Effect.gen(function* () {
    const transport = yield* Transport
    emit({ step: "runtime", actual: { runtime: detectRuntime(), transport: transport.name }, ms: 0 })
    for (const mode of input.modes) {
      // A failed step has printed its error; the next mode still runs.
      yield* Effect.ignore(session(input, mode))
    }
    yield* failures(input)
  })

const raw = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env["POP3_SCENARIO"]
if (raw === undefined) throw new Error("set POP3_SCENARIO to the JSON of a ScenarioInput")
await Effect.runPromise(program(JSON.parse(raw) as ScenarioInput).pipe(Effect.provide(layer)))
