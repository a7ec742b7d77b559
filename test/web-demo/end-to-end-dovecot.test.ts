// End-to-end TLS in Chromium against a real Dovecot, through the real Node pop3-bridge in
// tls=passthrough mode: page --WebSocket--> bridge --TCP--> relay --TCP--> Dovecot. The
// relay (test/support/tcp-relay.ts) keeps every byte the bridge relayed, so the test shows
// that no POP3 command, no password and no line of the message crossed it readably — with
// implicit TLS and with STLS, done by the library on the browser's WebCrypto. And a failure:
// Dovecot's certificate without its CA is refused in the page with the TlsError that says so.
// Dovecot serves a certificate of a throwaway CA (test/support/pki.ts): subtls, like a
// browser, takes no self-signed server certificate as a trust anchor.
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { type Dovecot, dovecotAvailable, startDovecot } from "../support/dovecot.ts"
import { makePki, type Pki } from "../support/pki.ts"
import { requireService } from "../support/require-service.ts"
import { type Relay, startRelay } from "../support/tcp-relay.ts"
import type { Job, Outcome } from "./end-to-end-page.ts"

const available = requireService("Chromium", chromiumAvailable()) && requireService("Dovecot", dovecotAvailable())
const PAGE_MODULE = `/@fs${fileURLToPath(new URL("./end-to-end-page.ts", import.meta.url))}`

describe.skipIf(!available)("end-to-end TLS in Chromium through pop3-bridge (tls=passthrough) to Dovecot", () => {
  let pki: Pki | undefined
  let dovecot: Dovecot | undefined
  let stack: RunningStack | undefined
  let bridge: RunningBridge | undefined
  let chromium: LaunchedChromium | undefined
  let implicit: Relay | undefined
  let stls: Relay | undefined
  const pages: Array<Page> = []

  beforeAll(async () => {
    pki = await makePki()
    const leaf = await pki.issue(["localhost", "IP:127.0.0.1"])
    dovecot = await startDovecot({ bulkMessages: 0, certificate: { ...leaf, ca: pki.ca } })
    implicit = await startRelay(dovecot.host, dovecot.tlsPort)
    stls = await startRelay(dovecot.host, dovecot.port)
    // Vite (to serve the page module) comes from the npm start stack; its bridge stays unused.
    stack = await startEphemeralStack()
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      // Passthrough only: TLS at the bridge would be refused, never fallen back to. The
      // name the certificate carries, and its loopback address, listed so it may be used.
      allow: [implicit, stls].flatMap((r) => [`localhost:${r.port}/passthrough`, `127.0.0.1:${r.port}/passthrough`]),
      allowOrigin: [new URL(stack.url).origin],
      log: () => {}
    })
    chromium = await launchChromium()
  })
  afterAll(async () => {
    await chromium?.close()
    await bridge?.close(1000)
    await stack?.close()
    await Promise.all([implicit?.close(), stls?.close()])
    await dovecot?.stop()
    await pki?.remove()
  })
  afterEach(async () => {
    for (const page of pages.splice(0)) await page.close()
  })

  const inPage = async (job: Omit<Job, "bridgeUrl" | "user" | "password">): Promise<Outcome> => {
    const page = await chromium!.context.newPage()
    pages.push(page)
    await page.goto(stack!.url)
    const full: Job = {
      ...job,
      bridgeUrl: `${bridge!.url}/pop3`,
      user: "alice",
      password: dovecot!.users.alice.password
    }
    // As text: vitest would rewrite an import() in a function it compiles.
    return page.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.retrieve(${JSON.stringify(full)}))`)
  }
  const message = (n: number) => Buffer.from(dovecot!.messages("alice")[n - 1]!)

  /**
   * The bytes the bridge relayed: no command, no password, no line of the message. Each
   * word at least 5 bytes: random ciphertext holds a given 3 or 4 bytes too often.
   */
  const onlyCiphertext = (bytes: Buffer, body: Buffer) => {
    const text = bytes.toString("latin1")
    for (const word of [
      "USER ",
      "PASS ",
      "RETR ",
      "CAPA\r\n",
      "QUIT\r\n",
      "\r\n+OK ",
      "alice",
      dovecot!.users.alice.password
    ])
      expect(text).not.toContain(word)
    const line = body.toString("latin1").split("\r\n")[0] ?? ""
    expect(line.length).toBeGreaterThan(10)
    expect(text).not.toContain(line)
  }

  it("implicit TLS: login and RETR work; the bridge relayed only TLS records", async () => {
    const outcome = await inPage({ port: implicit!.port, tls: "implicit", ca: pki!.ca, msg: 1 })
    expect(outcome).toMatchObject({ ok: true, secure: true })
    if (!outcome.ok) return
    expect(Buffer.from(outcome.body, "base64")).toEqual(message(1))
    expect(implicit!.fromClient()[0]).toBe(0x16) // a TLS handshake record from the first byte
    onlyCiphertext(implicit!.fromClient(), message(1))
    onlyCiphertext(implicit!.fromServer(), message(1))
  })

  it("STLS: plaintext up to Dovecot's go-ahead, then only TLS records", async () => {
    const outcome = await inPage({ port: stls!.port, tls: "starttls", ca: pki!.ca, msg: 3 })
    expect(outcome).toMatchObject({ ok: true, secure: true })
    if (!outcome.ok) return
    expect(Buffer.from(outcome.body, "base64")).toEqual(message(3))
    const client = stls!.fromClient()
    expect(client.subarray(0, 6).toString("latin1")).toBe("STLS\r\n")
    expect(client[6]).toBe(0x16)
    onlyCiphertext(client.subarray(6), message(3))
    const server = stls!.fromServer()
    const plain = server.toString("latin1").match(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n/)?.[0] ?? ""
    expect(plain).not.toBe("")
    expect(server[plain.length]).toBe(0x16)
    onlyCiphertext(server.subarray(plain.length), message(3))
  })

  it("without Dovecot's CA: TlsError untrusted-certificate in the page, and no password relayed", async () => {
    const before = implicit!.fromClient().length
    const outcome = await inPage({ port: implicit!.port, tls: "implicit", ca: undefined, msg: 1 })
    expect(outcome).toMatchObject({ ok: false, tag: "TlsError", problem: "untrusted-certificate" })
    expect(implicit!.fromClient().subarray(before).toString("latin1")).not.toContain(dovecot!.users.alice.password)
  })
})
