// A server side that writes more than the client reads, honouring its socket's
// backpressure and counting what it got out: whether a client pushes back shows in how
// far the writer got while the client did not read (`stalled`), and the hash checks that
// every byte arrived once it did. For the WebSocket transport's flow-control tests.
import { createHash } from "node:crypto"
import type { Socket } from "node:net"

/** What a `writeLines` writer got out. */
export interface Served {
  /** Bytes written so far (accepted by the socket). */
  written: number
  /** Waiting for 'drain': the socket holds as much as it takes. */
  blocked: boolean
  /** SHA-256 of everything written, once it all was. */
  hash?: string
}

/** Line `i`: 64 bytes, never starting with "." (nothing to dot-stuff). */
export const line = (i: number): string => `${String(i).padStart(10, "0")} ${"x".repeat(51)}\r\n`

/** Writes `size` bytes of numbered lines to `socket`, 64 KiB at a time, waiting for 'drain' when it is full. */
export const writeLines = async (socket: Socket, size: number, served: Served): Promise<void> => {
  const hash = createHash("sha256")
  let i = 0
  while (served.written < size) {
    let text = ""
    for (let n = 0; n < 1024 && served.written + text.length < size; n++) text += line(i++)
    const chunk = Buffer.from(text, "latin1")
    hash.update(chunk)
    served.written += chunk.length
    if (!socket.write(chunk)) {
      served.blocked = true
      await new Promise((resolve) => socket.once("drain", resolve))
      served.blocked = false
    }
  }
  served.hash = hash.digest("hex")
}

/**
 * Resolves once the writer is blocked on a full socket and has written nothing more over
 * 20 checks (1 s) — or has written `size` bytes (then the client was not pushing back).
 */
export const stalled = (served: Served, size: number): Promise<void> =>
  new Promise((resolve, reject) => {
    let last = -1
    let still = 0
    const deadline = Date.now() + 60_000
    const tick = setInterval(() => {
      still = served.blocked && served.written === last ? still + 1 : 0
      last = served.written
      if (still >= 20 || served.written >= size) {
        clearInterval(tick)
        resolve()
      } else if (Date.now() > deadline) {
        clearInterval(tick)
        reject(new Error(`the writer neither stalled nor finished: ${served.written} bytes written`))
      }
    }, 50)
  })
