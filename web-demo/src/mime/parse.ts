// The page's side of the MIME Worker (mime-worker.ts): one Worker for the page, made on first
// use (a file of its own, so the CSP's `worker-src 'self'` admits it), and one request per
// message. The bytes are transferred, not copied: after `parseMessage` the caller's buffer
// is detached.
import type { Body, FromWorker, Head } from "./protocol.ts"

export interface Parsing {
  /** The header fields, posted as soon as the header block is parsed. */
  readonly head: Promise<Head>
  /** Text, HTML, attachments and the raw source, after the whole message is parsed. */
  readonly body: Promise<Body>
}

let worker: Worker | undefined
let nextId = 0
interface Deferred<A> {
  readonly promise: Promise<A>
  readonly resolve: (a: A) => void
  readonly reject: (e: unknown) => void
}
const deferred = <A>(): Deferred<A> => {
  let resolve!: (a: A) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<A>((ok, fail) => {
    resolve = ok
    reject = fail
  })
  return { promise, resolve, reject }
}
const waiting = new Map<number, { head: Deferred<Head>; body: Deferred<Body> }>()

const start = (): Worker => {
  const w = new Worker(new URL("./mime-worker.ts", import.meta.url), { type: "module", name: "pop3-mime" })
  w.onmessage = (event: MessageEvent<FromWorker>) => {
    const message = event.data
    const pending = waiting.get(message.id)
    if (pending === undefined) return
    if (message.kind === "head") pending.head.resolve(message.head)
    else {
      waiting.delete(message.id)
      if (message.kind === "body") pending.body.resolve(message.body)
      else {
        const error = new Error(`The message could not be parsed: ${message.message}`)
        pending.head.reject(error)
        pending.body.reject(error)
      }
    }
  }
  return w
}

/** Parses the first `length` bytes of `buffer` in the Worker; `buffer` is transferred to it. */
export const parseMessage = (buffer: ArrayBuffer, length: number): Parsing => {
  worker ??= start()
  const id = nextId++
  const pending = { head: deferred<Head>(), body: deferred<Body>() }
  // A rejected head is reported through the body; keep it from counting as unhandled.
  pending.head.promise.catch(() => {})
  waiting.set(id, pending)
  worker.postMessage({ id, buffer, length }, [buffer])
  return { head: pending.head.promise, body: pending.body.promise }
}
