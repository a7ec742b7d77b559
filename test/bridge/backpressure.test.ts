/**
 * Memory stays bounded when one side is slow. The bridge's buffered bytes (WebSocket
 * bufferedAmount + the mail-server socket's write and read buffers, summed over sessions,
 * as exported by the pop3_bridge_buffered_bytes gauge) are sampled every 5 ms.
 */
import { createHash, randomBytes } from "node:crypto"
import type { Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { connect, opened, sleep, startTestBridge, startUpstream, until } from "./helpers.ts"

const MiB = 1024 * 1024
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Sample `read()` every 5 ms; `stop()` returns the largest value seen. */
const sampler = (read: () => number) => {
  let max = 0
  const tick = setInterval(() => {
    max = Math.max(max, read())
  }, 5)
  return {
    max: () => max,
    stop: () => {
      clearInterval(tick)
      return Math.max(max, read())
    }
  }
}

/** Write `total` random bytes, honouring backpressure; resolves with their SHA-256. */
const writeRandom = async (socket: Socket, total: number, progress: { written: number }): Promise<string> => {
  const hash = createHash("sha256")
  while (progress.written < total) {
    const chunk = randomBytes(Math.min(256 * 1024, total - progress.written))
    hash.update(chunk)
    progress.written += chunk.length
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once("drain", resolve))
  }
  return hash.digest("hex")
}

describe("backpressure", () => {
  it("a fast server and a slow reader: 50 MB through, bridge buffers stay bounded", async () => {
    const total = 50 * MiB
    const progress = { written: 0 }
    let sentHash: Promise<string> | undefined
    const upstream = await startUpstream((socket) => {
      sentHash = writeRandom(socket, total, progress)
      void sentHash.then(() => socket.end())
    })
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))

    const buffered = sampler(bridge.metrics.bufferedBytes)
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    const received = createHash("sha256")
    let receivedBytes = 0
    // A slow reader: at most 64 KiB per 20 ms (~3 MB/s) while `throttled`.
    let throttled = true
    let budget = 64 * 1024
    ws.on("message", (data: Buffer) => {
      received.update(data)
      receivedBytes += data.length
      budget -= data.length
      if (throttled && budget <= 0 && !ws.isPaused) {
        ws.pause()
        setTimeout(() => {
          budget = 64 * 1024
          ws.resume()
        }, 20)
      }
    })
    await opened(ws)
    ws.pause() // first the client stops reading its socket entirely

    await sleep(1500)
    const writtenWhilePaused = progress.written
    const bufferedWhilePaused = buffered.max()
    ws.resume()
    await sleep(3000)
    throttled = false
    const receivedWhileSlow = receivedBytes
    if (ws.isPaused) ws.resume()
    await until(() => receivedBytes === total, 60_000, "all 50 MB")
    const maxBuffered = buffered.stop()

    expect(received.digest("hex")).toBe(await sentHash)
    expect(maxBuffered).toBeLessThan(3 * MiB)
    // The server was held back by TCP flow control, not absorbed into the bridge's memory.
    expect(writtenWhilePaused).toBeLessThan(total / 2)
    console.log(
      `slow reader: ${total / MiB} MB relayed; max bridge buffered ${(maxBuffered / MiB).toFixed(2)} MiB ` +
        `(${(bufferedWhilePaused / MiB).toFixed(2)} MiB while the client was paused); server had written ` +
        `${(writtenWhilePaused / MiB).toFixed(1)} MiB after 1.5 s paused; client read ` +
        `${(receivedWhileSlow / MiB).toFixed(1)} MiB in 3 s of throttled reading, then the rest at full speed`
    )
    ws.close()
  }, 90_000)

  it("a fast client and a slow server: 20 MB up, bridge buffers stay bounded", async () => {
    const total = 20 * MiB
    let serverSocket: Socket | undefined
    const received = createHash("sha256")
    let receivedBytes = 0
    const upstream = await startUpstream((socket) => {
      serverSocket = socket
      socket.pause() // the server does not read at first
      socket.on("data", (chunk: Buffer) => {
        received.update(chunk)
        receivedBytes += chunk.length
      })
      socket.pause()
    })
    cleanups.push(upstream.close)
    const bridge = await startTestBridge({ allow: [`127.0.0.1:${upstream.port}`] })
    cleanups.push(() => bridge.close(0))

    const buffered = sampler(bridge.metrics.bufferedBytes)
    const ws = connect(bridge, `host=127.0.0.1&port=${upstream.port}&tls=none`)
    await opened(ws)
    await until(() => serverSocket !== undefined)
    const sent = createHash("sha256")
    for (let at = 0; at < total; at += 32 * 1024) {
      const chunk = randomBytes(32 * 1024)
      sent.update(chunk)
      ws.send(chunk)
    }
    await sleep(1500)
    const bufferedWhileStalled = buffered.max()
    serverSocket?.resume()
    await until(() => receivedBytes === total, 60_000, "all 20 MB at the server")
    const maxBuffered = buffered.stop()

    expect(received.digest("hex")).toBe(sent.digest("hex"))
    expect(maxBuffered).toBeLessThan(3 * MiB)
    console.log(
      `slow server: ${total / MiB} MB relayed up; max bridge buffered ${(maxBuffered / MiB).toFixed(2)} MiB ` +
        `(${(bufferedWhileStalled / MiB).toFixed(2)} MiB while the server was not reading)`
    )
    ws.close()
  }, 90_000)
})
