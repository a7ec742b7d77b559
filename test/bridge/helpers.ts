/**
 * Test helpers for the bridge: loopback upstream servers that count their connections, a
 * self-signed certificate made with openssl, and small promise wrappers around `ws`.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type AddressInfo, type Server, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duplex } from "node:stream"
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls"
import { WebSocket, type ClientOptions } from "ws"
import type { BridgeOptions, LogEntry } from "../../bridge/config.ts"
import { startBridge, type RunningBridge } from "../../bridge/server.ts"

/** A loopback TCP (or TLS) server that records how many clients reached it. */
export interface Upstream {
  readonly port: number
  /** Connections accepted so far (TLS: TCP connections, counted before the handshake). */
  readonly connections: () => number
  readonly sockets: Socket[]
  readonly close: () => Promise<void>
}

const track = async (server: Server): Promise<Upstream> => {
  const sockets: Socket[] = []
  let connections = 0
  // Count at the TCP level, so a refused TLS handshake still shows up as a connection.
  server.on("connection", (socket: Socket) => {
    connections += 1
    sockets.push(socket)
    socket.on("error", () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

/** An upstream that runs `handle` for each connection (default: echo every byte back). */
export const startUpstream = (handle: (socket: Socket) => void = (s) => s.pipe(s)): Promise<Upstream> =>
  track(createServer(handle))

/** A tiny POP3-ish server: greets, answers QUIT with +OK and closes, echoes nothing else. */
export const startGreeter = (seen: Buffer[] = []): Promise<Upstream> =>
  startUpstream((socket) => {
    socket.write("+OK fake POP3 ready\r\n")
    socket.on("data", (chunk: Buffer) => {
      seen.push(chunk)
      if (Buffer.concat(seen).toString("latin1").includes("QUIT\r\n")) socket.end("+OK bye\r\n")
    })
  })

/** A TLS upstream with the given certificate that greets and then echoes. */
export const startTlsUpstream = (cert: Buffer, key: Buffer): Promise<Upstream> => {
  const server = createTlsServer({ cert, key }, (socket) => {
    socket.on("error", () => {})
    socket.write("+OK TLS POP3 ready\r\n")
    socket.pipe(socket)
  })
  // A failed handshake emits tlsClientError, not an uncaught error.
  server.on("tlsClientError", () => {})
  return track(server)
}

/**
 * A self-signed certificate for `name` (a DNS name, with IP SAN 127.0.0.1 too if asked).
 * The PEM files are left in `dir` only when `keepFiles` (then the caller removes `dir`).
 */
export const makeCertificate = (
  name: string,
  { ipSan = false, keepFiles = false } = {}
): { cert: Buffer; key: Buffer; dir: string } => {
  const dir = mkdtempSync(join(tmpdir(), "bridge-cert-"))
  const san = `subjectAltName=DNS:${name}${ipSan ? ",IP:127.0.0.1" : ""}`
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"].concat([
      "-subj",
      `/CN=${name}`,
      "-addext",
      san,
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem")
    ]),
    { stdio: "ignore" }
  )
  const pair = { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")), dir }
  if (!keepFiles) rmSync(dir, { recursive: true })
  return pair
}

/** A bridge on a random loopback port whose log lines are captured instead of printed. */
export const startTestBridge = async (
  options: BridgeOptions = {}
): Promise<RunningBridge & { readonly logs: LogEntry[] }> => {
  const logs: LogEntry[] = []
  const bridge = await startBridge({ listen: "127.0.0.1:0", log: (e) => logs.push(e), ...options })
  return { ...bridge, logs }
}

/** Open a WebSocket to the bridge's /pop3 endpoint with this query string. */
export const connect = (
  bridge: { readonly url: string },
  query: string,
  options: ClientOptions & { readonly protocols?: string[] } = {}
): WebSocket => {
  const { protocols, ...rest } = options
  const ws = new WebSocket(`${bridge.url}/pop3?${query}`, protocols ?? [], rest)
  ws.binaryType = "nodebuffer"
  ws.on("error", () => {}) // tests look at 'close' or use `httpStatus`
  return ws
}

/** The close code and reason the client saw. */
export const closed = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
  new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve({ code: -1, reason: "already closed" })
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
  })

export const opened = (ws: WebSocket): Promise<void> =>
  new Promise((resolve, reject) => {
    ws.once("open", () => resolve())
    ws.once("close", (code: number) => reject(new Error(`closed with ${code} before open`)))
  })

/** The HTTP status of a refused upgrade (the WebSocket never opens). */
export const httpStatus = (ws: WebSocket): Promise<number> =>
  new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
      ws.terminate()
    })
    ws.once("open", () => reject(new Error("upgrade unexpectedly succeeded")))
  })

/** Collect binary messages until `bytes` have arrived. */
export const receive = (ws: WebSocket, bytes: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const onMessage = (data: Buffer) => {
      chunks.push(data)
      total += data.length
      if (total >= bytes) {
        ws.off("message", onMessage)
        resolve(Buffer.concat(chunks))
      }
    }
    ws.on("message", onMessage)
    ws.once("close", (code: number) => reject(new Error(`closed with ${code} after ${total} of ${bytes} bytes`)))
  })

export const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex")

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Wait until `check` holds (polling), or fail after `ms`. */
export const until = async (check: () => boolean, ms = 2000, what = "condition"): Promise<void> => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** A fake DNS: names map to fixed answers; anything else is NXDOMAIN. */
export const fakeDns =
  (answers: Readonly<Record<string, readonly string[]>>) =>
  async (host: string): Promise<ReadonlyArray<{ address: string }>> => {
    const found = answers[host]
    if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" })
    return found.map((address) => ({ address }))
  }

/** The bytes one WebSocket carried, as its client sent (`up`) and received (`down`) them. */
export interface Carried {
  readonly up: Buffer[]
  readonly down: Buffer[]
}

/**
 * TLS run by the client itself over an open WebSocket to the bridge (`tls=passthrough`),
 * with every byte the WebSocket carried recorded in `carried`: what the bridge saw.
 */
export const tlsOverWebSocket = (
  ws: WebSocket,
  options: { readonly ca: Buffer; readonly servername: string },
  carried: Carried = { up: [], down: [] }
): { readonly secure: TLSSocket; readonly carried: Carried } => {
  const wire = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      carried.up.push(chunk)
      ws.send(chunk, callback)
    },
    final(callback) {
      ws.close()
      callback()
    }
  })
  ws.on("message", (data: Buffer) => {
    carried.down.push(data)
    wire.push(data)
  })
  ws.once("close", () => wire.push(null))
  const secure = tlsConnect({ socket: wire, ca: options.ca, servername: options.servername })
  return { secure, carried }
}
