/**
 * The part of the Workers runtime's `cloudflare:sockets` module this repository uses
 * (core/transport/cloudflare.ts, bridge/worker.ts), so both type-check without
 * `@cloudflare/workers-types`. Pulling those into the program would clash with the DOM and
 * Node types the rest of the code is checked against.
 *
 * Deliberately not referenced from cloudflare.ts (no `/// <reference>`): a project that does
 * use `@cloudflare/workers-types` gets that package's declaration of the same module, and the
 * two would conflict (TS2484). cloudflare.ts only relies on a structural subset both satisfy.
 *
 * https://developers.cloudflare.com/workers/runtime-apis/tcp-sockets/
 */
declare module "cloudflare:sockets" {
  interface SocketAddress {
    readonly hostname: string
    readonly port: number
  }
  interface SocketOptions {
    /** `on`: TLS from the start; `starttls`: plain until `startTls()`; `off`: plain only. */
    readonly secureTransport?: "off" | "on" | "starttls"
    /** false: the write side closes when the read side ends. */
    readonly allowHalfOpen?: boolean
  }
  interface SocketInfo {
    readonly remoteAddress?: string
    readonly localAddress?: string
  }
  interface Socket {
    readonly readable: ReadableStream<Uint8Array>
    readonly writable: WritableStream<Uint8Array>
    /** Resolves once connected; rejects when the connection (or, with `on`, TLS) failed. */
    readonly opened: Promise<SocketInfo>
    readonly closed: Promise<void>
    close(): Promise<void>
    /** A new socket speaking TLS over this one; this one is unusable afterwards. */
    startTls(options?: { readonly expectedServerHostname?: string }): Socket
  }
  function connect(address: SocketAddress | string, options?: SocketOptions): Socket
}
