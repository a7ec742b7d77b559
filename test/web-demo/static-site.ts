// The demo as a static site, the way a teacher would host it: built by `buildDemo` into a
// directory of its own (so test files building at once do not collide), and served by a
// plain node:http file server — no bridge, no dev POP3 server, no Vite.
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { extname, join, normalize, sep } from "node:path"
import { buildDemo } from "../../scripts/build.ts"

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml"
}

export interface StaticSite {
  readonly url: string
  readonly dir: string
  /** Every path requested, in order. */
  readonly requests: Array<string>
  readonly close: () => Promise<void>
}

/**
 * A strict Content-Security-Policy, sent with every response when asked: scripts, styles
 * and the Worker only from the site itself, no inline script, and no connection anywhere
 * (`connect-src 'none'`) — the playground must work without one.
 */
export const STRICT_CSP =
  "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'none'; frame-src blob:; base-uri 'none'; form-action 'none'"

/** Builds the demo into a temporary directory and serves it on a loopback port. */
export async function serveStaticSite(
  options: { readonly headers?: Readonly<Record<string, string>> } = {}
): Promise<StaticSite> {
  const dir = await mkdtemp(join(tmpdir(), "pop3-web-demo-"))
  await buildDemo({ outDir: dir })
  const requests: Array<string> = []
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)
    requests.push(path)
    const file = normalize(join(dir, path.endsWith("/") ? `${path}index.html` : path))
    if (!file.startsWith(dir + sep)) {
      res.writeHead(403).end()
      return
    }
    readFile(file).then(
      (data) =>
        res
          .writeHead(200, { ...options.headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream" })
          .end(data),
      () => res.writeHead(404).end("not found")
    )
  })
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    dir,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((ok) => server.close(() => ok()))
      await rm(dir, { recursive: true, force: true })
    }
  }
}
