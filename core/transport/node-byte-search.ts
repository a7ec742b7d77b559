/**
 * Node's search for one byte, for the body decoder's search for dots (core/protocol/bytes.ts
 * `indexOfByte`): `Buffer#indexOf` runs memchr, ~1–2 ms per 100 MiB of a body without dots,
 * where V8's typed-array `indexOf`, which compares byte by byte, takes ~27 ms (64 KiB
 * chunks); where dots are frequent (one a sentence) both cost the same per call. Through
 * pop3-bridge, where the CLI's CPU is what limits on 2 cores, that was 22 ms of client CPU
 * and 14 ms of wall time off a 100 MB `pop3 retr`, and 23 ms of CPU direct (Node 24,
 * 2026-12-05). The Node transports (node.ts, node-websocket-preconnect.ts) install it as
 * they load.
 *
 * Not on Deno or Bun, which run those transports too (node-websocket for `--bridge`): Deno's
 * `Buffer#indexOf` is written in JavaScript (62 ms per 100 MiB against its typed array's
 * 26 ms), and Bun's typed array already searches as fast (0.9 ms; its Buffer's 1.5 ms).
 *
 * @module
 */
import { type ByteSearch, installByteSearch } from "../protocol/bytes.ts"

const bufferIndexOf = Buffer.prototype.indexOf as (this: Uint8Array, byte: number, from: number) => number

/**
 * `bytes.indexOf(byte, from)` by Node's `Buffer#indexOf` (memchr), on any Uint8Array.
 * @category bytes
 */
export const nodeByteSearch: ByteSearch = (bytes, byte, from) => bufferIndexOf.call(bytes, byte, from)

/**
 * Installs `nodeByteSearch` for the body decoder, on Node only (see the module comment).
 * @category bytes
 */
export const installNodeByteSearch = (): void => {
  if ("Deno" in globalThis || "Bun" in globalThis) return
  installByteSearch(nodeByteSearch)
}
