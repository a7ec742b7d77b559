/**
 * The transport abstraction: how the client gets a byte `Socket` to a POP3 server.
 *
 * Every platform provides the same service — Node TCP/TLS, WebSocket through the bridge,
 * in-memory — and the client never knows which one it has. The platform is chosen by the
 * Layer you provide, not by package conditions.
 *
 * @module
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"
import type { Pop3Error } from "../errors.ts"

/**
 * Where to connect and how to secure it.
 * @category models
 */
export interface Target {
  readonly host: string
  readonly port: number
  /** `implicit`: TLS from the first byte (port 995). `none`: plain TCP (STLS may follow). */
  readonly tls: "implicit" | "none"
  /** The name the server certificate must match (defaults to `host`). */
  readonly servername: string
  /** Extra trusted CA certificates (PEM), added to the platform's defaults. */
  readonly ca: ReadonlyArray<string> | undefined
  /** Skip certificate verification. Only when the caller asked for it. */
  readonly insecure: boolean
  readonly connectTimeoutMillis: number
}

/**
 * A transport. `open` returns a lazy `Socket`: the connection is made when its `reader`
 * is acquired. `startTls` says whether `reader.upgrade` works (STLS).
 * @category services
 */
export class Transport extends Context.Service<
  Transport,
  {
    readonly name: string
    readonly startTls: boolean
    readonly open: (target: Target) => Effect.Effect<Socket.Socket>
    /** The `reader.upgrade` options for STLS to `target` (certificate checks included). */
    readonly upgradeOptions: (target: Target) => Socket.TlsUpgradeOptions
    /**
     * Whether the whole path to the server is encrypted (default: `target.tls === "implicit"`).
     * Through a bridge it is so only when the leg to the bridge is encrypted too.
     */
    readonly secure?: ((target: Target) => boolean) | undefined
    /**
     * Called once STLS has been written, before its answer is read, with the options the
     * upgrade will get: a transport may get ready for the handshake while the server answers
     * (Node builds its TLS context then).
     */
    readonly prepareUpgrade?: ((options: Socket.TlsUpgradeOptions) => void) | undefined
    /** Turns a transport-specific socket failure into a precise error (e.g. a bridge's close code). */
    readonly classify?: ((error: Socket.SocketError) => Pop3Error | undefined) | undefined
    /**
     * Whether every chunk its reader gives is new memory that nothing writes to again (a
     * browser's WebSocket message), so that views into it stay valid and a message body
     * can be handed on without a copy. Not so (the default) where reads go into buffers
     * that are reused (Node's transports).
     */
    readonly freshChunks?: boolean | undefined
  }
>()("pop3/Transport") {}

/**
 * Node/OpenSSL error codes and messages that mean "TLS failed", not "could not connect"
 * (to the mail server, client/open.ts; to the bridge, bridge-rules.ts).
 * @category tls
 */
export const TLS_FAILURE =
  /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|HANDSHAKE|certificate|wrong version number/i

/**
 * The `reader.upgrade` options that check `target` as asked: its server name, verification
 * unless `insecure`, and its extra CAs after `roots` (for a runtime whose `ca` replaces
 * its default roots, as Node's and Bun's do).
 * @category tls
 */
export const verifyingUpgradeOptions = (
  target: Target,
  roots: ReadonlyArray<string> = []
): Socket.TlsUpgradeOptions => ({
  servername: target.servername,
  rejectUnauthorized: !target.insecure,
  ...(target.ca !== undefined ? { ca: [...roots, ...target.ca] } : {})
})
