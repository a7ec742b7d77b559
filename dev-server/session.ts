// One POP3 session of the dev server: the state machine (AUTHORIZATION → TRANSACTION →
// UPDATE, RFC 1939), the read-dispatch-answer loop, and the helpers command handlers use.
// Commands themselves live in a table (commands.ts) so SASL mechanisms and test-specific
// commands can be plugged in without touching the loop.
//
// Portable: web streams, TextEncoder, atob/btoa, setTimeout and @noble/hashes only.

import type { Behaviour } from "./behaviour.ts"
import type { MailboxLock, MailStore, StoredMessage } from "./store.ts"
import { bodyChunks, CHUNK, ConnectionGone, LineReader, Output, utf8 } from "./wire.ts"

export type SessionState = "AUTHORIZATION" | "TRANSACTION" | "UPDATE"

export interface DuplexStreams {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
}

export interface ParsedCommand {
  /** The keyword, upper-cased (keywords are case-insensitive, RFC 1939 §3). */
  readonly keyword: string
  /** Arguments split on runs of spaces. */
  readonly args: ReadonlyArray<string>
  /** Everything after the first space, verbatim (a PASS password may contain spaces). */
  readonly rest: string
}

export interface CommandSpec {
  /** States in which the command is legal; elsewhere the session answers -ERR. */
  readonly states: ReadonlyArray<SessionState>
  /** Handles the command: writes its whole answer through the session's helpers. */
  readonly run: (session: Session, command: ParsedCommand) => void | Promise<void>
}

/** Keyword (upper case) → handler. */
export type CommandTable = Readonly<Record<string, CommandSpec>>

/** What a SASL mechanism sees of the session during AUTH (RFC 5034). */
export interface SaslExchange {
  readonly store: MailStore
  readonly tls: boolean
  /**
   * Sends "+ " and the base64 challenge, and resolves with the client's decoded answer.
   * Throws SaslAbort when the client cancels with "*" or sends bad base64; AUTH then
   * answers -ERR, so mechanisms need not handle it.
   */
  challenge(data: Uint8Array): Promise<Uint8Array>
}

export type SaslOutcome = { readonly ok: true; readonly user: string } | { readonly ok: false; readonly text?: string }

export interface SaslMechanism {
  /** As listed in CAPA's SASL line and named on the AUTH line, e.g. "PLAIN". */
  readonly name: string
  /** Runs the exchange; `initialResponse` is the decoded AUTH-line argument ("=" → empty). */
  authenticate(exchange: SaslExchange, initialResponse: Uint8Array | undefined): Promise<SaslOutcome>
}

/** Ends an AUTH exchange with "-ERR <message>". */
export class SaslAbort extends Error {
  constructor(message: string) {
    super(message)
    this.name = "SaslAbort"
  }
}

export interface ConnectionHooks {
  /** Offers STLS; called after "+OK", must resolve with the TLS streams once negotiated. */
  readonly startTls?: (() => Promise<DuplexStreams>) | undefined
  /** Aborting drops the connection at once. */
  readonly signal?: AbortSignal | undefined
  /** SASL mechanisms offered through CAPA and AUTH. */
  readonly sasl?: ReadonlyArray<SaslMechanism> | undefined
  /** Extra or replacement commands, merged over the default table. */
  readonly commands?: CommandTable | undefined
}

/** RFC 2449 §4: a command line is at most 255 octets including CRLF. */
export const MAX_COMMAND_OCTETS = 255
/** SASL continuation lines carry tokens (OAuth) far longer than a command line. */
const MAX_SASL_OCTETS = 64 * 1024

let greetings = 0

function parseCommand(line: string): ParsedCommand {
  const sp = line.indexOf(" ")
  const keyword = (sp === -1 ? line : line.slice(0, sp)).toUpperCase()
  const rest = sp === -1 ? "" : line.slice(sp + 1)
  return { keyword, rest, args: rest.split(" ").filter((a) => a !== "") }
}

function countLf(data: Uint8Array): number {
  let n = 0
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, i + 1)) n++
  return n
}

export function toBase64(data: Uint8Array): string {
  let s = ""
  for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000))
  return btoa(s)
}

/** Strict base64 (RFC 4648 alphabet, padded); undefined when malformed. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined
  const bin = atob(text)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

export class Session {
  state: SessionState = "AUTHORIZATION"
  readonly store: MailStore
  readonly behaviour: Behaviour
  readonly commands: CommandTable
  readonly saslMechanisms: ReadonlyArray<SaslMechanism>
  /** The "<…@…>" of the greeting, for APOP; undefined when the greeting has none. */
  readonly apopTimestamp: string | undefined
  tls = false
  private readonly greeting: string
  /** Set by USER, consumed by PASS. */
  pendingUser: string | undefined = undefined

  private mailbox: MailboxLock | undefined = undefined
  private readonly deleted = new Set<number>()
  private reader: LineReader
  private out: Output
  private readonly startTlsHook: (() => Promise<DuplexStreams>) | undefined
  private readonly signal: AbortSignal | undefined
  /** Set when the session must end after the current command (QUIT, drops, stalls). */
  private ended = false
  private aborted = false
  private commandsRead = 0
  private idleTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private readonly sizeCache = new WeakMap<StoredMessage, number>()

  constructor(
    store: MailStore,
    conn: DuplexStreams,
    behaviour: Behaviour,
    hooks: ConnectionHooks,
    commands: CommandTable
  ) {
    this.store = store
    this.behaviour = behaviour
    this.commands = commands
    this.saslMechanisms = hooks.sasl ?? []
    this.startTlsHook = hooks.startTls
    this.signal = hooks.signal
    this.reader = new LineReader(conn.readable)
    this.out = this.makeOutput(conn.writable)
    const custom = behaviour.greeting
    this.greeting =
      typeof custom === "string"
        ? custom
        : behaviour.bareOk
          ? "+OK"
          : `+OK POP3 dev server ready <${++greetings}.${Date.now()}@pop3-dev-server>`
    // RFC 1939 §7: APOP uses the timestamp of the greeting as sent, if it has one.
    this.apopTimestamp = /<[^<>\s]+@[^<>\s]+>/.exec(this.greeting)?.[0]
  }

  // ── The loop ────────────────────────────────────────────────────────────────────

  async run(): Promise<void> {
    const onAbort = (): void => {
      this.ended = true
      this.aborted = true
      this.out.abort()
      this.reader.cancel()
    }
    if (this.signal?.aborted) return onAbort()
    this.signal?.addEventListener("abort", onAbort, { once: true })
    try {
      if (await this.greet()) await this.loop()
      else await this.hang()
    } catch (e) {
      if (!(e instanceof ConnectionGone)) throw e
    } finally {
      this.signal?.removeEventListener("abort", onAbort)
      await this.finish()
    }
  }

  private async loop(): Promise<void> {
    const stallAfter = this.behaviour.stallAfterCommands
    const stallAt = this.behaviour.stallAtCommand?.toUpperCase()
    while (!this.ended) {
      // Answers to a pipelined batch are sent together once the batch is used up.
      if (!this.reader.hasLine()) await this.out.flush()
      this.armIdleTimer()
      const read = await this.reader.readLine(MAX_COMMAND_OCTETS)
      this.clearIdleTimer() // idle means waiting for a command, not sending a long answer
      if (read.kind === "eof" || this.ended) break
      this.commandsRead++
      if (read.kind === "line") this.behaviour.onCommand?.(read.text)
      if (
        (stallAfter !== undefined && this.commandsRead > stallAfter) ||
        (stallAt !== undefined && read.kind === "line" && parseCommand(read.text).keyword === stallAt)
      ) {
        await this.hang()
        break
      }
      if (read.kind === "too-long") this.err(`Command line too long (limit ${MAX_COMMAND_OCTETS} octets)`)
      else await this.dispatch(read.text)
      if (this.out.bufferedOctets >= CHUNK) await this.out.flush()
    }
  }

  private async dispatch(line: string): Promise<void> {
    const command = parseCommand(line)
    if (command.keyword === "") return this.err("Empty command line")
    const spec = Object.hasOwn(this.commands, command.keyword) ? this.commands[command.keyword] : undefined
    if (spec === undefined) return this.err("Unknown command")
    if (!spec.states.includes(this.state))
      return this.err(`${command.keyword} is not allowed in the ${this.state} state`)
    await spec.run(this, command)
  }

  private async greet(): Promise<boolean> {
    const b = this.behaviour
    if (b.hugeStatusLine !== undefined) {
      this.out.push(utf8("+OK "))
      for (let left = b.hugeStatusLine; left > 0; left -= CHUNK) {
        // A fresh piece each time: the reader may keep or transfer what it received.
        this.out.push(new Uint8Array(Math.min(CHUNK, left)).fill(0x41))
        await this.out.flush()
      }
      await this.out.flush()
      return false
    }
    if (b.greeting === false) return false
    this.out.line(this.greeting)
    return true
  }

  /** Never answers again: flushes what was due, then swallows input until the client leaves. */
  async hang(): Promise<void> {
    this.clearIdleTimer()
    await this.out.flush()
    await this.reader.drain()
    this.ended = true
  }

  private async finish(): Promise<void> {
    this.clearIdleTimer()
    if (this.mailbox !== undefined) {
      // RFC 1939 §6: without QUIT there is no UPDATE state, so nothing is deleted.
      if (this.behaviour.commitOnDisconnect) this.mailbox.commit(this.deletedMessages())
      else this.mailbox.release()
      this.mailbox = undefined
    }
    try {
      // After an abort, closing would wait for a write the sink may never finish.
      if (!this.aborted) await this.out.close()
    } catch {
      // The peer is gone or the stream was handed over; nothing left to say.
    }
    this.reader.cancel()
  }

  private armIdleTimer(): void {
    const ms = this.behaviour.idleTimeoutMs
    if (ms === undefined) return
    this.clearIdleTimer()
    this.idleTimer = setTimeout(() => {
      // RFC 1939 §3 autologout: close without a response and without UPDATE.
      this.ended = true
      this.reader.cancel()
    }, ms)
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }

  private makeOutput(writable: WritableStream<Uint8Array>): Output {
    return new Output(writable, { lfOnly: this.behaviour.lfOnly === true, pieceSize: this.behaviour.writeChunkSize })
  }

  // ── Answers ─────────────────────────────────────────────────────────────────────

  /** An informational "+OK text" (bare "+OK" under `bareOk`). */
  ok(text = ""): void {
    this.out.line(this.behaviour.bareOk || text === "" ? "+OK" : `+OK ${text}`)
  }

  /** A "+OK" whose text is data (STAT, LIST n, UIDL n): never stripped. */
  okData(text: string): void {
    this.out.line(`+OK ${text}`)
  }

  /** "-ERR [CODE] text" (RFC 2449 response codes). */
  err(text: string, code?: string): void {
    const token = this.behaviour.plusErr ? "+ERR" : "-ERR"
    this.out.line(code === undefined ? `${token} ${text}` : `${token} [${code}] ${text}`)
  }

  /** One line of a multi-line answer, dot-stuffed like any other. */
  line(text: string): void {
    this.out.line(text.startsWith(".") && !this.behaviour.noDotStuffing ? `.${text}` : text)
  }

  /** Ends a multi-line answer. */
  end(): void {
    this.out.line(".")
  }

  /**
   * Sends message bytes as the rest of a multi-line answer, dot-stuffed, in pieces under
   * backpressure — or, under `stallMidBody` / `closeMidBody`, half of them and then hangs
   * or closes.
   */
  async body(data: Uint8Array): Promise<void> {
    const b = this.behaviour
    const framing = { stuff: b.noDotStuffing !== true, lfOnly: b.lfOnly === true }
    const broken = b.stallMidBody === true || b.closeMidBody === true
    const part = broken ? data.subarray(0, Math.floor(data.length / 2)) : data
    for (const chunk of bodyChunks(part, { ...framing, terminate: !broken })) {
      this.out.push(chunk)
      if (this.out.bufferedOctets >= CHUNK) await this.out.flush()
    }
    if (!broken) return
    await this.out.flush()
    await this.out.settle()
    if (b.stallMidBody) await this.hang()
    this.ended = true
  }

  /** Sends what was written so far and waits until it is on its way (a command that pauses mid-answer). */
  async flush(): Promise<void> {
    await this.out.flush()
    await this.out.settle()
  }

  /** Ends the session once the current command's answer is sent. */
  close(): void {
    this.ended = true
  }

  // ── Maildrop ────────────────────────────────────────────────────────────────────

  /** The locked maildrop (empty before login). Message n is messages[n - 1]. */
  get messages(): ReadonlyArray<StoredMessage> {
    return this.mailbox?.messages ?? []
  }

  isDeleted(n: number): boolean {
    return this.deleted.has(n)
  }

  markDeleted(n: number): void {
    this.deleted.add(n)
  }

  unmarkAll(): void {
    this.deleted.clear()
  }

  /** The size LIST and STAT report: the real octet count unless `wrongListSizes`. */
  reportedSize(message: StoredMessage): number {
    if (this.behaviour.reportedSize !== undefined) return this.behaviour.reportedSize
    if (!this.behaviour.wrongListSizes) return message.size ?? message.data.length
    let size = this.sizeCache.get(message)
    if (size === undefined) {
      size = message.data.length - countLf(message.data)
      this.sizeCache.set(message, size)
    }
    return size
  }

  /** The UID UIDL reports for message n (duplicated under `duplicateUids`). */
  reportedUid(n: number): string {
    const index = this.behaviour.duplicateUids && n % 2 === 0 ? n - 2 : n - 1
    const uid = this.messages[index]?.uid ?? ""
    return this.behaviour.uid === undefined ? uid : this.behaviour.uid(n, uid)
  }

  /** Count and total reported size of the messages not marked deleted. */
  stats(): { count: number; octets: number } {
    let count = 0
    let octets = 0
    this.messages.forEach((m, i) => {
      if (this.deleted.has(i + 1)) return
      count++
      octets += this.reportedSize(m)
    })
    return { count, octets }
  }

  /**
   * Resolves a message-number argument, answering -ERR itself when it is malformed,
   * out of range or marked deleted.
   */
  message(arg: string | undefined): { n: number; message: StoredMessage } | undefined {
    if (arg === undefined || !/^[0-9]{1,10}$/.test(arg)) {
      this.err("Invalid message number")
      return undefined
    }
    const n = Number(arg)
    const message = n >= 1 ? this.messages[n - 1] : undefined
    if (message === undefined) {
      this.err(`There is no message ${arg}`)
      return undefined
    }
    if (this.deleted.has(n)) {
      this.err(`Message ${n} is already deleted`)
      return undefined
    }
    return { n, message }
  }

  private deletedMessages(): StoredMessage[] {
    const all = this.messages
    return [...this.deleted].flatMap((n) => all[n - 1] ?? [])
  }

  // ── Authentication ──────────────────────────────────────────────────────────────

  /**
   * Finishes a login attempt whose credentials were checked: locks the maildrop and
   * enters TRANSACTION, or answers -ERR with the right response code.
   */
  login(user: string, credentialsOk: boolean): void {
    this.pendingUser = undefined
    if (!credentialsOk) return this.authFailed()
    const b = this.behaviour
    if (b.inUse) return this.err("Mailbox is locked by another POP3 session", "IN-USE")
    if (b.loginDelay !== undefined)
      return this.err(`Minimum time between logins is ${b.loginDelay} seconds`, "LOGIN-DELAY")
    if (b.loginFailure !== undefined) return this.out.line(`${b.plusErr ? "+ERR" : "-ERR"} ${b.loginFailure}`)
    const result = this.store.lock(user)
    if (!result.ok) {
      if (result.reason === "in-use") return this.err("Mailbox is locked by another POP3 session", "IN-USE")
      return this.authFailed()
    }
    this.mailbox = result.lock
    this.deleted.clear()
    this.state = "TRANSACTION"
    const { count, octets } = this.stats()
    this.ok(`Logged in, ${count} messages (${octets} octets)`)
  }

  authFailed(text = "Authentication failed"): void {
    if (this.behaviour.noAuthCodes) this.err(text)
    else this.err(text, "AUTH")
    if (this.behaviour.closeAfterAuthFailure) this.ended = true
  }

  /** The exchange handed to SASL mechanisms. */
  saslExchange(): SaslExchange {
    return {
      store: this.store,
      tls: this.tls,
      challenge: async (data) => {
        this.out.line(`+ ${toBase64(data)}`)
        await this.out.flush()
        const read = await this.reader.readLine(MAX_SASL_OCTETS)
        if (read.kind === "eof") throw new ConnectionGone("closed during AUTH")
        if (read.kind === "too-long") throw new SaslAbort("Authentication response too long")
        this.behaviour.onCommand?.(read.text)
        if (read.text === "*") throw new SaslAbort("Authentication cancelled")
        const decoded = fromBase64(read.text)
        if (decoded === undefined) throw new SaslAbort("Invalid base64 in authentication response")
        return decoded
      }
    }
  }

  // ── STLS ────────────────────────────────────────────────────────────────────────

  get canStartTls(): boolean {
    return this.startTlsHook !== undefined && !this.tls
  }

  /**
   * Answers "+OK", hands the streams to the TLS hook and continues on what it returns.
   * Anything the client pipelined after STLS is dropped (RFC 2595 §4: it could have been
   * injected before encryption).
   */
  async startTls(): Promise<void> {
    const hook = this.startTlsHook
    if (hook === undefined || this.tls) return this.err(this.tls ? "TLS is already active" : "STLS is not available")
    this.ok("Begin TLS negotiation")
    await this.out.flush()
    await this.out.settle()
    if (this.behaviour.stallAfterStls) {
      // Swallow the client's handshake and answer nothing, until it gives up.
      await this.reader.drain()
      throw new ConnectionGone("the client left during a stalled STLS")
    }
    this.reader.release()
    this.out.release()
    let streams: DuplexStreams
    try {
      streams = await hook()
    } catch (e) {
      this.ended = true
      throw new ConnectionGone(e)
    }
    this.reader = new LineReader(streams.readable)
    this.out = this.makeOutput(streams.writable)
    this.tls = true
    this.pendingUser = undefined
  }

  // ── QUIT ────────────────────────────────────────────────────────────────────────

  /** QUIT: in TRANSACTION enters UPDATE and commits deletions (RFC 1939 §6), then ends. */
  quit(): void {
    this.ended = true
    const mailbox = this.mailbox
    if (this.state !== "TRANSACTION" || mailbox === undefined) return this.ok("dev server signing off")
    this.state = "UPDATE"
    const gone = this.deletedMessages()
    mailbox.commit(gone)
    this.mailbox = undefined
    const left = mailbox.messages.length - gone.length
    this.ok(
      left === 0
        ? "dev server signing off (maildrop empty)"
        : `dev server signing off (${left} message${left === 1 ? "" : "s"} left)`
    )
  }
}
