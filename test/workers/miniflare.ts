/**
 * Runs a bundled Worker in miniflare (workerd) for the interop tests.
 *
 * Trusting a test CA: workerd's outbound "network" service takes `tlsOptions.trustedCertificates`
 * (PEM), and miniflare lets a Worker's global outbound (which `connect()` also goes through)
 * be such a service. So `connect()` with `secureTransport: "on"` or `startTls()` verifies
 * the test servers' self-signed certificates like real ones, names included. There is no
 * way to do this on the real Workers platform; it is for tests only.
 */
import { Miniflare } from "miniflare"

/** Options for `startWorker`. */
export interface WorkerOptions {
  /** The bundled ES module (test/workers/bundle.ts). */
  readonly script: string
  /** PEM certificates `connect()` should trust, besides none: only these. */
  readonly trust?: ReadonlyArray<string>
  /** String bindings (the Worker's `env`). */
  readonly bindings?: Readonly<Record<string, string>>
}

/** From this date on, WebSocket binaryType defaults to "blob" (the bridge must set it). */
export const COMPATIBILITY_DATE = "2026-03-17"

export const startWorker = (options: WorkerOptions): Miniflare =>
  new Miniflare({
    modules: true,
    script: options.script,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { ...options.bindings },
    outboundService: {
      network: {
        // Loopback and private targets: allowed by workerd locally, refused in production.
        allow: ["public", "private", "local"],
        tlsOptions: { trustedCertificates: [...(options.trust ?? [])] }
      }
    }
  })
