// Per-connection misbehaviours of the dev server. Each one reproduces something real
// servers do (see /work/shared/notes/server-quirks.md), so client tests can ask for it.
// Everything is optional; an empty object is an RFC-correct server.

import type { SessionState } from "./session.ts"

export interface Behaviour {
  // ── Framing ─────────────────────────────────────────────────────────────────────
  /** Send body lines starting with "." unstuffed (GreenMail, Mailpit, hMailServer TOP). */
  readonly noDotStuffing?: boolean
  /** Bare LF instead of CRLF everywhere: status lines, body lines and ".\n" (Mailtrap). */
  readonly lfOnly?: boolean
  /**
   * Split every write into pieces of at most this many octets, each awaited before the
   * next, so terminators like "\r\n.\r\n" straddle reads (node-pop3 #36).
   */
  readonly writeChunkSize?: number
  /** LIST, STAT and RETR's "+OK n octets" report every message as this many octets (sizes that lie, hostile or broken). */
  readonly reportedSize?: number
  /** LIST, STAT and RETR's "+OK n octets" count LF as one octet, so sizes are too small. */
  readonly wrongListSizes?: boolean
  /** Runs of spaces between the fields of LIST and UIDL lines (Comcast). */
  readonly uidlSpaces?: boolean
  /** Every even-numbered message reports the UID of the message before it (getmail6). */
  readonly duplicateUids?: boolean
  /** Rewrites the UID UIDL reports for message n (hostile or broken servers). */
  readonly uid?: (n: number, uid: string) => string
  /** Text appended after the data of STAT and scan listings, which RFC 1939 allows. */
  readonly extraStatusText?: string

  // ── Status lines ────────────────────────────────────────────────────────────────
  /**
   * Every informational "+OK" has no text (MailKit #171, Exchange CAPA), the greeting too
   * (so no APOP). Lines whose text is data (STAT, LIST n, UIDL n) keep it.
   */
  readonly bareOk?: boolean
  /** Answer failures with "+ERR" instead of "-ERR" (hMailServer once did). */
  readonly plusErr?: boolean
  /**
   * The greeting line (without line end) instead of the default one with an APOP
   * timestamp; APOP works only if it contains a "<…@…>" timestamp. `false`: never greet,
   * never answer (a server that accepted the connection and hung).
   */
  readonly greeting?: string | false
  /**
   * Greeting is "+OK " and then this many "A"s with no line end, produced lazily in
   * 64 KiB pieces under backpressure (1 GB costs no memory); then the server hangs.
   */
  readonly hugeStatusLine?: number
  /**
   * CAPA answer: these lines instead of the computed ones, a function of the state (Gmail
   * lists TOP and PIPELINING only after login), or `false` for "-ERR" (pre-RFC 2449 servers).
   */
  readonly capa?: false | ReadonlyArray<string> | ((state: SessionState, tls: boolean) => ReadonlyArray<string>)

  // ── Hanging and dropping ────────────────────────────────────────────────────────
  /** Answer this many commands, then never answer again but keep the connection open. */
  readonly stallAfterCommands?: number
  /**
   * Answer every command until the first with this keyword (any case), then never answer
   * again but keep the connection open: "LIST" lets the login, STAT and TOP through.
   */
  readonly stallAtCommand?: string
  /** STLS is answered "+OK", then the TLS handshake never happens (the server stalls until the client leaves). */
  readonly stallAfterStls?: boolean
  /** RETR and TOP send their "+OK" and half the body, then hang. */
  readonly stallMidBody?: boolean
  /** RETR and TOP send their "+OK" and half the body, then close the connection. */
  readonly closeMidBody?: boolean
  /** Close the connection after every failed login (free.fr, MailKit #856). */
  readonly closeAfterAuthFailure?: boolean
  /** Close silently after this many milliseconds without a command (Exchange's ~60 s; RFC 1939 autologout). */
  readonly idleTimeoutMs?: number

  // ── Login outcomes ──────────────────────────────────────────────────────────────
  /** Good credentials still fail with "-ERR [IN-USE] …" (mailbox locked elsewhere). */
  readonly inUse?: boolean
  /** Advertise "LOGIN-DELAY n" and fail good logins with "-ERR [LOGIN-DELAY] …". */
  readonly loginDelay?: number
  /**
   * Good credentials still fail with "-ERR " and this text, e.g.
   * "[AUTH] Application-specific password required" (Gmail) or "[SYS/TEMP] Try later".
   */
  readonly loginFailure?: string
  /** Refuse USER/PASS before STLS (Dovecot's disable_plaintext_auth); USER leaves CAPA until then. */
  readonly requireTlsForLogin?: boolean
  /** Failed logins answer "-ERR <text>" without the [AUTH] response code (Courier). */
  readonly noAuthCodes?: boolean
  /** Commit DELE marks on any disconnect, not only on QUIT (Eudora QPOP). */
  readonly commitOnDisconnect?: boolean

  // ── Observation (tests only) ────────────────────────────────────────────────────
  /** Called with every line the client sent, secrets included, before it is handled. */
  readonly onCommand?: (line: string) => void
}
