// The playground's POP3 server: the dev server's portable part (test/dev-server/server.ts
// and what it imports — web streams and @noble/hashes, nothing from node:) running in a Web
// Worker with the sample mailbox. Each connection arrives as a MessagePort and is turned
// back into the pair of web streams the server reads and writes. The store lives as long as
// the Worker, so messages deleted with QUIT stay deleted until the page asks for a reset.
import { makeSampleStore } from "../../../dev-server/sample-mailbox.ts"
import { serveConnection } from "../../../dev-server/server.ts"
import type { Chunk, ToWorker } from "./protocol.ts"

let store = makeSampleStore()

const streamsOf = (port: MessagePort) => {
  let closed = false
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      port.onmessage = (event: MessageEvent<Chunk>) => {
        if (closed) return
        if (event.data === null) {
          closed = true
          controller.close()
        } else {
          controller.enqueue(event.data)
        }
      }
    },
    cancel() {
      closed = true
    }
  })
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    port.postMessage(null)
  }
  const writable = new WritableStream<Uint8Array>({
    // A copy: the server may hand out views into buffers it keeps.
    write: (chunk) => port.postMessage(chunk.slice()),
    close: end,
    abort: end
  })
  return { readable, writable, end }
}

self.addEventListener("message", (event: MessageEvent<ToWorker>) => {
  const message = event.data
  if (message.kind === "reset") {
    store = makeSampleStore()
    return
  }
  const { port, behaviour } = message
  const streams = streamsOf(port)
  void serveConnection(store, streams, behaviour)
    .catch((error: unknown) => console.error("playground server:", error))
    .finally(() => {
      streams.end()
      port.close()
    })
})
