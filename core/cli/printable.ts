/**
 * Server text on a terminal: a hostile server (or anyone on an unencrypted path) can put
 * escape sequences in CAPA lines, `-ERR` texts and anything the trace shows — `ESC ] 0 ;`
 * retitles the terminal, `ESC [ 31 m` colours what follows, and some terminals answer
 * queries by typing into the shell. Everything the CLI prints as text goes through here.
 *
 * @module
 */

// C0 controls, DEL, C1 controls (U+009B is CSI in many terminals), and the bidirectional
// overrides that make text display in another order than it reads.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, "0")

/**
 * The text with every control character shown as an escape (`\x1b`, `\u202e`).
 * @category output
 */
export const printable = (text: string): string =>
  text.replace(CONTROL, (c) => (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`))

/**
 * One line of JSON: JSON.stringify escapes C0 controls itself; the others are escaped too.
 * @category output
 */
export const jsonLine = (value: unknown): string => JSON.stringify(value).replace(CONTROL, (c) => `\\u${hex(c, 4)}`)
