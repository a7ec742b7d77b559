// The page's end of the playground: the library's memory transport, whose every connection
// is carried over a MessageChannel to the POP3 server in the Worker (worker.ts). No
// WebSocket, no network: the bytes go from this page to the Worker and back.
//
// `onServerBytes` sees every chunk the server sent, before the client reads it — the bytes
// view shows them exactly. What the client sends is not tapped here: it holds the password,
// and the library's trace already has each command's redacted line and byte count.
import type * as Layer from "effect/Layer"
import type { Transport } from "pop3-everywhere"
import * as Memory from "pop3-everywhere/memory"
import type { Chunk, Switches, ToWorker } from "./protocol.ts"

export interface Playground {
  /** A transport whose connections go to the Worker's server, misbehaving as `switches` say. */
  readonly layer: (switches: Switches, onServerBytes: (bytes: Uint8Array) => void) => Layer.Layer<Transport>
  /** Puts the sample mailbox back as it was (messages removed by QUIT return). */
  readonly reset: () => void
}

let worker: Worker | undefined

// One Worker per page, started on first use; a module Worker from a file of this origin, so
// a Content-Security-Policy with `worker-src 'self'` allows it.
const theWorker = (): Worker => {
  worker ??= new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "pop3-playground" })
  return worker
}

const post = (message: ToWorker, transfer: Array<Transferable> = []) => theWorker().postMessage(message, transfer)

export const playground: Playground = {
  reset: () => post({ kind: "reset" }),
  layer: (switches, onServerBytes) =>
    Memory.layer((server) => {
      const channel = new MessageChannel()
      const port = channel.port1
      post({ kind: "connect", behaviour: switches, port: channel.port2 }, [channel.port2])
      const writer = server.writable.getWriter()
      let serverClosed = false
      port.onmessage = (event: MessageEvent<Chunk>) => {
        if (serverClosed) return
        if (event.data === null) {
          serverClosed = true
          void writer.close().catch(() => {})
          port.close()
          return
        }
        onServerBytes(event.data)
        void writer.write(event.data).catch(() => {})
      }
      // Client → server: everything the client writes, until it closes its side.
      void (async () => {
        const reader = server.readable.getReader()
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            port.postMessage(value)
          }
        } catch {
          // the client's socket was torn down; tell the server it is gone
        }
        if (!serverClosed) port.postMessage(null)
      })()
    })
}
