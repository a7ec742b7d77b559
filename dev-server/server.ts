// The scriptable dev POP3 server: an independent, RFC-correct implementation (it shares no
// code with core/, so it can catch the client's misreadings of the RFCs) that misbehaves on
// request. Portable — no `node:` imports — so it also runs in a browser over an in-memory
// stream pair. Node's TCP/TLS listener is in tcp.ts.

import type { Behaviour } from "./behaviour.ts"
import { defaultCommands } from "./commands.ts"
import type { ConnectionHooks, DuplexStreams } from "./session.ts"
import { Session } from "./session.ts"
import type { MailStore } from "./store.ts"

export type { Behaviour } from "./behaviour.ts"
export { defaultCapabilities, defaultCommands } from "./commands.ts"
export type {
  CommandSpec,
  CommandTable,
  ConnectionHooks,
  DuplexStreams,
  ParsedCommand,
  SaslExchange,
  SaslMechanism,
  SaslOutcome,
  Session,
  SessionState
} from "./session.ts"
export { fromBase64, MAX_COMMAND_OCTETS, SaslAbort, toBase64 } from "./session.ts"
export type { LockResult, MailboxLock, MailboxSeed, MailStore, StoredMessage } from "./store.ts"
export { makeMailStore, toCrlf } from "./store.ts"

/**
 * Runs one POP3 session over a pair of web streams and resolves when it is over (QUIT,
 * a drop the behaviour asked for, the client closing, or `hooks.signal` aborting). The
 * client going away is not an error; only a bug in the server rejects.
 */
export function serveConnection(
  store: MailStore,
  conn: DuplexStreams,
  behaviour: Behaviour = {},
  hooks: ConnectionHooks = {}
): Promise<void> {
  const commands = hooks.commands === undefined ? defaultCommands : { ...defaultCommands, ...hooks.commands }
  return new Session(store, conn, behaviour, hooks, commands).run()
}
