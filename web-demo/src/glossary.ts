// One line per POP3 command, for newcomers. Which states allow a command is not written
// here: it comes from the library's state table (`allowed`, `statesAllowing`).
import type { CommandName } from "pop3-everywhere"

export const glossary: {
  readonly [C in CommandName]: { readonly syntax: string; readonly line: string; readonly rfc: string }
} = {
  USER: { syntax: "USER name", line: "Names the mailbox to log in to; PASS must follow.", rfc: "RFC 1939" },
  PASS: { syntax: "PASS secret", line: "Sends the password as it is — safe only inside TLS.", rfc: "RFC 1939" },
  APOP: {
    syntax: "APOP name digest",
    line: "Logs in with an MD5 digest of the greeting's timestamp and the password; the password itself never crosses the wire.",
    rfc: "RFC 1939"
  },
  AUTH: {
    syntax: "AUTH mechanism [initial-response]",
    line: "Starts a SASL login (SCRAM, CRAM-MD5, PLAIN, LOGIN, XOAUTH2…); the server answers with “+” challenges.",
    rfc: "RFC 5034"
  },
  SaslResponse: {
    syntax: "(inside AUTH) base64 | *",
    line: "The client's answer to a “+” challenge inside AUTH, or “*” to cancel.",
    rfc: "RFC 5034"
  },
  STAT: { syntax: "STAT", line: "Counts the messages and their total size in octets.", rfc: "RFC 1939" },
  LIST: { syntax: "LIST [n]", line: "Gives each message's number and size in octets.", rfc: "RFC 1939" },
  UIDL: {
    syntax: "UIDL [n]",
    line: "Gives each message's unique ID, stable across sessions — how clients remember what they fetched.",
    rfc: "RFC 1939"
  },
  RETR: { syntax: "RETR n", line: "Downloads a whole message.", rfc: "RFC 1939" },
  TOP: {
    syntax: "TOP n lines",
    line: "Downloads a message's header and its first lines of body; TOP n 0 is the header alone.",
    rfc: "RFC 1939"
  },
  DELE: {
    syntax: "DELE n",
    line: "Marks a message for deletion; the server removes it only when QUIT succeeds.",
    rfc: "RFC 1939"
  },
  NOOP: { syntax: "NOOP", line: "Does nothing but get an +OK — keeps an idle connection alive.", rfc: "RFC 1939" },
  RSET: { syntax: "RSET", line: "Unmarks every message marked for deletion in this session.", rfc: "RFC 1939" },
  QUIT: {
    syntax: "QUIT",
    line: "Ends the session; after login it first removes the marked messages (the UPDATE state).",
    rfc: "RFC 1939"
  },
  CAPA: {
    syntax: "CAPA",
    line: "Asks which optional features the server has (TOP, UIDL, PIPELINING, SASL…).",
    rfc: "RFC 2449"
  },
  STLS: {
    syntax: "STLS",
    line: "Switches a plain connection to TLS before login. Through a WebSocket bridge only with End-to-end TLS on (the page does the TLS); otherwise use implicit TLS.",
    rfc: "RFC 2595"
  },
  UTF8: { syntax: "UTF8", line: "Switches the session to UTF-8 user names and text.", rfc: "RFC 6856" }
}

export const commandNames = Object.keys(glossary) as ReadonlyArray<CommandName>

export const isCommandName = (name: string): name is CommandName => Object.hasOwn(glossary, name)

/** A command a person can type: SaslResponse is the library's name for lines inside AUTH, not POP3's. */
export const isTypedCommand = (name: string): name is CommandName => isCommandName(name) && name !== "SaslResponse"

/** The command name at the start of a trace line ("RETR 3" → "RETR"); SASL lines are SaslResponse. */
export const commandOf = (line: string): CommandName | undefined => {
  const word = line.split(" ")[0] ?? ""
  return isCommandName(word) ? word : undefined
}
