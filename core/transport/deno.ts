/**
 * The Deno transport: TCP and TLS through Deno's own `Deno.connect`, `Deno.connectTls`
 * and, for STLS, `Deno.startTls`. Not `node:net`/`node:tls`: after a STARTTLS upgrade
 * through Deno's Node compatibility layer, closing the socket throws `shutdown EALREADY`.
 *
 * Reads are pulled: a `conn.read` is issued only when the client pulls, and at most one
 * chunk waits unread, so a slow consumer leaves the bytes in the kernel and TCP pushes
 * back on the server.
 *
 * Deno cannot turn certificate verification off for one connection (only for the whole
 * process, with `--unsafely-ignore-certificate-errors`), so `insecure` fails with a
 * `TlsError` saying so instead of silently verifying anyway.
 *
 * @module
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import { type Target, Transport } from "./transport.ts"
import { queuedWriter } from "./writer.ts"

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

/** One `conn.read` asks for at most this much; a socket's buffer is of this order. */
const READ_SIZE = 64 * 1024

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

const closeQuietly = (conn: DenoConn | undefined): void => {
  try {
    conn?.close()
  } catch {
    // already closed, or consumed by startTls
  }
}

const pemList = (ca: NonNullable<Socket.TlsUpgradeOptions["ca"]>): Array<string> =>
  (Array.isArray(ca) ? ca : [ca]).map((pem: string | Uint8Array) => (typeof pem === "string" ? pem : new TextDecoder().decode(pem)))

const closeError = (code: number, closeReason?: string) =>
  new Socket.SocketError({ reason: new Socket.SocketCloseError({ code, closeReason }) })
const upgradeError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketUpgradeError({ cause }) })

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
  Effect.sync(() => {
    // The writer is detached from any one connection (effect's Socket contract): it
    // waits on the latch until a reader has connected.
    const latch = Latch.makeUnsafe(false)
    let current: { readonly conn: () => DenoConn; readonly close: (error: Socket.SocketError) => void } | undefined
    // Writes run one after another even when an interrupted write is still finishing,
    // so their bytes never interleave.

    const reader: Socket.Socket["reader"] = Effect.gen(function*() {
      const scope = yield* Effect.scope
      // No timer here: openSocket (client/open.ts) bounds acquiring the reader by the
      // connect timeout, and its interruption aborts `signal`.
      let conn = yield* Effect.tryPromise({
        try: (signal) => connect(target, signal),
        catch: (cause) => new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })
      })

      type Resume = (effect: Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>) => void
      let buffer = new Uint8Array(READ_SIZE)
      let ready: Uint8Array | undefined // read while no pull waited (the pull was interrupted)
      let reading = false
      let error: Socket.SocketError | undefined
      let waiter: Resume | undefined
      let upgraded = false

      // The only place a pull is resumed: bytes first, then the error.
      const deliver = () => {
        if (waiter === undefined) return
        const resume = waiter
        if (ready !== undefined) {
          const chunk = ready
          ready = undefined
          waiter = undefined
          resume(Effect.succeed([chunk]))
        } else if (error !== undefined) {
          waiter = undefined
          resume(Effect.fail(error))
        }
      }
      const fail = (err: Socket.SocketError) => {
        error ??= err
        deliver()
      }
      // Hands the read bytes over; a mostly full buffer goes as it is (no copy) and a
      // small read is copied so the 64 KiB buffer is not held by a few bytes.
      const take = (n: number): Uint8Array => {
        if (n * 2 < buffer.length) return buffer.slice(0, n)
        const chunk = buffer.subarray(0, n)
        buffer = new Uint8Array(READ_SIZE)
        return chunk
      }
      const readMore = () => {
        if (reading || ready !== undefined || error !== undefined) return
        reading = true
        conn.read(buffer).then(
          (n) => {
            reading = false
            if (error !== undefined) return
            if (n === null) return fail(closeError(1000))
            if (n > 0) {
              ready = take(n)
              deliver()
            }
            // A read of 0 bytes is not the end; read again if someone still waits.
            if (waiter !== undefined) readMore()
          },
          (cause: unknown) => {
            reading = false
            fail(new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) }))
          }
        )
      }

      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          // Fails a pull suspended in another fiber (the Socket contract), then closes.
          ready = undefined
          fail(closeError(1006))
          latch.closeUnsafe()
          current = undefined
          closeQuietly(conn)
        })
      )
      current = {
        conn: () => conn,
        close: (err) => {
          ready = undefined
          fail(err)
          closeQuietly(conn)
        }
      }
      latch.openUnsafe()

      const pull = Effect.callback<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError>((resume) => {
        waiter = resume
        deliver()
        if (waiter !== resume) return
        readMore()
        return Effect.sync(() => {
          if (waiter === resume) waiter = undefined
        })
      })

      const upgrade = (options: Socket.TlsUpgradeOptions = {}): Effect.Effect<void, Socket.SocketError> =>
        Effect.suspend(() => {
          if (upgraded || error !== undefined) return Effect.fail(upgradeError(new Error("socket is already upgraded or closed")))
          // startTls fails while a read is pending ("TCP stream is currently in use"), and
          // bytes that came after the server's go-ahead but before TLS were not protected:
          // either way the upgrade must not go on (plaintext injection, CVE-2011-0411).
          if (reading || ready !== undefined) {
            return Effect.fail(upgradeError(new Error(ready !== undefined ? "data arrived before the TLS handshake started" : "a read is still pending")))
          }
          if (options.rejectUnauthorized === false) return Effect.fail(upgradeError(insecureUnsupported()))
          if (options.key !== undefined || options.cert !== undefined) {
            return Effect.fail(upgradeError(new Error("client certificates are not supported by Deno.startTls")))
          }
          const hostname = options.servername ?? target.servername
          const caCerts = options.ca === undefined ? {} : { caCerts: pemList(options.ca) }
          return Effect.tryPromise({
            try: async () => {
              const tls = await denoNet().startTls(conn, { hostname, ...caCerts })
              // The plain connection is consumed: from here on, closing means closing tls.
              conn = tls
              if (error !== undefined) {
                // The scope closed while startTls ran: its finalizer could not see tls.
                closeQuietly(tls)
                throw new Error("socket closed during the TLS upgrade")
              }
              await tls.handshake()
              upgraded = true
            },
            catch: (cause) => {
              const err = upgradeError(explainTlsFailure(cause))
              // Half-done TLS leaves nothing usable; later pulls fail too.
              fail(err)
              return err
            }
          })
        })

      return { pull, upgrade }
    })

    const writer = queuedWriter({
      latch,
      write: async (bytes) => {
        const target = current
        if (target === undefined) throw new Error("socket closed")
        const conn = target.conn()
        let offset = 0
        // Deno may write less than asked.
        while (offset < bytes.length) offset += await conn.write(offset === 0 ? bytes : bytes.subarray(offset))
      },
      close: (event) => current?.close(closeError(event.code, event.reason)),
      // Half-closes, after the writes already queued.
      end: () => {
        const target = current
        return target === undefined ? undefined : () => target.conn().closeWrite()
      }
    })

    return Socket.make({ reader, writer })
  })

/**
 * The Deno TCP/TLS transport.
 * @category layers
 */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport)({
  name: "deno",
  startTls: true,
  // Deno adds `caCerts` to its default roots, so the extra CAs are passed as they are.
  upgradeOptions: (target) => ({
    servername: target.servername,
    rejectUnauthorized: !target.insecure,
    ...(target.ca !== undefined ? { ca: target.ca } : {})
  }),
  open: makeSocket
})
