/**
 * The `pop3` command line's parser, apart from the `--auth` choices: those come from the
 * library's mechanism registry, which this module must not load — the CLI's first lines
 * (bin.ts) parse with it before anything else has loaded, to connect early.
 * `args.ts` is the command line with the choices.
 *
 * @module
 */
import { parseArgs } from "node:util"

/**
 * A parsed command.
 * @category models
 */
export type CliCommand =
  | { readonly name: "capa" }
  | { readonly name: "stat" }
  | { readonly name: "list"; readonly msg: number | undefined }
  | { readonly name: "uidl"; readonly msg: number | undefined }
  | { readonly name: "top"; readonly msg: number; readonly lines: number }
  | { readonly name: "retr"; readonly msg: number }
  | { readonly name: "dele"; readonly msgs: ReadonlyArray<number> }
  | {
      readonly name: "fetch"
      /** The Maildir to deliver into (created when missing). */
      readonly maildir: string
      /** Delete on the server what is stored and recorded. */
      readonly delete: boolean
      /** The state file; undefined: `<maildir>/.pop3-state.json`. */
      readonly state: string | undefined
    }

/**
 * Parsed options.
 * @category models
 */
export interface CliOptions {
  readonly host: string
  readonly port: number
  readonly tls: "implicit" | "starttls" | "none"
  readonly user: string | undefined
  /** `auto` or one of `AUTH_CHOICES`, lower-cased. */
  readonly auth: string
  readonly ca: string | undefined
  readonly insecure: boolean
  readonly timeoutSeconds: number
  readonly trace: boolean
  readonly json: boolean
  readonly bridge: string | undefined
  /** With `bridge`: TLS in this client, through the bridge's `tls=passthrough` (experimental). */
  readonly endToEnd: boolean
  readonly command: CliCommand
}

/**
 * The result of parsing: options to run, a request for help, or a usage error.
 * @category models
 */
export type Parsed =
  | { readonly _tag: "Run"; readonly options: CliOptions }
  | { readonly _tag: "Help" }
  /** `pop3` alone: the usage text, on stderr, with the usage exit status. */
  | { readonly _tag: "NoArguments" }
  | { readonly _tag: "Version" }
  | { readonly _tag: "UsageError"; readonly message: string }

const positiveInt = (value: string | undefined, what: string, min = 1): number | string => {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    return `${what} must be a whole number ≥ ${min}, got ${value === undefined ? "nothing" : JSON.stringify(value)}`
  }
  return Number(value)
}

interface FetchFlags {
  readonly maildir: string | undefined
  readonly delete: boolean
  readonly state: string | undefined
}

const parseCommand = (words: ReadonlyArray<string>, fetch: FetchFlags): CliCommand | string => {
  const [name, ...rest] = words
  const arity = (min: number, max: number) =>
    rest.length < min || rest.length > max
      ? `${name} takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"}, got ${rest.length}`
      : undefined
  switch (name) {
    case undefined:
      return "no command given"
    case "capa":
    case "stat":
      return arity(0, 0) ?? { name }
    case "list":
    case "uidl": {
      const bad = arity(0, 1)
      if (bad !== undefined) return bad
      if (rest[0] === undefined) return { name, msg: undefined }
      const msg = positiveInt(rest[0], "the message number")
      return typeof msg === "string" ? msg : { name, msg }
    }
    case "top": {
      const bad = arity(2, 2)
      if (bad !== undefined) return bad
      const msg = positiveInt(rest[0], "the message number")
      const lines = positiveInt(rest[1], "LINES", 0)
      return typeof msg === "string" ? msg : typeof lines === "string" ? lines : { name, msg, lines }
    }
    case "retr": {
      const bad = arity(1, 1)
      if (bad !== undefined) return bad
      const msg = positiveInt(rest[0], "the message number")
      return typeof msg === "string" ? msg : { name, msg }
    }
    case "dele": {
      if (rest.length === 0) return "dele takes at least one message number"
      const msgs: Array<number> = []
      const seen = new Set<number>()
      for (const word of rest) {
        const msg = positiveInt(word, "a message number")
        if (typeof msg === "string") return msg
        // Servers answer a repeated DELE n with -ERR (Cyrus, Courier, popa3d, Solid), which
        // would undo the whole run: each message is marked once.
        if (!seen.has(msg)) msgs.push(msg)
        seen.add(msg)
      }
      return { name, msgs }
    }
    case "fetch": {
      const bad = arity(0, 0)
      if (bad !== undefined) return bad
      if (fetch.maildir === undefined || fetch.maildir === "") return "fetch needs --maildir DIR"
      if (fetch.state === "") return "--state needs a file name"
      return { name, maildir: fetch.maildir, delete: fetch.delete, state: fetch.state }
    }
    default:
      return `unknown command ${JSON.stringify(name)}`
  }
}

/**
 * Parses argv (without the node and script paths), checking `--auth` against
 * `authChoices` when given.
 * @category parsing
 */
export const parseArgv = (argv: ReadonlyArray<string>, authChoices: ReadonlyArray<string> | undefined): Parsed => {
  if (argv.length === 0) return { _tag: "NoArguments" }
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        tls: { type: "string" },
        user: { type: "string" },
        auth: { type: "string" },
        ca: { type: "string" },
        insecure: { type: "boolean" },
        timeout: { type: "string" },
        bridge: { type: "string" },
        "end-to-end": { type: "boolean" },
        trace: { type: "boolean" },
        json: { type: "boolean" },
        maildir: { type: "string" },
        delete: { type: "boolean" },
        state: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
        // Refused loudly: a password on the command line is visible to every user of the machine.
        password: { type: "string" },
        pass: { type: "string" }
      }
    })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    // Node's text for an unknown option goes on about positionals after "--", its quotes unbalanced.
    const unknown = /^Unknown option '([^']+)'/.exec(message)
    // A negative number looks like an option to parseArgs: `retr -1` is a message number.
    if (unknown !== null && /^-\d+$/.test(unknown[1]!))
      return { _tag: "UsageError", message: `message numbers start at 1, got ${unknown[1]}` }
    // `--timeout -5`: Node's three lines about an ambiguous argument, as one.
    const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(message)
    if (ambiguous !== null)
      return {
        _tag: "UsageError",
        message: `${ambiguous[1]} has no value (a value that starts with "-" is written ${ambiguous[1]}=-…)`
      }
    return { _tag: "UsageError", message: unknown === null ? message.split("\n")[0]! : `unknown option ${unknown[1]}` }
  }
  const v = parsed.values
  if (v.help === true) return { _tag: "Help" }
  if (v.version === true)
    // `pop3 --version stat` is a mistake, not a question: say so rather than answer 0.
    return parsed.positionals.length === 0
      ? { _tag: "Version" }
      : { _tag: "UsageError", message: `--version takes no command, got ${JSON.stringify(parsed.positionals[0])}` }
  if (v.password !== undefined || v.pass !== undefined) {
    return { _tag: "UsageError", message: "passwords are not accepted on the command line; set POP3_PASSWORD" }
  }
  if (v.host === undefined || v.host === "") return { _tag: "UsageError", message: "--host is required" }
  const tlsValue = v.tls ?? (v.port === "995" ? "implicit" : "starttls")
  if (tlsValue !== "implicit" && tlsValue !== "starttls" && tlsValue !== "none") {
    return { _tag: "UsageError", message: `--tls must be implicit, starttls or none, got ${JSON.stringify(tlsValue)}` }
  }
  const port = v.port === undefined ? (tlsValue === "implicit" ? 995 : 110) : positiveInt(v.port, "--port")
  if (typeof port === "string") return { _tag: "UsageError", message: port }
  if (port > 65535) return { _tag: "UsageError", message: `--port must be at most 65535, got ${port}` }
  const endToEnd = v["end-to-end"] === true
  if (endToEnd && v.bridge === undefined) {
    return { _tag: "UsageError", message: "--end-to-end needs --bridge (it is TLS through a pop3-bridge)" }
  }
  if (endToEnd && tlsValue === "none") {
    return { _tag: "UsageError", message: "--end-to-end needs --tls implicit or starttls, not none" }
  }
  // Through a bridge without --end-to-end the bridge does the TLS and checks the server's
  // certificate with its own roots: a --ca or --insecure here would change nothing, and a
  // user who pinned a private CA would believe it was checked.
  if (v.bridge !== undefined && !endToEnd && (v.ca !== undefined || v.insecure === true)) {
    return {
      _tag: "UsageError",
      message: `${v.ca !== undefined ? "--ca" : "--insecure"} applies to TLS this client does; through --bridge that is only with --end-to-end (otherwise the bridge checks the server's certificate)`
    }
  }
  if (endToEnd && v.insecure === true) {
    return {
      _tag: "UsageError",
      message: "--end-to-end cannot be --insecure: without verification the bridge could read everything"
    }
  }
  const auth = (v.auth ?? "auto").toLowerCase()
  if (authChoices !== undefined && !authChoices.includes(auth)) {
    return {
      _tag: "UsageError",
      message: `--auth must be one of ${authChoices.join(", ")}, got ${JSON.stringify(v.auth)}`
    }
  }
  let timeoutSeconds = 30
  if (v.timeout !== undefined) {
    // Decimal (with an exponent, "1e2"): Number() alone would also take "0x10", "0b1" and " 5 ".
    const t = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v.timeout) ? Number(v.timeout) : Number.NaN
    if (!Number.isFinite(t) || t <= 0)
      return {
        _tag: "UsageError",
        message: `--timeout must be a positive number of seconds, got ${JSON.stringify(v.timeout)}`
      }
    timeoutSeconds = t
  }
  const command = parseCommand(parsed.positionals, { maildir: v.maildir, delete: v.delete === true, state: v.state })
  if (typeof command === "string") return { _tag: "UsageError", message: command }
  if (command.name !== "fetch") {
    const stray =
      v.maildir !== undefined
        ? "--maildir"
        : v.delete !== undefined
          ? "--delete"
          : v.state !== undefined
            ? "--state"
            : undefined
    if (stray !== undefined)
      return { _tag: "UsageError", message: `${stray} is an option of fetch, not of ${command.name}` }
  }
  if (command.name !== "capa" && (v.user === undefined || v.user === "")) {
    return { _tag: "UsageError", message: `${command.name} needs --user (and the password in POP3_PASSWORD)` }
  }
  return {
    _tag: "Run",
    options: {
      // An IPv6 address may come in brackets, as URLs write it ("[::1]"): used bare, so that
      // both spellings are one server for the connection and one account in the state file
      // (the library's own rule, core/host.ts; the CLI imports only the public API).
      host: /^\[([^[\]]*:[^[\]]*)\]$/.exec(v.host)?.[1] ?? v.host,
      port,
      tls: tlsValue,
      user: v.user,
      auth,
      ca: v.ca,
      insecure: v.insecure === true,
      timeoutSeconds,
      trace: v.trace === true,
      json: v.json === true,
      bridge: v.bridge,
      endToEnd,
      command
    }
  }
}

/**
 * Whether the options name a user while the environment holds no password: every command
 * but a bare `capa` logs in, and an unset password is a mistake in the invocation, not
 * something to send to the server as an empty string.
 * @category parsing
 */
export const passwordMissing = (options: CliOptions, env: Readonly<Record<string, string | undefined>>): boolean =>
  options.user !== undefined && env["POP3_PASSWORD"] === undefined
