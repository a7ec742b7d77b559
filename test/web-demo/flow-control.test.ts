// Flow control in Chromium: a page reading a large RETR slowly through pop3-bridge must
// hold back the bridge (and the mail server behind it), not take the whole message into
// memory. The library's `layerGlobal` uses WebSocketStream there, whose reads push back;
// the standard WebSocket, forced as the control, cannot — it takes everything the bridge
// sends — which is what shows this test can tell the two apart.
//
// page --WebSocket--> pop3-bridge --TCP--> dev server, a 48 MB message; the page reads one
// chunk, then waits until the bytes the bridge has sent down stop growing, then reads on.
import { createHash } from "node:crypto"
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningBridge, startBridge } from "../../bridge/server.ts"
import { makeMailStore } from "../../dev-server/server.ts"
import { listenTcp, type TcpListener } from "../../dev-server/tcp.ts"
import { type RunningStack, startEphemeralStack } from "../../scripts/stack.ts"
import { PASSWORD, USER } from "../core/client/harness.ts"
import { chromiumAvailable, type LaunchedChromium, launchChromium } from "../support/chromium.ts"
import { requireService } from "../support/require-service.ts"
import type { Job, Outcome } from "./flow-control-page.ts"

const available = requireService("Chromium", chromiumAvailable())
const PAGE_MODULE = `/@fs${fileURLToPath(new URL("./flow-control-page.ts", import.meta.url))}`
const MIB = 1024 * 1024

/** 48 MB of 100-octet lines (CRLF, none starting with a dot). */
const LINE = `${"0123456789abcdefghijklmnopqrstuvwxyz".repeat(3).slice(0, 98)}\r\n`
const BIG = `Subject: large\r\n\r\n${LINE.repeat(480_000)}`

describe.skipIf(!available)("a slow reader in Chromium through pop3-bridge", () => {
  let server: TcpListener | undefined
  let stack: RunningStack | undefined
  let bridge: RunningBridge | undefined
  let chromium: LaunchedChromium | undefined
  let page: Page | undefined

  beforeAll(async () => {
    server = await listenTcp(makeMailStore({ [USER]: { password: PASSWORD, messages: [BIG] } }))
    // Vite (to serve the page module) comes from the npm start stack; its bridge stays unused.
    stack = await startEphemeralStack()
    bridge = await startBridge({
      listen: "127.0.0.1:0",
      allow: [`127.0.0.1:${server.port}`],
      allowOrigin: [new URL(stack.url).origin],
      log: () => {}
    })
    chromium = await launchChromium()
    page = await chromium.context.newPage()
    await page.goto(stack.url)
  })
  afterAll(async () => {
    await chromium?.close()
    await bridge?.close(1000)
    await stack?.close()
    await server?.close()
  })

  /** The bytes the bridge has sent down once they stop growing (unchanged for 500 ms). */
  const sentWhenSettled = async (from: number): Promise<number> => {
    let last = -1
    for (let waited = 0; waited < 20_000; waited += 500) {
      const now = bridge!.metrics.bytesDown - from
      if (now === last) return now
      last = now
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    return last
  }

  const readSlowly = async (transport: Job["transport"]) => {
    const from = bridge!.metrics.bytesDown
    const job: Job = {
      bridgeUrl: `${bridge!.url}/pop3`,
      port: server!.port,
      user: USER,
      password: PASSWORD,
      msg: 1,
      transport
    }
    // As text: vitest would rewrite an import() in a function it compiles.
    const outcome = page!.evaluate(
      `import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.retrieve(${JSON.stringify(job)}))`
    ) as Promise<Outcome>
    await page!.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.firstChunk)`)
    const sentWhilePaused = await sentWhenSettled(from)
    await page!.evaluate(`import(${JSON.stringify(PAGE_MODULE)}).then((m) => m.resume())`)
    return { sentWhilePaused, outcome: await outcome }
  }

  const expected = createHash("sha256").update(BIG).digest("hex")

  it("layerGlobal (WebSocketStream): the bridge stops within a few MiB while the page does not read; then the message arrives whole", async () => {
    const { sentWhilePaused, outcome } = await readSlowly("global")
    expect(outcome.webSocketStream).toBe(true)
    expect(sentWhilePaused).toBeLessThan(16 * MIB)
    expect(outcome).toMatchObject({ bytes: BIG.length, sha256: expected })
  })

  it("the control, the standard WebSocket: the bridge sends the whole message while the page does not read", async () => {
    const { sentWhilePaused, outcome } = await readSlowly("websocket")
    expect(sentWhilePaused).toBeGreaterThanOrEqual(BIG.length)
    expect(outcome).toMatchObject({ bytes: BIG.length, sha256: expected })
  })
})
