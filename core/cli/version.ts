/**
 * The CLI's version, in a module of its own so `bin.ts` can answer `--version` without
 * loading the rest of the CLI (effect, the transports, the auth mechanisms).
 *
 * @module
 */

/** The package's version (a test checks it against package.json). */
export const VERSION = "0.2.0"
