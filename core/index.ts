/**
 * pop3-everywhere — one POP3 client for browser, edge and server.
 *
 * The Effect API. Provide a transport layer (`pop3-everywhere/transport` picks the
 * runtime's own; `pop3-everywhere/node`, `/websocket`, `/memory`, … name one) and use
 * `connect` in a scope:
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Pop3 from "pop3-everywhere"
 * import * as Transport from "pop3-everywhere/transport"
 *
 * const program = Effect.gen(function*() {
 *   const session = yield* Pop3.connect({ host: "pop.example.com", port: 995 })
 *   const mailbox = yield* session.login({ user: "alice", password })
 *   const { count } = yield* mailbox.stat
 *   const first = yield* Pop3.collect(mailbox.retr(1))
 * }).pipe(Effect.scoped, Effect.provide(Transport.layer))
 * ```
 *
 * @module
 */
export { apopDigest } from "./auth/apop.ts"
export type {
  AuthExchange,
  CredentialKind,
  Credentials,
  CredentialsFor,
  Mechanism,
  MechanismOf,
  PasswordCredentials,
  TokenCredentials
} from "./auth/mechanism.ts"
export { MAX_AUTO_FAILURES, mechanisms } from "./auth/registry.ts"
export { type SaslAnswer, type SaslClient, SaslFailure, saslMechanism } from "./auth/sasl.ts"
export {
  type Authorization,
  collect,
  connect,
  type Greeting,
  type Listings,
  type LoginOptions,
  type LoginSettings,
  type Mailbox,
  type Message
} from "./client/client.ts"
export { type BodySink, PIPELINE_REFILL, PIPELINE_WINDOW, type PipelineOptions } from "./client/pipeline.ts"
export * from "./errors.ts"
export { BodyLimits, type ConnectOptions, ListingLimits } from "./client/options.ts"
export { formatTraceEvent, type TraceEvent, type TraceListener } from "./client/trace.ts"
export type { Command, CommandName } from "./protocol/command.ts"
export { encodeCommand } from "./protocol/command.ts"
export { makeDecoder } from "./protocol/decoder.ts"
export { type EngineEvent, makeEngine } from "./protocol/engine.ts"
export { LocalProtocolError, RemoteProtocolError } from "./protocol/errors.ts"
export {
  type Capabilities,
  expire,
  hasCapability,
  implementation,
  type ListEntry,
  loginDelay,
  saslMechanisms,
  type Stat,
  type UidlEntry
} from "./protocol/parse.ts"
export { type ResponseCode, retryability, type StatusLine } from "./protocol/response.ts"
export { allowed, type State, statesAllowing, type Transition, transitions } from "./protocol/state.ts"
export { type Target, Transport } from "./transport/transport.ts"
