// End-to-end TLS failures in Chromium: the page does TLS 1.3 itself (WebCrypto, the browser's
// WebSocket) through the real Node pop3-bridge in tls=passthrough mode, and each server below
// is wrong in one way: page --WebSocket--> bridge --TCP--> relay --TCP--> server. The same
// servers as the Node tests (test/core/tls/end-to-end.test.ts): the dev server with a
// certificate from a throwaway CA (test/support/pki.ts), a Node TLS server capped at 1.2, and
// a relay (test/support/tcp-relay.ts) that flips one byte of a TLS record. Each ends in the
// page with the TlsError whose `problem` names the failure, before any command or password
// left the page — and the flipped record delivers none of its bytes.
import { fileURLToPath } from "node:url"
import tls from "node:tls"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { listenTcp } from "../../dev-server/tcp.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { makeStore, num, PASSWORD, stored, USER } from "../core/client/harness.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { type Issued, makePki, type Pki } from "../support/pki.ts"
import { requireService } from "../support/require-service.ts"
import { type Relay, type RelayOptions, startRelay } from "../support/tcp-relay.ts"
import type { Job, Outcome } from "./end-to-end-page.ts"

const available = requireService("Chromium", chromiumAvailable())
const PAGE_MODULE = `/@fs${fileURLToPath(new URL("./end-to-end-page.ts", import.meta.url))}`

/** A server behind its relay, with the command lines it read (there must be none). */
interface Served {
  readonly relay: Relay
  readonly commands: Array<string>
}

describe.skipIf(!available)("end-to-end TLS failures in Chromium through pop3-bridge (tls=passthrough)", () => {
  const store = makeStore()
  const closers: Array<() => Promise<void>> = []
  let pki: Pki | undefined
  let stack: RunningStack | undefined
  let bridge: RunningBridge | undefined
  let chromium: LaunchedChromium | undefined
  let page: Page | undefined
  let good: Served | undefined
  let selfSigned: Served | undefined
  let expired: Served | undefined
  let tls12: Served | undefined
  let flipping: Served | undefined

  /** The dev server with implicit TLS and `cert`, behind a relay. */
  const serve = async (cert: Issued, relay: RelayOptions = {}): Promise<Served> => {
    const commands: Array<string> = []
    const listener = await listenTcp(store, {
      tls: cert,
      implicitTls: true,
      behaviour: { onCommand: (line) => commands.push(line) },
      onError: () => {}
    })
    closers.push(() => listener.close())
    const served = { relay: await startRelay("127.0.0.1", listener.port, relay), commands }
    closers.push(() => served.relay.close())
    return served
  }

  beforeAll(async () => {
    pki = await makePki()
    const leaf = await pki.issue(["localhost"])
    good = await serve(leaf)
    selfSigned = await serve(await pki.selfSigned(["localhost"]))
    expired = await serve(await pki.issue(["localhost"], { expired: true }))
    flipping = await serve(leaf, { flipInRecordOf: 8000 })
    // TLS 1.2 at most, as the Node test's: it never gets to speak POP3.
    const old = tls.createServer({ ...leaf, maxVersion: "TLSv1.2" }, (socket) => socket.end("+OK never\r\n"))
    old.on("tlsClientError", () => {})
    await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve))
    closers.push(() => new Promise((resolve) => old.close(() => resolve())))
    tls12 = { relay: await startRelay("127.0.0.1", (old.address() as { port: number }).port), commands: [] }
    closers.push(() => tls12!.relay.close())
    // Vite (to serve the page module) comes from the npm start stack; its bridge stays unused.
    stack = await startEphemeralStack()
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      // Passthrough only: the bridge never does TLS here, so every check is the page's. The
      // name the page dials, and its loopback address, listed so it may be used.
      allow: [good, selfSigned, expired, tls12, flipping].flatMap(({ relay }) => [
        `localhost:${relay.port}/passthrough`,
        `127.0.0.1:${relay.port}/passthrough`
      ]),
      allowOrigin: [new URL(stack.url).origin],
      log: () => {}
    })
    chromium = await launchChromium()
    // One page for every case: each attempt is its own scope and WebSocket.
    page = await chromium.context.newPage()
    await page.goto(stack.url)
  })
  afterAll(async () => {
    await chromium?.close()
    await bridge?.close(1000)
    await stack?.close()
    for (const close of closers.splice(0).reverse()) await close()
    await pki?.remove()
  })

  /** Runs the page's retrieve against `served` (the CA given unless `job` says otherwise). */
  const attempt = async (served: Served, job: Partial<Job> = {}): Promise<Outcome> => {
    const full: Job = {
      bridgeUrl: `${bridge!.url}/pop3`,
      port: served.relay.port,
      tls: "implicit",
      ca: pki!.ca,
      user: USER,
      password: PASSWORD,
      msg: num("plain"),
      ...job
    }
    // As text: vitest would rewrite an import() in a function it compiles.
    return page!.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.retrieve(${JSON.stringify(full)}))`)
  }

  /** Failed in the handshake: the server read no command, the relay carried no password. */
  const refusedBeforeLogin = (served: Served) => {
    expect(served.commands).toEqual([])
    expect(served.relay.fromClient().toString("latin1")).not.toContain(PASSWORD)
  }

  it("the relay path works: with the CA, the page logs in and reads the message", async () => {
    // The control for the cases below: each differs from it in one thing only.
    const outcome = await attempt(good!)
    expect(outcome).toMatchObject({ ok: true, secure: true })
    if (outcome.ok) expect(Buffer.from(outcome.body, "base64")).toEqual(Buffer.from(stored(store, num("plain"))))
    expect(good!.commands).toContain(`USER ${USER}`)
  })

  it("a self-signed certificate without ca: untrusted-certificate", async () => {
    const outcome = await attempt(selfSigned!, { ca: undefined })
    expect(outcome).toMatchObject({ ok: false, tag: "TlsError", problem: "untrusted-certificate" })
    if (!outcome.ok) expect(outcome.message).toMatch(/not signed by a trusted CA/)
    refusedBeforeLogin(selfSigned!)
  })

  it("the wrong host name: host-name-mismatch", async () => {
    const before = good!.commands.length
    const outcome = await attempt(good!, { servername: "pop.example.com" })
    expect(outcome).toMatchObject({ ok: false, tag: "TlsError", problem: "host-name-mismatch" })
    if (!outcome.ok) expect(outcome.message).toMatch(/TLS with pop\.example\.com failed: .*not for this host name/)
    // The control above logged in on this server: nothing more since.
    expect(good!.commands.length).toBe(before)
  })

  it("an expired certificate: not-valid-now", async () => {
    const outcome = await attempt(expired!)
    expect(outcome).toMatchObject({ ok: false, tag: "TlsError", problem: "not-valid-now" })
    if (!outcome.ok) expect(outcome.message).toMatch(/expired or is not valid yet/)
    refusedBeforeLogin(expired!)
  })

  it("a TLS 1.2-only server: protocol-version, and no second, weaker attempt", async () => {
    const outcome = await attempt(tls12!)
    expect(outcome).toMatchObject({ ok: false, tag: "TlsError", problem: "protocol-version" })
    if (!outcome.ok) expect(outcome.message).toMatch(/does not speak TLS 1\.3/)
    refusedBeforeLogin(tls12!)
    // Exactly one record from the page: its one ClientHello.
    const sent = tls12!.relay.fromClient()
    expect(sent[0]).toBe(0x16)
    expect(sent.length).toBe(5 + sent.readUInt16BE(3))
  })

  it("a relay that flips one byte of the message's record: bad-record-mac, and nothing of it delivered", async () => {
    const outcome = await attempt(flipping!, { msg: num("long") })
    expect(flipping!.relay.flipped()).toBe(true)
    expect(outcome).toMatchObject({ ok: false, tag: "TlsError", problem: "bad-record-mac" })
    if (outcome.ok) return
    expect(outcome.message).toMatch(/bytes were altered on the way/)
    // The login went through (records before the flip were intact); the message did not:
    // the flipped record is its first big one, and not one byte of the message reached the page.
    expect(flipping!.commands).toContain(`RETR ${num("long")}`)
    expect(stored(store, num("long")).length).toBeGreaterThan(8000)
    expect(Buffer.from(outcome.delivered, "base64").length).toBe(0)
  })
})
