/**
 * The sans-I/O POP3 engine as a library of its own: no Effect, no sockets, no timers. Drive
 * POP3 over any byte pipe — a `node:net` socket, a WebSocket, a test buffer — by writing
 * what `send` returns and feeding what arrives to `receive`, then draining `next()` until
 * it says `NeedData`.
 *
 * ```ts
 * import { connect } from "node:net"
 * import { makeEngine, NeedData } from "pop3-everywhere/protocol"
 *
 * const engine = makeEngine()
 * const socket = connect(110, "pop.example.com")
 * socket.on("data", (bytes) => {
 *   engine.receive(bytes)
 *   for (let event = engine.next(); event !== NeedData; event = engine.next()) {
 *     console.log(event._tag, event._tag === "Body" ? event.bytes.length : "")
 *     // Commands only after the greeting: in GREETING, send() throws LocalProtocolError.
 *     if (event._tag === "Greeting") socket.write(engine.send({ name: "CAPA" }).bytes)
 *     if (event._tag === "BodyEnd") socket.end(engine.send({ name: "QUIT" }).bytes)
 *   }
 * })
 * ```
 *
 * @module
 */
export { concatBytes } from "./bytes.ts"
export {
  type Command,
  type CommandName,
  type EncodedCommand,
  encodeCommand,
  isMultiline,
  lineBreakIn,
  REDACTED
} from "./command.ts"
export { type Decoder, type DecoderEvent, makeDecoder, NeedData } from "./decoder.ts"
export { type Engine, type EngineEvent, makeEngine, type StateChange } from "./engine.ts"
export { excerptOf, type LocalReason, LocalProtocolError, RemoteProtocolError } from "./errors.ts"
export {
  MAX_CAPA_LINES,
  MAX_CAPA_OCTETS,
  MAX_COMMAND_LINE,
  MAX_LISTING_LINE,
  MAX_SASL_LINE,
  MAX_STATUS_LINE
} from "./limits.ts"
export { type LineSplitter, makeLineSplitter } from "./lines.ts"
export {
  apopTimestamp,
  type Capabilities,
  expire,
  hasCapability,
  implementation,
  type ListEntry,
  loginDelay,
  noCapabilities,
  parseCapa,
  parseListLine,
  parseStat,
  parseUidlLine,
  saslMechanisms,
  type Stat,
  type UidlEntry
} from "./parse.ts"
export { decodeText, parseStatusLine, type ResponseCode, retryability, type StatusLine } from "./response.ts"
export {
  allowed,
  answeredIn,
  canQuit,
  endsSession,
  isTerminal,
  keepsState,
  type Outcome,
  type State,
  statesAllowing,
  transition,
  type Transition,
  transitions
} from "./state.ts"
