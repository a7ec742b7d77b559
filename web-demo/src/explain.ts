// The library's tagged errors in plain words, with what to do next. The facts come from the
// error's fields (close code, response code, retry); nothing is guessed from message text.
import type { AuthAttempt, Pop3Error } from "pop3-everywhere"
import type { StorageError, UidlRequired } from "pop3-everywhere/sync"
import { displayBridgeUrl, octets } from "./format.ts"

export interface Explanation {
  readonly title: string
  readonly detail: string
  /** The library's own one-line message, for the curious. */
  readonly technical: string
  /** Login was refused only because the path is not encrypted: offer the plaintext checkbox. */
  readonly plaintextRefused?: boolean
}

export interface Context {
  readonly bridgeUrl: string
  readonly host: string
  readonly port: number
  /** The form's Security choice, when known: a plain session to a TLS port never gets a greeting. */
  readonly tls?: "implicit" | "none"
}

/** What the demo explains: the client's errors, and the sync engine's (the kept copy). */
type Explained = Pop3Error | StorageError | UidlRequired

// Every tag `explain` has words for: an error with another tag is not one of ours.
const TAGS: ReadonlySet<string> = new Set<Explained["_tag"]>([
  "BridgeError",
  "ConnectError",
  "TlsError",
  "TimeoutError",
  "ConnectionClosed",
  "ProtocolError",
  "AuthError",
  "ServerError",
  "InvalidArgument",
  "InvalidState",
  "StorageError",
  "UidlRequired"
])

const isExplained = (error: unknown): error is Explained =>
  typeof error === "object" &&
  error !== null &&
  "_tag" in error &&
  typeof (error as { _tag: unknown })._tag === "string" &&
  TAGS.has((error as { _tag: string })._tag)

const quoted = (text: string) => (text === "" ? "" : ` The bridge said: “${text}”.`)
const serverSaid = (a: AuthAttempt | undefined) =>
  // USER/PASS is refused at PASS: name the command the -ERR answered.
  a === undefined
    ? ""
    : ` The server answered ${a.mechanism === "USER" ? "PASS" : a.mechanism} with -ERR${a.code !== undefined ? ` [${a.code}]` : ""}${a.text !== "" ? ` “${a.text}”` : ""}.`

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/**
 * Why the library sent no credentials on a path it does not count as encrypted, and the way
 * out; the library's own sentence is under "Library error", so it is not repeated here.
 */
const unencrypted = (ctx: Context): string =>
  `Nothing was sent. Without encryption a password (USER/PASS, PLAIN, LOGIN) crosses the network readable, and a digest (APOP, CRAM-MD5, SCRAM) can be cracked offline by anyone on the path, so the library refuses both unless you allow it. ${
    ctx.tls === "none"
      ? "To encrypt the connection, choose Security: Implicit TLS (usually port 995), or keep None and tick End-to-end TLS, so that this page upgrades the connection with STLS itself."
      : "Here the link from this page to the bridge is not encrypted (ws:// to another machine): use a wss:// bridge address, or tick End-to-end TLS."
  }`

export const explain = (error: unknown, ctx: Context): Explanation => {
  const target = `${ctx.host}:${ctx.port}`
  if (!isExplained(error)) {
    const technical = error instanceof Error ? error.message : String(error)
    return {
      title: "Something unexpected went wrong",
      detail: "The demo hit an error it does not know. Details below.",
      technical
    }
  }
  const technical = error.message
  switch (error._tag) {
    case "BridgeError":
      switch (error.code) {
        case 4001:
          return {
            technical,
            title: `The bridge does not allow ${target}`,
            detail: `A pop3-bridge relays only to the mail servers on its allowlist (--allow HOST:PORT), and ${target} is not one of them.${quoted(error.reason)}`
          }
        case 4002:
          return {
            technical,
            title: "The bridge rejected the request",
            detail: `It could not use the host, port or security setting it was given.${quoted(error.reason)}`
          }
        case 4008:
          return {
            technical,
            title: "The bridge reached a limit",
            detail: `Too many connections, or this session was idle or open too long.${quoted(error.reason)} Try again in a moment.`
          }
        case 4010:
          return {
            technical,
            title: `The bridge could not reach ${target}`,
            detail: `The bridge accepted the request but nothing answered at ${target} (is the mail server running?).${quoted(error.reason)}`
          }
        case 4011:
          return {
            technical,
            title: `TLS between the bridge and ${ctx.host} failed`,
            detail: `The bridge could not verify the mail server's certificate, or the server does not speak TLS on port ${ctx.port} (try Security: none for a plain port).${quoted(error.reason)}`
          }
        case 4012:
          return {
            technical,
            title: `The bridge timed out reaching ${target}`,
            detail: `Resolving, connecting or the TLS handshake took too long.${quoted(error.reason)}`
          }
        default:
          return {
            technical,
            title: `The bridge closed the connection (code ${error.code})`,
            detail: quoted(error.reason).trim() || "It gave no reason."
          }
      }
    case "ConnectError":
      return {
        technical,
        title: "Could not reach the bridge",
        detail: `Nothing accepted a WebSocket at ${displayBridgeUrl(ctx.bridgeUrl)}. Is the bridge running? A bridge also turns away pages from origins it does not allow (--allow-origin), and a browser cannot tell the two apart.`
      }
    case "TlsError":
      return { technical, title: `TLS with ${error.host} failed`, detail: error.reason }
    case "TimeoutError":
      return {
        technical,
        title: "The server did not answer in time",
        detail: `No answer within ${(error.millis / 1000).toFixed(0)} s while waiting for ${error.operation}. ${
          ctx.tls === "none" && error.operation === "the greeting"
            ? `Port ${ctx.port} may be a TLS port: a TLS server waits for the client's TLS handshake and never sends a plain POP3 greeting. Choose Implicit TLS, or the server's plain port (usually 110).`
            : "The connection is closed; a late answer could be mistaken for the next one."
        }`
      }
    case "ConnectionClosed":
      return { technical, title: "The connection closed", detail: `It ended during ${error.during}: ${error.reason}.` }
    case "ProtocolError":
      return { technical, title: "The server broke the POP3 protocol", detail: error.reason }
    case "AuthError": {
      const last = error.attempts[error.attempts.length - 1]
      if (last === undefined) {
        if (error.plaintextRefused === true)
          return { technical, title: "Login was not attempted", detail: unencrypted(ctx), plaintextRefused: true }
        return {
          technical,
          title: "Login was not attempted",
          detail: capitalised(`${error.reason}.`),
          plaintextRefused: false
        }
      }
      switch (last.code) {
        case "AUTH":
          return {
            technical,
            title: "Wrong user name or password",
            detail: `The server judged the credentials ([AUTH]): trying again with the same ones will not help.${serverSaid(last)}`
          }
        case "SYS/TEMP":
          return {
            technical,
            title: "The server has a temporary problem",
            detail: `[SYS/TEMP] means the credentials may be fine: try again in a few minutes.${serverSaid(last)}`
          }
        case "SYS/PERM":
          return {
            technical,
            title: "The server refused for a lasting reason",
            detail: `[SYS/PERM]: contact the mail provider; retrying will not help.${serverSaid(last)}`
          }
        case "IN-USE":
          return {
            technical,
            title: "The mailbox is in use",
            detail: `[IN-USE]: another session holds the mailbox lock. Close other mail clients (or wait for them), then retry.${serverSaid(last)}`
          }
        case "LOGIN-DELAY":
          return {
            technical,
            title: "Logging in again too soon",
            detail: `[LOGIN-DELAY]: the server limits how often you may log in. Wait, then retry.${serverSaid(last)}`
          }
        default:
          return {
            technical,
            title: "Login failed",
            detail:
              `${error.attempts.length > 1 ? `Tried ${error.attempts.map((a) => a.mechanism).join(", ")}.` : ""}${serverSaid(last)} ${error.retry === "temporary" ? "It may work later." : "No response code says why."}`.trim()
          }
      }
    }
    case "ServerError":
      return {
        technical,
        title: `The server refused ${error.command}`,
        detail: `-ERR${error.code !== undefined ? ` [${error.code}]` : ""}${error.text !== "" ? ` “${error.text}”` : ""}.${error.retry === "temporary" ? " This is temporary: try again later." : error.retry === "permanent" ? " Retrying will not help." : ""}`
      }
    case "InvalidArgument":
    case "InvalidState":
      return { technical, title: "Nothing was sent", detail: error.reason }
    case "StorageError":
      return {
        technical,
        title: "This browser could not keep the messages",
        detail: `Its storage (IndexedDB) failed: ${error.reason}. Nothing was deleted on the server.`
      }
    case "UidlRequired":
      return {
        technical,
        title: "The server cannot name its messages (no UIDL)",
        detail:
          "A copy is kept by each message's unique ID (UIDL), so that no message is stored twice; this server refuses UIDL. Nothing was stored or deleted."
      }
  }
}

/** "14 messages, 312 KB". */
export const mailboxSummary = (count: number, size: number): string =>
  `${count} message${count === 1 ? "" : "s"}, ${octets(size)}`
