/**
 * The `pop3` command line: its options, commands and usage text — the public contract
 * other tools rely on. Parsing is pure so it can be tested without running anything; the
 * parser itself is `argv.ts`.
 *
 * @module
 */
import { mechanisms } from "../index.ts"
import { type CliCommand, type CliOptions, type Parsed, parseArgv } from "./argv.ts"

export type { CliCommand, CliOptions, Parsed }

/**
 * The `--auth` values the CLI accepts: `auto` and every mechanism of the library's
 * registry, strongest first, lower-cased.
 * @category contract
 */
export const AUTH_CHOICES: ReadonlyArray<string> = ["auto", ...mechanisms.map((m) => m.name.toLowerCase())]

/**
 * The usage text.
 * @category contract
 */
export const USAGE = `Usage: pop3 [options] <command>

Commands:
  capa                 list the server's capabilities (after login when --user is given)
  stat                 print "COUNT SIZE"
  list [N]             print "N SIZE" per message (or for message N)
  uidl [N]             print "N UID" per message (or for message N)
  top N LINES          print the header and the first LINES body lines of message N
  retr N               print message N exactly (CRLF line ends, unstuffed)
  dele N...            mark messages deleted, then QUIT so the server removes them
  fetch                download the messages not fetched before into a Maildir (--maildir)

Options:
  --host HOST          server name or address (required)
  --port PORT          default 110, or 995 with --tls implicit
  --tls MODE           implicit | starttls | none (default: implicit on 995, else starttls)
  --user NAME          user name; the password comes from $POP3_PASSWORD, never argv
  --auth MECH          ${AUTH_CHOICES.join(" | ")} (default auto)
  --ca FILE            trust this CA certificate (PEM) in addition to the system's
  --insecure           do not verify the server certificate (testing only)
                       (through --bridge, both only with --end-to-end)
  --timeout SECONDS    limit for connecting and for each wait on the server (default 30)
  --bridge URL         reach the server through a pop3-bridge (ws:// or wss://); its token,
                       if it needs one, comes from $POP3_BRIDGE_TOKEN
  --end-to-end         with --bridge and --tls implicit|starttls: do TLS 1.3 here, so the
                       bridge relays only ciphertext (tls=passthrough; experimental)
  --trace              print the protocol trace (secrets redacted) to stderr
  --json               print results as JSON
  -h, --help           this text
  --version            the version

Fetch options:
  --maildir DIR        deliver into this Maildir; DIR/tmp, new and cur are created if missing
  --delete             delete the messages on the server once stored and recorded
  --state FILE         the UIDs already fetched (default DIR/.pop3-state.json, keyed by
                       user, host and port so accounts can share it); fetch needs UIDL

Exit status: 0 ok, 1 the server refused, 2 usage, 3 network/TLS/timeout, 4 protocol violation,
5 local storage failed (fetch: disk full, permissions, damaged state file, another run).`

/**
 * Parses argv (without the node and script paths).
 * @category parsing
 */
export const parseCli = (argv: ReadonlyArray<string>): Parsed => parseArgv(argv, AUTH_CHOICES)
