// A plain TCP relay for tests: what a bridge in passthrough mode does to the bytes (nothing),
// with everything it relayed kept for inspection, and optionally one byte of the server's
// TLS records flipped — an active attacker on the relay.
import net from "node:net"

export interface Relay {
  readonly port: number
  /** Every byte relayed from the client to the server, in order. */
  readonly fromClient: () => Buffer
  /** Every byte relayed from the server to the client, in order (as sent on, after any flip). */
  readonly fromServer: () => Buffer
  /** Whether the flip (if asked for) has happened. */
  readonly flipped: () => boolean
  close(): Promise<void>
}

export interface RelayOptions {
  /**
   * Flip one byte inside the first TLS application-data record (type 0x17) from the server
   * whose length is at least this many bytes: a record past the handshake that carries a
   * message body.
   */
  readonly flipInRecordOf?: number
}

/**
 * A state machine over the server's TLS record stream (5-byte headers, then the payload)
 * that flips the 10th payload byte of the first record matching `minLength`.
 */
const recordFlipper = (minLength: number) => {
  let header: Array<number> = []
  let remaining = 0
  let offset = 0
  let target = false
  let done = false
  return {
    done: () => done,
    pass(chunk: Buffer): Buffer {
      const out = Buffer.from(chunk)
      for (let i = 0; i < out.length; i++) {
        if (remaining === 0) {
          header.push(out[i]!)
          if (header.length === 5) {
            remaining = (header[3]! << 8) | header[4]!
            target = !done && header[0] === 0x17 && remaining >= minLength
            offset = 0
            header = []
          }
          continue
        }
        if (target && offset === 10) {
          out[i] = out[i]! ^ 0x01
          done = true
          target = false
        }
        offset++
        remaining--
      }
      return out
    }
  }
}

/** Listens on a free loopback port and relays every connection to `host:port`. */
export function startRelay(host: string, port: number, options: RelayOptions = {}): Promise<Relay> {
  const fromClient: Array<Buffer> = []
  const fromServer: Array<Buffer> = []
  const sockets = new Set<net.Socket>()
  const flipper = options.flipInRecordOf === undefined ? undefined : recordFlipper(options.flipInRecordOf)
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host)
    sockets.add(client).add(upstream)
    client.on("data", (chunk) => {
      fromClient.push(chunk)
      upstream.write(chunk)
    })
    upstream.on("data", (chunk) => {
      const out = flipper === undefined ? chunk : flipper.pass(chunk)
      fromServer.push(out)
      client.write(out)
    })
    client.on("end", () => upstream.end())
    upstream.on("end", () => client.end())
    const drop = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on("error", drop)
    upstream.on("error", drop)
    client.on("close", () => sockets.delete(client))
    upstream.on("close", () => sockets.delete(upstream))
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      resolve({
        port: address.port,
        fromClient: () => Buffer.concat(fromClient),
        fromServer: () => Buffer.concat(fromServer),
        flipped: () => flipper?.done() ?? false,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
}
