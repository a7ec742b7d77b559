/**
 * The Deno transport: TCP and TLS through Deno's own `Deno.connect`, `Deno.connectTls`
 * and, for STLS, `Deno.startTls`. Not `node:net`/`node:tls`: after a STARTTLS upgrade
 * through Deno's Node compatibility layer, closing the socket throws `shutdown EALREADY`.
 *
 * Reads are pulled (reader.ts): a `conn.read` only while the client pulls, so a slow
 * consumer leaves the bytes in the kernel and TCP pushes back on the server.
 *
 * Deno cannot turn certificate verification off for one connection (only for the whole
 * process, with `--unsafely-ignore-certificate-errors`), so `insecure` fails with a
 * `TlsError` saying so instead of silently verifying anyway.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Socket from "effect/socket/Socket"
import { bufferedRead, makePushReader, openError, pemList, quietly, upgradeError } from "./reader.ts"
import { type Connection, makeByteSocket } from "./socket.ts"
import { type Target, Transport, verifyingUpgradeOptions } from "./transport.ts"

// The part of Deno's API used here, declared locally: core/ type-checks without Deno's types.
interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>
  write(bytes: Uint8Array): Promise<number>
  closeWrite(): Promise<void>
  close(): void
}
interface DenoTlsConn extends DenoConn {
  handshake(): Promise<unknown>
}
interface DenoNet {
  connect(options: { hostname: string; port: number; signal?: AbortSignal }): Promise<DenoConn>
  connectTls(options: { hostname: string; port: number; caCerts?: Array<string> }): Promise<DenoTlsConn>
  startTls(conn: DenoConn, options: { hostname: string; caCerts?: Array<string> }): Promise<DenoTlsConn>
}

const denoNet = (): DenoNet => {
  const deno = (globalThis as { Deno?: DenoNet }).Deno
  if (deno === undefined) throw new Error("the Deno transport needs the Deno runtime (globalThis.Deno is missing)")
  return deno
}

/**
 * The error for `insecure` on Deno. Its code contains "TLS", so the client reports it as
 * a `TlsError` in every phase.
 * @category errors
 */
export const insecureUnsupported = (): Error =>
  Object.assign(
    new Error(
      "skipping certificate verification (insecure) is not supported on Deno: it can only be turned off for the whole process " +
        "(deno run --unsafely-ignore-certificate-errors); trust the server's certificate with ca (--ca) instead"
    ),
    { code: "ERR_TLS_INSECURE_UNSUPPORTED" }
  )

// rustls refuses a certificate with basicConstraints CA:TRUE as the server's own, which is
// what `openssl req -x509` makes by default; OpenSSL-based clients accept it. Say why.
const explainTlsFailure = (cause: unknown): unknown =>
  cause instanceof Error && cause.message.includes("CaUsedAsEndEntity")
    ? new Error(
        `${cause.message}: Deno's TLS (rustls) does not accept a CA certificate (basicConstraints CA:TRUE) as the server's own; ` +
          "a self-signed server certificate needs basicConstraints CA:FALSE",
        { cause }
      )
    : cause

// Already closed, or consumed by startTls: nothing to do.
const closeQuietly = (conn: DenoConn | undefined): void => quietly(() => conn?.close())

/**
 * Connects (and for implicit TLS completes the handshake, so a bad certificate fails here
 * and not at the first read). A connection that arrives after `signal` fired is closed.
 */
const connect = async (target: Target, signal: AbortSignal): Promise<DenoConn> => {
  const deno = denoNet()
  let conn: DenoConn | undefined
  const onAbort = () => closeQuietly(conn)
  signal.addEventListener("abort", onAbort)
  const check = () => {
    if (signal.aborted) throw new Error("connection attempt abandoned")
  }
  try {
    if (target.tls === "none") {
      conn = await deno.connect({ hostname: target.host, port: target.port, signal })
      check()
      return conn
    }
    if (target.insecure) throw insecureUnsupported()
    const caCerts = target.ca === undefined ? {} : { caCerts: [...target.ca] }
    let tls: DenoTlsConn
    if (target.servername === target.host) {
      tls = conn = await deno.connectTls({ hostname: target.host, port: target.port, ...caCerts })
    } else {
      // connectTls uses one name to connect and to verify; to verify another name, connect
      // to the host and start TLS at once for the server name (still implicit TLS).
      conn = await deno.connect({ hostname: target.host, port: target.port, signal })
      check()
      tls = conn = await deno.startTls(conn, { hostname: target.servername, ...caCerts })
    }
    check()
    await tls.handshake().catch((cause: unknown) => {
      throw explainTlsFailure(cause)
    })
    check()
    return tls
  } catch (cause) {
    closeQuietly(conn)
    throw cause
  } finally {
    signal.removeEventListener("abort", onAbort)
  }
}

/**
 * A `Socket` over a Deno connection to `target`, made when its reader is acquired; the
 * reader's `upgrade` does STLS with `Deno.startTls`.
 * @category constructors
 */
export const makeSocket = (target: Target): Effect.Effect<Socket.Socket> =>
  Effect.sync(() =>
    makeByteSocket(
      Effect.map(
        // No timer here: openSocket (client/open.ts) bounds acquiring the reader by the
        // connect timeout, and its interruption aborts `signal`.
        Effect.tryPromise({ try: (signal) => connect(target, signal), catch: openError }),
        (plain): Connection => {
          let conn = plain
          const input = makePushReader({ read: bufferedRead((buffer) => conn.read(buffer)) })
          return {
            input,
            write: async (bytes) => {
              const to = conn
              let offset = 0
              // Deno may write less than asked.
              while (offset < bytes.length) offset += await to.write(offset === 0 ? bytes : bytes.subarray(offset))
            },
            // Half-closes.
            end: () => conn.closeWrite(),
            close: () => closeQuietly(conn),
            // startTls fails while a read is pending ("TCP stream is currently in use"),
            // which input.upgrade refuses, like bytes that came before TLS.
            upgrade: (options = {}) =>
              input.upgrade(
                Effect.tryPromise({
                  try: async () => {
                    const caCerts = options.ca === undefined ? {} : { caCerts: pemList(options.ca) }
                    const tls = await denoNet().startTls(conn, {
                      hostname: options.servername ?? target.servername,
                      ...caCerts
                    })
                    // The plain connection is consumed: from here on, closing means closing tls.
                    conn = tls
                    if (input.error() !== undefined) {
                      // The scope closed while startTls ran: its finalizer could not see tls.
                      closeQuietly(tls)
                      throw new Error("socket closed during the TLS upgrade")
                    }
                    await tls.handshake()
                  },
                  catch: (cause) => upgradeError(explainTlsFailure(cause))
                }),
                options.rejectUnauthorized === false
                  ? upgradeError(insecureUnsupported())
                  : options.key !== undefined || options.cert !== undefined
                    ? upgradeError(new Error("client certificates are not supported by Deno.startTls"))
                    : undefined
              )
          }
        }
      )
    )
  )

/**
 * The Deno TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "deno",
  startTls: true,
  // Deno adds `caCerts` to its default roots, so the extra CAs are passed as they are.
  upgradeOptions: (target) => verifyingUpgradeOptions(target),
  open: makeSocket
})
