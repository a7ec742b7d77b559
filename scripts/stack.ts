// The zero-setup stack behind `npm start` and the web demo's browser tests, in one process:
//
//   browser ──ws──▶ pop3-bridge (loopback) ──TLS──▶ dev POP3 server (sample mailbox)
//      ▲
//      └── Vite serves web-demo/
//
// The bridge allows exactly the dev server's two ports (nothing else is reachable through
// it; `tls=passthrough` too, for the demo's end-to-end TLS), accepts only the demo's own
// origin, and trusts the committed test CA upstream, so the demo's default path is
// implicit TLS end to end on this machine. The dev server serves a certificate that CA
// issued (test/fixtures/tls/README.md): the demo's end-to-end TLS, like a browser, needs a
// chain to a CA and refuses a self-signed server certificate.
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { createServer as createVite, type ViteDevServer } from "vite"
import { type RunningBridge, startBridge } from "../bridge/server.ts"
import type { Behaviour } from "../dev-server/behaviour.ts"
import { bigMailbox } from "../dev-server/big-mailbox.ts"
import { DEMO_PASSWORD, DEMO_USER, sampleMailbox } from "../dev-server/sample-mailbox.ts"
import type { CommandTable } from "../dev-server/session.ts"
import { type MailStore, makeMailStore } from "../dev-server/store.ts"
import { listenTcp, type TcpListener } from "../dev-server/tcp.ts"
import { issuedTls, testCa } from "../dev-server/tls-fixture.ts"

export interface StackOptions {
  /** Plain POP3 (STLS) port of the dev server; 0 picks a free one. Default 1110. */
  readonly devServerPort?: number
  /** Implicit-TLS port of the dev server; 0 picks a free one. Default 1995. */
  readonly devServerTlsPort?: number
  /** The bridge's port; 0 picks a free one. Default 8110. */
  readonly bridgePort?: number
  /** Vite's port; taken as a start (Vite moves up when busy). Default 5173. */
  readonly vitePort?: number
  /** Keep the bridge's JSON log lines and Vite's banner off stdout. */
  readonly quiet?: boolean
  /** Reload the page when a source file changes (default). Tests turn it off: a reload would reset the demo mid-test. */
  readonly live?: boolean
  /** More mailboxes beside the sample one ("demo"), by user: tests give each case its own. */
  readonly mailboxes?: Readonly<Record<string, { readonly password: string; readonly messages: ReadonlyArray<string> }>>
  /** The dev server's behaviour on both ports (tests: commitOnDisconnect, onCommand). */
  readonly devServerBehaviour?: Behaviour
  /** Commands replacing the dev server's own on both ports (tests instrument RETR, DELE, QUIT). */
  readonly devServerCommands?: CommandTable
}

export interface RunningStack {
  /** The demo's URL, e.g. http://127.0.0.1:5173/ */
  readonly url: string
  /** The bridge's WebSocket endpoint, e.g. ws://127.0.0.1:8110/pop3 */
  readonly bridgeUrl: string
  readonly devServer: {
    readonly host: "localhost"
    readonly port: number
    readonly tlsPort: number
    /** The mailboxes both ports serve (tests look at and deliver into them). */
    readonly store: MailStore
  }
  readonly bridge: RunningBridge
  readonly close: () => Promise<void>
}

/**
 * `startStack` as tests and the bench run it: every port free, quiet, no live reload;
 * `mailboxes` and the dev server's behaviour and commands as given.
 */
export const startEphemeralStack = (
  mailboxes?: StackOptions["mailboxes"],
  devServer?: Pick<StackOptions, "devServerBehaviour" | "devServerCommands">
): Promise<RunningStack> =>
  startStack({
    quiet: true,
    live: false,
    devServerPort: 0,
    devServerTlsPort: 0,
    bridgePort: 0,
    vitePort: 0,
    ...(mailboxes !== undefined ? { mailboxes } : {}),
    ...devServer
  })

const viteConfig = fileURLToPath(new URL("../vite.config.ts", import.meta.url))

/** Starts the dev server, the bridge and Vite; `close` stops all three. */
export const startStack = async (options: StackOptions = {}): Promise<RunningStack> => {
  const started: Array<() => Promise<void>> = []
  const close = async () => {
    // Reverse order: Vite, then the bridge (its sessions end), then the mail server.
    for (const stop of started.splice(0).reverse()) await stop().catch(() => {})
  }
  try {
    const extra = Object.entries(options.mailboxes ?? {}).map(
      ([user, box]) => [user, { password: box.password, messages: [...box.messages] }] as const
    )
    // The generated mailbox (big / big) holds one small object per message until it is read.
    const store = makeMailStore({ ...sampleMailbox(), ...bigMailbox(), ...Object.fromEntries(extra) })
    const served = { behaviour: options.devServerBehaviour, commands: options.devServerCommands }
    // Both listeners share one store: the mailbox lock and deletions span them.
    const plain: TcpListener = await orAnyPort(options.devServerPort ?? 1110, (port) =>
      listenTcp(store, { host: "127.0.0.1", port, tls: issuedTls, ...served })
    )
    started.push(() => plain.close())
    const secure: TcpListener = await orAnyPort(options.devServerTlsPort ?? 1995, (port) =>
      listenTcp(store, { host: "127.0.0.1", port, tls: issuedTls, implicitTls: true, ...served })
    )
    started.push(() => secure.close())

    // The bridge must know the demo's origin and the demo the bridge's URL: pick Vite's
    // port first (the one asked for when free, else any), then start the bridge, then Vite.
    const vitePort = await freePort(options.vitePort ?? 5173)
    const url = `http://127.0.0.1:${vitePort}/`
    const bridge = await orAnyPort(options.bridgePort ?? 8110, (port) =>
      startBridge({
        listen: `127.0.0.1:${port}`,
        // The name and the address: the bridge resolves `localhost` and, since it is loopback,
        // accepts it only because the exact address is listed too. Passthrough (never a
        // default) is listed so the demo can show end-to-end TLS: implicit on the TLS port,
        // STLS on the plain one.
        allow: [plain.port, secure.port].flatMap((port) =>
          [`localhost:${port}`, `127.0.0.1:${port}`].map((where) => `${where}/implicit,none,passthrough`)
        ),
        allowOrigin: [`http://127.0.0.1:${vitePort}`, `http://localhost:${vitePort}`],
        upstreamCa: [testCa],
        // One developer on loopback, and end-to-end tests that open a session per test: the
        // per-client session rate (which shields mail servers from credential stuffing
        // through a public bridge) would only get in the way here.
        sessionRate: "off",
        ...(options.quiet === true ? { log: () => {} } : {})
      })
    )
    started.push(() => bridge.close(1000))
    const bridgeUrl = `ws://127.0.0.1:${bridge.port}/pop3`

    // The connect form's defaults; Vite exposes VITE_* variables as import.meta.env.
    Object.assign(process.env, {
      VITE_POP3_BRIDGE_URL: bridgeUrl,
      VITE_POP3_HOST: "localhost",
      VITE_POP3_PORT: String(secure.port),
      // Security "None" in the form switches to this one: the TLS port never greets in plain text.
      VITE_POP3_PLAIN_PORT: String(plain.port),
      VITE_POP3_TLS: "implicit",
      VITE_POP3_USER: DEMO_USER,
      VITE_POP3_PASSWORD: DEMO_PASSWORD,
      // For the demo's end-to-end TLS: the page itself must trust the dev server's certificate.
      VITE_POP3_CA: testCa
    })
    const vite: ViteDevServer = await createVite({
      configFile: viteConfig,
      logLevel: options.quiet === true ? "silent" : "warn",
      clearScreen: false,
      server: {
        host: "127.0.0.1",
        port: vitePort,
        strictPort: true,
        ...(options.live === false ? { hmr: false, watch: null } : {})
      }
    })
    started.push(() => vite.close())
    await vite.listen()

    return {
      url,
      bridgeUrl,
      devServer: { host: "localhost", port: plain.port, tlsPort: secure.port, store },
      bridge,
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}

/** `preferred` if nothing listens there on 127.0.0.1, else a free port the OS picks. */
const freePort = (preferred: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = (port: number) => {
      const server = createServer()
      server.once("error", (error: NodeJS.ErrnoException) => {
        if (port !== 0 && error.code === "EADDRINUSE") probe(0)
        else reject(error)
      })
      server.listen(port, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : port))
      })
    }
    probe(preferred)
  })

/** Starts on `preferred`, or on any free port when that one is taken (a second `npm start`). */
const orAnyPort = async <T>(preferred: number, start: (port: number) => Promise<T>): Promise<T> => {
  try {
    return await start(preferred)
  } catch (error) {
    if (preferred === 0 || (error as NodeJS.ErrnoException | undefined)?.code !== "EADDRINUSE") throw error
    return start(0)
  }
}
