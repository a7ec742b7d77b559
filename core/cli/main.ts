/**
 * The `pop3` CLI: parse, connect, run one command, print, and exit with a status that
 * says what kind of failure happened. A plain module (no top-level side effects) so
 * tests can run it in-process and Deno/Bun can run the same file.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import { readFileSync } from "node:fs"
import {
  type Capabilities,
  connect,
  formatTraceEvent,
  type Mailbox,
  mechanisms,
  type Pop3Error,
  type Transport
} from "../index.ts"
import * as AutoTransport from "../transport/auto.ts"
import { type CliOptions, parseCli, USAGE } from "./args.ts"
import { passwordMissing } from "./argv.ts"
import { bridgeUrlWithToken } from "./bridge-url.ts"
import type { FetchError } from "./fetch.ts"
import { makeBase64Stream } from "./base64-stream.ts"
import { jsonLine, printable } from "./printable.ts"
import { VERSION } from "./version.ts"

/**
 * What the CLI touches of the outside world; tests pass their own.
 * @category models
 */
export interface CliIo {
  /** Writes to stdout; `bytes` may be a view into a reused read buffer, valid until the promise settles. */
  readonly stdout: (bytes: Uint8Array | string) => Promise<void>
  readonly stderr: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
  readonly readFile: (path: string) => string
  /** Raw text (no newline added) to stderr when it is a terminal, for `fetch`'s progress line; absent otherwise. */
  readonly progress?: ((text: string) => void) | undefined
  /** The transport to use; default: the runtime's own TCP/TLS (Node, Deno or Bun; see transport/auto.ts). */
  readonly transport?: Layer.Layer<Transport> | undefined
}

/**
 * Exit statuses, the CLI's contract.
 * @category contract
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, network: 3, protocol: 4, storage: 5 } as const

/**
 * The exit status for an error.
 * @category contract
 */
export const exitCodeOf = (error: Pop3Error): number => {
  switch (error._tag) {
    case "ServerError":
    case "AuthError":
      return EXIT.refused
    case "InvalidArgument":
    case "InvalidState":
      return EXIT.usage
    case "ConnectError":
    case "TlsError":
    case "TimeoutError":
    case "ConnectionClosed":
    case "BridgeError":
      return EXIT.network
    case "ProtocolError":
      return EXIT.protocol
  }
}

/**
 * `capa` on a server that answers CAPA with `-ERR` (popa3d, Solid POP3): it has no RFC 2449
 * capabilities to list. CLI exit 1.
 * @category errors
 */
export class CapaUnsupported extends Data.TaggedError("CapaUnsupported")<{
  readonly text: string
}> {
  override get message() {
    return `the server does not support CAPA (RFC 2449; it answered -ERR${this.text === "" ? "" : ` ${this.text}`}), so it has no capabilities to list`
  }
}

type CliFailure = Pop3Error | FetchError | CapaUnsupported

// What to do about a TLS failure, in this CLI's own flags.
const hint = (error: CliFailure, options: CliOptions): string => {
  // An implicit-TLS port (995) waits for the client's TLS hello and never greets in plaintext.
  if (error._tag === "TimeoutError" && error.operation === "the greeting" && options.tls !== "implicit") {
    return "; a server that expects TLS from the first byte (usually port 995) never greets in plaintext: try --tls implicit"
  }
  if (error._tag === "AuthError" && error.untried !== undefined && options.auth === "auto")
    return `; if the password is right: --auth ${error.untried.toLowerCase()}`
  if (error._tag !== "TlsError") return ""
  // Only when no CA vouched for the chain: not when a certificate of it is not for this use.
  if (error.problem === "untrusted-certificate" && /not signed by a trusted CA/.test(error.reason)) {
    return options.ca === undefined
      ? "; if the server's certificate comes from a private CA, pass that CA with --ca FILE"
      : `; the CA in --ca ${options.ca} does not vouch for it either`
  }
  if (error.problem === "not-tls" && options.tls === "implicit") {
    return "; for a server that starts in plaintext and offers STLS, use --tls starttls (usually port 110)"
  }
  if (error.problem === "protocol-version" && options.endToEnd) {
    return "; --end-to-end speaks TLS 1.3 only: without it the bridge does TLS to this server"
  }
  if (error.problem === "host-name-mismatch" && options.endToEnd && /^[\d.]+$|:/.test(options.host)) {
    return "; --end-to-end checks DNS names only: use the name on the server's certificate as --host"
  }
  return ""
}

// The CLI's own failures: no UIDL or no CAPA is a refusal by the server; local I/O has its own status.
const exitCodeOfFailure = (error: CliFailure): number =>
  error._tag === "StorageError"
    ? EXIT.storage
    : error._tag === "UidlRequired" || error._tag === "CapaUnsupported"
      ? EXIT.refused
      : exitCodeOf(error)

const capaJson = (caps: Capabilities) => Object.fromEntries(caps.entries)

const printCapa = (
  caps: Capabilities,
  options: CliOptions,
  out: (text: string) => Effect.Effect<void>,
  json: (value: unknown) => Effect.Effect<void>
) =>
  caps.refused !== undefined
    ? Effect.fail(new CapaUnsupported({ text: caps.refused }))
    : options.json
      ? json(capaJson(caps))
      : out(caps.lines.map((l) => printable(l) + "\n").join(""))

/**
 * A listing printed as its lines arrive, a network chunk at a time with stdout's
 * backpressure, so a mailbox of 100,000 messages is never held. `--json` writes the same
 * one-line array as before, in pieces: it is whole once the listing has ended (on a failure
 * the exit status says the output is cut short).
 */
const printListing = <A>(
  entries: Stream.Stream<A, Pop3Error>,
  asJson: boolean,
  out: (text: string) => Effect.Effect<void>,
  line: (entry: A) => string
): Effect.Effect<void, Pop3Error> => {
  if (!asJson) return Stream.runForEachArray(entries, (chunk) => out(chunk.map((e) => line(e) + "\n").join("")))
  let first = true
  return Effect.andThen(
    Stream.runForEachArray(entries, (chunk) => {
      const text = chunk.map(jsonLine).join(",")
      const piece = first ? `[${text}` : `,${text}`
      first = false
      return out(piece)
    }),
    Effect.suspend(() => out(first ? "[]\n" : "]\n"))
  )
}

// `ca`: the --ca file's PEM, read (and checked) once by main.
const run = (options: CliOptions, io: CliIo, ca: string | undefined): Effect.Effect<void, CliFailure, Transport> =>
  Effect.scoped(
    Effect.gen(function* () {
      const start = Date.now()
      const out = (bytes: Uint8Array | string) => Effect.promise(() => io.stdout(bytes))
      const json = (value: unknown) => out(jsonLine(value) + "\n")
      const command = options.command
      // fetch's own code (the Maildir and state file, node:fs/promises) is loaded only for
      // fetch, and it opens the Maildir and reads the state file while the connection is
      // made: then a Maildir it cannot create or a damaged state file ends the run before
      // the login (a password tried on the server for nothing), at no cost in time.
      const fetching =
        command.name === "fetch"
          ? yield* Effect.forkScoped(
              Effect.gen(function* () {
                const [fetch, { accountKey, legacyAccountKey }] = yield* Effect.promise(() =>
                  Promise.all([import("./fetch.ts"), import("./fetch-state.ts")])
                )
                const fetchOptions = {
                  maildir: command.maildir,
                  state: command.state,
                  delete: command.delete,
                  json: options.json,
                  account: accountKey(options.user ?? "", options.host, options.port),
                  legacyAccount: legacyAccountKey(options.user ?? "", options.host)
                }
                const store = yield* fetch.openFetchStore(fetchOptions)
                return { fetchMail: fetch.fetchMail, fetchOptions, store }
              })
            )
          : undefined
      const session = yield* connect({
        host: options.host,
        port: options.port,
        tls: options.tls,
        insecure: options.insecure,
        timeout: options.timeoutSeconds * 1000,
        ...(ca !== undefined ? { ca } : {}),
        ...(options.trace ? { trace: (event) => io.stderr(printable(formatTraceEvent(event, start))) } : {})
      })
      if (command.name === "capa" && options.user === undefined) {
        return yield* printCapa(session.capabilities(), options, out, json)
      }
      // POP3_PASSWORD holds the OAuth token for a mechanism that takes one (XOAUTH2, OAUTHBEARER).
      const secret = io.env["POP3_PASSWORD"] ?? ""
      const takesToken = mechanisms.find((m) => m.name.toLowerCase() === options.auth)?.credential === "token"
      const fetchReady = fetching === undefined ? undefined : yield* Fiber.join(fetching)
      const mailbox: Mailbox = yield* session.login({
        user: options.user ?? "",
        ...(takesToken ? { token: secret } : { password: secret }),
        mechanism: options.auth,
        // `--tls none` is the user's explicit choice of an unencrypted connection.
        allowPlaintext: options.tls === "none",
        // The CAPA after login rides with the command (one round trip fewer); `capa` prints it.
        capaWithNextCommand: command.name !== "capa"
      })
      switch (command.name) {
        case "capa": {
          yield* printCapa(mailbox.capabilities(), options, out, json)
          break
        }
        case "stat": {
          const stat = yield* mailbox.stat
          yield* options.json ? json(stat) : out(`${stat.count} ${stat.size}\n`)
          break
        }
        case "list": {
          const entries =
            command.msg === undefined ? mailbox.listStream : Stream.fromEffect(mailbox.listOne(command.msg))
          yield* printListing(entries, options.json, out, (e) => `${e.msg} ${e.size}`)
          break
        }
        case "uidl": {
          const entries =
            command.msg === undefined ? mailbox.uidlStream : Stream.fromEffect(mailbox.uidlOne(command.msg))
          yield* printListing(entries, options.json, out, (e) => `${e.msg} ${printable(e.uid)}`)
          break
        }
        case "top":
        case "retr": {
          const body = command.name === "top" ? mailbox.top(command.msg, command.lines) : mailbox.retr(command.msg)
          if (options.json) {
            // Streamed as it arrives: a server decides how large a message is, and held
            // whole (then one base64 string) a 300 MB one took 2 GB and a 450 MB one failed
            // past V8's longest string. "size" comes last, once counted.
            // The opening goes with the first bytes: a refused RETR (-ERR) prints nothing.
            const base64 = makeBase64Stream()
            let size = 0
            let opening = `{"msg":${command.msg},"base64":"`
            const opened = (text: string) => {
              const all = opening + text
              opening = ""
              return all
            }
            yield* Stream.runForEach(body, (chunk) => {
              size += chunk.length
              const text = opened(base64.push(chunk))
              return text === "" ? Effect.void : out(text)
            })
            yield* out(opened(`${base64.end()}","size":${size}}\n`))
          } else if (command.name === "retr") {
            // Streamed straight to stdout, with its backpressure: a 1 GB message never sits in
            // memory. Through a sink, each chunk is the socket's own bytes (no copy), written
            // before the next read reuses its buffer.
            yield* Stream.runDrain(mailbox.retrManyInto([command.msg], () => ({ push: out, end: () => Effect.void })))
          } else {
            yield* Stream.runForEach(body, out)
          }
          break
        }
        case "dele": {
          for (const msg of command.msgs) yield* mailbox.dele(msg)
          yield* mailbox.quit
          if (options.json) yield* json({ deleted: command.msgs })
          return
        }
        case "fetch": {
          // fetch ends the session itself (DELE only after storing, then QUIT).
          const { fetchMail, fetchOptions, store } = fetchReady!
          yield* fetchMail(
            mailbox,
            fetchOptions,
            { stdout: io.stdout, stderr: io.stderr, progress: io.progress },
            store
          )
          return
        }
      }
      yield* mailbox.quit
    })
  )

/**
 * Runs the CLI and returns the exit status.
 * @category entry
 */
export const main = async (argv: ReadonlyArray<string>, io: CliIo): Promise<number> => {
  const parsed = parseCli(argv)
  switch (parsed._tag) {
    case "Help":
      await io.stdout(USAGE + "\n")
      return EXIT.ok
    case "Version":
      await io.stdout(VERSION + "\n")
      return EXIT.ok
    case "NoArguments":
      // A first try, or a script that lost its arguments: what the command takes, not one of its errors.
      io.stderr(USAGE)
      return EXIT.usage
    case "UsageError":
      io.stderr(`pop3: ${parsed.message} (see pop3 --help)`)
      return EXIT.usage
  }
  const options = parsed.options
  if (passwordMissing(options, io.env)) {
    io.stderr(
      "pop3: set the password in the POP3_PASSWORD environment variable (it is never taken from the command line)"
    )
    return EXIT.usage
  }
  let transport = io.transport ?? AutoTransport.layer
  if (options.bridge !== undefined) {
    const bridge = bridgeUrlWithToken(options.bridge, io.env["POP3_BRIDGE_TOKEN"])
    if (typeof bridge !== "string") {
      io.stderr(`pop3: ${bridge.usage}`)
      return EXIT.usage
    }
    // `ws`, not Node's global WebSocket: that one cannot pause, so a fast server could fill
    // this process's memory (transport/node-websocket.ts).
    transport =
      io.transport ?? (await import("../transport/node-websocket.ts")).layer(bridge, { endToEnd: options.endToEnd })
  }
  let pem: string | undefined
  if (options.ca !== undefined) {
    try {
      pem = io.readFile(options.ca)
    } catch (error) {
      io.stderr(`pop3: cannot read --ca ${options.ca}: ${error instanceof Error ? error.message : String(error)}`)
      return EXIT.usage
    }
    // Not a CA (an empty file, the wrong file): said now, not as a TLS failure blaming the CA.
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      io.stderr(`pop3: --ca ${printable(options.ca)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
      return EXIT.usage
    }
  }
  const exit = await Effect.runPromiseExit(run(options, io, pem).pipe(Effect.provide(transport)))
  if (Exit.isSuccess(exit)) return EXIT.ok
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const error = failure.error
    // Messages quote the server's own words: never raw to the terminal.
    const message = error.message + hint(error, options)
    io.stderr(options.json ? jsonLine({ error: error._tag, message }) : `pop3: ${printable(message)}`)
    return exitCodeOfFailure(error)
  }
  const defect = exit.cause.reasons.find(Cause.isDieReason)?.defect
  const code = (defect as { code?: unknown } | undefined)?.code
  // `pop3 retr 1 | head`: the reader left, as it meant to. Like other Unix tools, stop quietly.
  if (code === "EPIPE") return EXIT.ok
  // The output could not be written (`> /dev/full`, a disk full): local I/O, not a bug.
  if ((defect as { syscall?: unknown } | undefined)?.syscall === "write" && typeof code === "string") {
    // Node's "ENOSPC: no space left on device, write" as "no space left on device (ENOSPC)".
    const said = String((defect as { message?: unknown }).message ?? code)
    io.stderr(`pop3: cannot write the output: ${said.replace(/^(E[A-Z]+): (.*?), write$/, "$2 ($1)")}`)
    return EXIT.storage
  }
  io.stderr(`pop3: internal error: ${printable(Cause.pretty(exit.cause).split("\n")[0] ?? "")}`)
  return 70
}

/**
 * The real process's I/O.
 * @category entry
 */
export const processIo = (): CliIo => {
  // `pop3 retr 1 | head`: the reader may go away. Without a listener the EPIPE is an
  // unhandled 'error' event (a stack trace, exit 1 = "refused"); with it the pending or
  // next write fails, the session closes (RSET, QUIT) and main reports it in one line.
  let broken: Error | undefined
  process.stdout.on("error", (error) => (broken ??= error))
  // The same for stderr (`pop3 --trace … 2>&1 | grep -m1 …`): without a listener its EPIPE
  // crashed the process (exit 1, "refused"); once broken, what would go there is dropped.
  let stderrBroken = false
  process.stderr.on("error", () => {
    stderrBroken = true
  })
  const toStderr = (text: string) => {
    if (!stderrBroken) process.stderr.write(text)
  }
  return {
    stdout: (bytes) =>
      new Promise<void>((resolve, reject) => {
        if (broken !== undefined) return reject(broken)
        // Settled once written, not when queued: the bytes may be a view into a read buffer
        // the transport reuses (core/transport/read-pool.ts). That is the backpressure too.
        process.stdout.write(bytes, (error) => (error ? reject(error) : resolve()))
      }),
    stderr: (text) => toStderr(text + "\n"),
    env: process.env,
    readFile: (path) => readFileSync(path, "utf8"),
    progress: process.stderr.isTTY ? toStderr : undefined
  }
}
