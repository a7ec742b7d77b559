/**
 * A TCP proxy that adds latency: every chunk is forwarded `oneWayMs` after it arrived, in
 * each direction, in order. Throughput is preserved — chunks are not held back by each
 * other, only shifted in time — so a pipelining client sees one added round trip per
 * window while a serial client pays it per command. Bytes pass through untouched, so STLS
 * (and implicit TLS) happen end to end between client and server.
 *
 * As a module: `startDelayProxy({ target, oneWayMs })`. As a program:
 * `node bench/delay-proxy.ts --target 127.0.0.1:110 [--listen 127.0.0.1:0] [--rtt 25]`.
 */
import { createConnection, createServer } from "node:net"
import type { AddressInfo, Server, Socket } from "node:net"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"

export interface DelayProxy {
  readonly port: number
  /**
   * Round trips the clients waited for so far, summed over connections: a client chunk
   * that arrives after server bytes were released toward the client since the client's
   * previous chunk (it may have waited for them), plus the TCP connect. Commands written together, or written
   * while answers are still arriving toward the client, share one. TLS handshakes count.
   */
  readonly roundTrips: () => number
  /** Stops listening and destroys every connection. */
  readonly close: () => Promise<void>
}

export interface DelayProxyOptions {
  readonly targetHost: string
  readonly targetPort: number
  /** Added delay per direction (half the added round trip). */
  readonly oneWayMs: number
  readonly listenHost?: string
  readonly listenPort?: number
}

/** Forwards `from` to `to`, each chunk `delay` ms after it arrived; `end` likewise. */
function pipeDelayed(from: Socket, to: Socket, delay: number, onArrive: () => void, onRelease: () => void): void {
  const queue: Array<{ readonly at: number; readonly chunk: Buffer | null }> = []
  let timer: NodeJS.Timeout | undefined
  let paused = false

  const flush = (): void => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && queue[0]!.at <= now + 0.5) {
      const { chunk } = queue.shift()!
      if (chunk === null) {
        to.end()
        return
      }
      onRelease()
      if (!to.destroyed && !to.write(chunk) && !paused) {
        // The receiver is slower than the sender: stop reading until it drains, so the
        // proxy never buffers more than the socket buffers plus what is in flight.
        paused = true
        from.pause()
        to.once("drain", () => {
          paused = false
          from.resume()
        })
      }
    }
    schedule()
  }

  const schedule = (): void => {
    if (timer !== undefined || queue.length === 0) return
    // Timers have 1 ms resolution: round, and release what is due within half a millisecond.
    timer = setTimeout(flush, Math.max(0, Math.round(queue[0]!.at - performance.now())))
  }

  from.on("data", (chunk: Buffer) => {
    onArrive()
    queue.push({ at: performance.now() + delay, chunk })
    schedule()
  })
  from.on("end", () => {
    queue.push({ at: performance.now() + delay, chunk: null })
    schedule()
  })
}

export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const sockets = new Set<Socket>()
  let roundTrips = 0
  const server: Server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    const upstream = createConnection({
      host: options.targetHost,
      port: options.targetPort,
      noDelay: true,
      allowHalfOpen: true
    })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on("close", () => sockets.delete(s))
      s.on("error", () => {
        client.destroy()
        upstream.destroy()
      })
    }
    // A client chunk after server bytes is a new round trip (the connect is the first).
    roundTrips++
    let answered = false
    // Server bytes count as an answer once released toward the client, which cannot have
    // reacted to them before.
    const none = () => {}
    pipeDelayed(
      client,
      upstream,
      options.oneWayMs,
      () => {
        if (answered) roundTrips++
        answered = false
      },
      none
    )
    pipeDelayed(upstream, client, options.oneWayMs, none, () => {
      answered = true
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.listenPort ?? 0, options.listenHost ?? "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    roundTrips: () => roundTrips,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { target: { type: "string" }, listen: { type: "string" }, rtt: { type: "string" } }
  })
  const split = (text: string): [string, number] => {
    const i = text.lastIndexOf(":")
    return [text.slice(0, i), Number(text.slice(i + 1))]
  }
  if (values.target === undefined) {
    process.stderr.write("usage: node bench/delay-proxy.ts --target HOST:PORT [--listen HOST:PORT] [--rtt MS]\n")
    process.exit(2)
  }
  const [targetHost, targetPort] = split(values.target)
  const [listenHost, listenPort] = split(values.listen ?? "127.0.0.1:0")
  const rtt = Number(values.rtt ?? "25")
  const proxy = await startDelayProxy({ targetHost, targetPort, listenHost, listenPort, oneWayMs: rtt / 2 })
  process.stdout.write(`delay proxy on ${listenHost}:${proxy.port} -> ${values.target}, +${rtt} ms round trip\n`)
  const stop = (): void => void proxy.close().then(() => process.exit(0))
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
}
