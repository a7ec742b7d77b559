// The demo's one connection to the library: connect and log in through the WebSocket
// transport, then hand the Effect `Mailbox` to the views, turning each call into a Promise.
// No protocol logic lives here — every command is a library call.
//
// The connection lives in a Scope we close ourselves: `quit()` sends QUIT (the server then
// removes the messages marked with DELE), while `disconnect()` closes the scope as a
// failure, and the library answers that with RSET and QUIT, so nothing is removed.
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Layer from "effect/Layer"
import {
  type Capabilities,
  connect,
  type Greeting,
  type Mailbox,
  type Message,
  type Pop3Error,
  type TraceEvent,
  type Transport
} from "pop3-everywhere"
import { toPromise } from "pop3-everywhere/promise"
import * as WebSocketTransport from "pop3-everywhere/websocket"
import { type Collected, collectInto } from "./body-buffer.ts"
import type { Defaults } from "./config.ts"

/** What the connect form submits: its prefilled fields, plus the choices it adds. */
export interface Settings extends Omit<Defaults, "plainPort"> {
  /** `auto` or a mechanism name from the library's `mechanisms`. */
  readonly mechanism: string
  readonly allowPlaintext: boolean
  /** Seconds per wait on the server. */
  readonly timeout: number
  /** End-to-end TLS: the library does TLS in the page, the bridge relays ciphertext (`tls=passthrough`). */
  readonly endToEnd?: boolean | undefined
}

export interface Session {
  readonly greeting: Greeting
  /**
   * What CAPA answered before login on the connection that logged in (a server that hangs
   * up on a refused mechanism makes the library log in on a new one). The mailbox's
   * `capabilities()` has the answer after login, once the first command after it is
   * answered (`capaWithNextCommand`).
   */
  readonly capabilities: Capabilities
  /** Whether the library counts the whole path as encrypted (TLS upstream and a safe bridge leg). */
  readonly secure: boolean
  readonly mailbox: Mailbox
  /** Runs one library operation; rejects with the library's tagged error. */
  readonly run: <A>(effect: Effect.Effect<A, Pop3Error>) => Promise<A>
  /** RETR into one buffer; `expected` is LIST's size for the message (body-buffer.ts). */
  readonly retr: (msg: number, expected: number) => Promise<Collected>
  /** Headers of many messages (TOP n 0), pipelined when the server offers PIPELINING. */
  readonly headers: (msgs: ReadonlyArray<number>, onMessage: (message: Message) => void) => Promise<void>
  /** QUIT: the server enters UPDATE and removes the marked messages. */
  readonly quit: () => Promise<void>
  /** Closes without committing: the library sends RSET, then QUIT. */
  readonly disconnect: () => Promise<void>
  readonly closed: () => boolean
}

// The library's own runner: rejects with the tagged error itself.
const run = toPromise

/**
 * Connects through the bridge (or the given transport: the playground's) and logs in; on
 * any failure the connection is closed again. `connected` hears what CAPA answered before
 * login, as soon as it is known: a refused login must not hide it (main.ts notes it).
 */
export const open = async (
  settings: Settings,
  trace: (event: TraceEvent) => void,
  via?: Layer.Layer<Transport>,
  connected?: (capabilities: Capabilities) => void
): Promise<Session> => {
  const scope = await Effect.runPromise(Scope.make())
  const transport = via ?? WebSocketTransport.layerGlobal(settings.bridgeUrl)
  let closed = false
  const close = async (exit: Exit.Exit<unknown, unknown>) => {
    if (closed) return
    closed = true
    await Effect.runPromise(Scope.close(scope, exit))
  }
  // The capabilities as the login ends: still the last connection's answer from before
  // login (the one after it is read later), whichever connection that is.
  let authorization: { readonly capabilities: () => Capabilities } | undefined
  let loggedInWith: Capabilities | undefined
  const tracing = (event: TraceEvent) => {
    if (event._tag === "StateChanged" && event.to === "TRANSACTION") loggedInWith = authorization?.capabilities()
    trace(event)
  }
  try {
    const session = await run(
      connect({
        host: settings.host,
        port: settings.port,
        // End to end, the page can do STLS itself: "None" then means plain POP3 upgraded by STLS.
        tls: settings.endToEnd === true && settings.tls === "none" ? "starttls" : settings.tls,
        timeout: settings.timeout * 1000,
        ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
        trace: tracing
      }).pipe(Effect.provide(transport), Scope.provide(scope))
    )
    authorization = session
    const beforeLogin = session.capabilities()
    connected?.(beforeLogin)
    const mailbox = await run(
      session.login({
        user: settings.user,
        password: settings.password,
        mechanism: settings.mechanism,
        allowPlaintext: settings.allowPlaintext,
        // CAPA after login rides with the first command (STAT) when PIPELINING is offered:
        // one round trip fewer before the first screen. The page reads the new answer after STAT.
        capaWithNextCommand: true
      })
    )
    return {
      greeting: session.greeting,
      capabilities: loggedInWith ?? beforeLogin,
      secure: session.secure,
      mailbox,
      run,
      retr: (msg, expected) => run(collectInto(mailbox.retr(msg), expected)),
      headers: (msgs, onMessage) =>
        run(Stream.runForEach(mailbox.topMany(msgs, 0), (m) => Effect.sync(() => onMessage(m)))),
      quit: async () => {
        try {
          await run(mailbox.quit)
        } finally {
          await close(Exit.void)
        }
      },
      disconnect: () => close(Exit.fail("disconnected by the user")),
      closed: () => closed
    }
  } catch (error) {
    await close(Exit.fail(error))
    throw error
  }
}
