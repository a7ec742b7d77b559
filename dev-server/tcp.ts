// The dev server on real sockets (Node only): plain TCP with STLS, or implicit TLS.
// Node sockets are adapted to web streams by hand rather than with Duplex.toWeb, for two
// reasons: reads are pull-only (nothing is taken from the socket until the session asks,
// so at STLS the client's TLS handshake is still in the socket for tls.TLSSocket to pick
// up), and a write resolves only once Node handed the bytes to the kernel (backpressure,
// and "+OK Begin TLS" is out before TLS takes the socket).

import net from "node:net"
import tls from "node:tls"
import type { Behaviour } from "./behaviour.ts"
import { serveConnection } from "./server.ts"
import type { CommandTable, DuplexStreams, SaslMechanism } from "./session.ts"
import type { MailStore } from "./store.ts"

export interface ListenTcpOptions {
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /** Default 0: any free port (read it from the result). */
  readonly port?: number | undefined
  /** Applied to every connection. */
  readonly behaviour?: Behaviour | undefined
  /** Certificate and key (PEM). Without implicitTls this offers STLS. */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined
  /** TLS from the first byte (like port 995) instead of STLS; needs `tls`. */
  readonly implicitTls?: boolean | undefined
  readonly sasl?: ReadonlyArray<SaslMechanism> | undefined
  readonly commands?: CommandTable | undefined
  /** A session failed through a server bug (not a client going away). Default: console.error. */
  readonly onError?: ((error: unknown) => void) | undefined
}

export interface TcpListener {
  readonly port: number
  readonly host: string
  /** Stops listening and drops every live connection; resolves when all sessions ended. */
  close(): Promise<void>
}

/** How long a session's socket may linger half-closed before it is destroyed. */
const LINGER_MS = 2000

/** Pull-only readable: each read() takes what the socket has buffered, or waits for it. */
function socketReadable(socket: net.Socket): ReadableStream<Uint8Array> {
  let finished = false
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        return new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off("readable", onReadable)
            socket.off("end", onEnd)
            socket.off("close", onEnd)
            socket.off("error", onError)
            resolve()
          }
          const onReadable = (): void => {
            const chunk = socket.read() as Buffer | null
            if (chunk === null) return
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
            done()
          }
          const onEnd = (): void => {
            if (!finished) controller.close()
            finished = true
            done()
          }
          const onError = (e: unknown): void => {
            if (!finished) controller.error(e)
            finished = true
            done()
          }
          if (socket.readableEnded || socket.destroyed) return onEnd()
          socket.on("readable", onReadable)
          socket.on("end", onEnd)
          socket.on("close", onEnd)
          socket.on("error", onError)
          onReadable()
        })
      },
      cancel() {
        finished = true
        closeGently(socket)
      }
    },
    { highWaterMark: 0 }
  )
}

/** Each write resolves once Node handed the chunk to the kernel (its write callback). */
function socketWritable(socket: net.Socket): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        if (socket.destroyed || socket.writableEnded) return reject(new Error("socket closed"))
        const onClose = (): void => reject(new Error("socket closed"))
        socket.once("close", onClose)
        socket.write(chunk, (err) => {
          socket.off("close", onClose)
          if (err) reject(err)
          else resolve()
        })
      })
    },
    close() {
      return new Promise<void>((resolve) => {
        if (socket.destroyed || socket.writableEnded) return resolve()
        socket.once("close", () => resolve())
        socket.end(() => resolve())
      })
    },
    abort() {
      socket.destroy()
    }
  })
}

function streamsOf(socket: net.Socket): DuplexStreams {
  return { readable: socketReadable(socket), writable: socketWritable(socket) }
}

/**
 * Ends our side and swallows whatever the client still sends, then destroys the socket
 * once the client closed too (or after LINGER_MS). Destroying at once could turn unread
 * input into a RST that makes the client lose the last answer.
 */
function closeGently(socket: net.Socket): void {
  if (socket.destroyed) return
  socket.resume()
  if (!socket.writableEnded) socket.end()
  setTimeout(() => socket.destroy(), LINGER_MS).unref()
}

/** Server-side TLS on an accepted socket; resolves after the handshake. */
function startServerTls(
  socket: net.Socket,
  secureContext: tls.SecureContext,
  track: (s: net.Socket) => void
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext })
    track(secure)
    const cleanup = (): void => {
      secure.off("secure", onSecure)
      secure.off("error", onFail)
      secure.off("close", onFail)
    }
    const onSecure = (): void => {
      cleanup()
      resolve(secure)
    }
    const onFail = (e?: unknown): void => {
      cleanup()
      secure.destroy()
      reject(e instanceof Error ? e : new Error("connection closed during the TLS handshake"))
    }
    secure.on("error", () => {}) // later errors end the session through its streams
    secure.once("secure", onSecure)
    secure.once("error", onFail)
    secure.once("close", onFail)
  })
}

export async function listenTcp(store: MailStore, options: ListenTcpOptions = {}): Promise<TcpListener> {
  const secureContext =
    options.tls === undefined ? undefined : tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key })
  if (options.implicitTls && secureContext === undefined) throw new Error("listenTcp: implicitTls needs the tls option")
  const onError = options.onError ?? ((e: unknown) => console.error("pop3 dev server: session failed", e))
  const sockets = new Set<net.Socket>()
  const sessions = new Set<Promise<void>>()
  const track = (socket: net.Socket): void => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  }

  async function session(raw: net.Socket): Promise<void> {
    let socket = raw
    if (options.implicitTls && secureContext !== undefined) {
      try {
        socket = await startServerTls(raw, secureContext, track)
      } catch {
        return // a client that fails the handshake is its own problem
      }
    }
    const startTls =
      secureContext !== undefined && !options.implicitTls
        ? async () => streamsOf(await startServerTls(socket, secureContext, track))
        : undefined
    await serveConnection(store, streamsOf(socket), options.behaviour, {
      startTls,
      sasl: options.sasl,
      commands: options.commands
    })
  }

  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (raw) => {
    track(raw)
    raw.on("error", () => {}) // failures reach the session as the end of its streams
    const running: Promise<void> = session(raw)
      .catch(onError) // serveConnection only rejects on a server bug
      .finally(() => {
        sessions.delete(running)
        closeGently(raw)
      })
    sessions.add(running)
  })

  const host = options.host ?? "127.0.0.1"
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0)

  return {
    port,
    host,
    async close() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      await Promise.allSettled([...sessions])
      await stopped
    }
  }
}
