// A plain TCP relay for tests: what a bridge in passthrough mode does to the bytes (nothing),
// with everything it relayed kept for inspection, and optionally an active attacker on the
// relay: one byte of a TLS record flipped (the server's, or the client's), or the server's
// bytes swallowed and plaintext alerts sent to the client without end.
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
  /**
   * Flip one byte inside the client's n-th TLS application-data record (1-based; the first
   * is its encrypted Finished, the second its first command).
   */
  readonly flipClientRecord?: number
  /**
   * Once the client has sent this many application-data records, stop relaying the
   * server's bytes and send the client unencrypted warning alerts (close_notify, level 1),
   * a thousand at a time, until it hangs up: a hostile bridge.
   */
  readonly floodAfterClientRecords?: number
}

/** An unencrypted TLS alert record: warning level, close_notify. */
const WARNING_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00])

/**
 * A state machine over a TLS record stream (5-byte headers, then the payload) that counts
 * application-data records (`records`) and flips the 10th payload byte of the first one
 * `target(length, index)` picks (index: 1-based among application-data records).
 */
const recordFlipper = (target: (length: number, index: number) => boolean) => {
  let header: Array<number> = []
  let remaining = 0
  let offset = 0
  let flipping = false
  let done = false
  let records = 0
  return {
    done: () => done,
    records: () => records,
    pass(chunk: Buffer): Buffer {
      const out = Buffer.from(chunk)
      for (let i = 0; i < out.length; i++) {
        if (remaining === 0) {
          header.push(out[i]!)
          if (header.length === 5) {
            remaining = (header[3]! << 8) | header[4]!
            if (header[0] === 0x17) records++
            flipping = !done && header[0] === 0x17 && target(remaining, records)
            offset = 0
            header = []
          }
          continue
        }
        if (flipping && offset === 10) {
          out[i] = out[i]! ^ 0x01
          done = true
          flipping = false
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
  const { flipInRecordOf, flipClientRecord, floodAfterClientRecords } = options
  const flipper = flipInRecordOf === undefined ? undefined : recordFlipper((length) => length >= flipInRecordOf)
  const clientRecords = recordFlipper((_, index) => index === flipClientRecord)
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host)
    sockets.add(client).add(upstream)
    let flooding = false
    const flood = () => {
      if (client.destroyed) return
      client.write(Buffer.concat(Array.from({ length: 1000 }, () => WARNING_ALERT)), () => setImmediate(flood))
    }
    client.on("data", (chunk) => {
      const out = clientRecords.pass(chunk)
      fromClient.push(out)
      upstream.write(out)
      if (!flooding && floodAfterClientRecords !== undefined && clientRecords.records() >= floodAfterClientRecords) {
        flooding = true
        flood()
      }
    })
    upstream.on("data", (chunk) => {
      if (flooding) return
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
        flipped: () => (flipper?.done() ?? false) || clientRecords.done(),
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
}
