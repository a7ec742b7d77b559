/**
 * The bridge under load (issue 14, item 9): thousands of concurrent sessions opened in one
 * burst, then concurrent streaming RETRs beside them, then everything closed. The bridge
 * runs in its own process (bridge-load-child.ts) so its memory, file descriptors and CPU
 * are measured alone; the clients and a stub POP3 server share the parent process (and
 * the same cores). Loopback only.
 *
 *   node bench/bridge-load.ts [--sessions N] [--streams N] [--stream-mb N] [--malloc] [--backlog-511]
 *
 * Prints per-session RSS, FDs and CPU to open, p50/p99 time to greeting, the streaming
 * throughput, and RSS after closing (and after a full GC). `--malloc` repeats the run with
 * glibc's allocator told to keep fewer arenas and trim eagerly, to see whether what RSS
 * keeps after the load is the allocator's, not the heap's; `--backlog-511` repeats it with
 * Node's default listen backlog. Also `npm run bench -- --only 5` (both comparisons).
 */
import { fork } from "node:child_process"
import { readFileSync } from "node:fs"
import { connect as netConnect, createServer, type AddressInfo, type Server } from "node:net"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { WebSocket } from "ws"
import { DEFAULTS } from "../bridge/defaults.ts"
import type { Stats } from "./bridge-load-child.ts"
import type { Table } from "./lib.ts"

/** What a load run measures. */
export interface LoadOptions {
  readonly sessions: number
  readonly streams: number
  readonly streamMb: number
  /** Extra environment for the bridge process (allocator settings). */
  readonly env?: Readonly<Record<string, string>>
  /** First, one RETR of this many MB on the idle bridge vs direct TCP. */
  readonly singleMb?: number
  /** Repeat the burst, streams and close this many times on the same bridge process. */
  readonly rounds?: number
  /** The listen backlog (default: the bridge's default). */
  readonly backlog?: number
  readonly label: string
}

const MiB = 1024 * 1024

/** A stub POP3 server: greets; `RETR\r\n` streams `bytes` then `.\r\n`; `QUIT` closes. */
const startStub = async (bytes: number): Promise<Server> => {
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  const server = createServer((socket) => {
    socket.on("error", () => {})
    socket.write("+OK stub ready\r\n")
    socket.on("data", (data: Buffer) => {
      const text = data.toString("latin1")
      if (text.startsWith("QUIT")) return void socket.end("+OK bye\r\n")
      if (!text.startsWith("RETR")) return
      let left = bytes
      socket.write("+OK\r\n")
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length)
          left -= n
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void socket.once("drain", pump)
        }
        socket.write("\r\n.\r\n")
      }
      pump()
    })
  })
  server.maxConnections = 100_000
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, resolve))
  return server
}

/** The kernel's count of connections dropped because a listen queue was full (all sockets; loopback here). */
const listenOverflows = (): number => {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("TcpExt:"))
    const names = (lines[0] ?? "").split(/\s+/)
    const values = (lines[1] ?? "").split(/\s+/)
    return Number(values[names.indexOf("ListenOverflows")] ?? Number.NaN)
  } catch {
    return Number.NaN
  }
}

const progress = (text: string): void => void process.stderr.write(`  [bridge load] ${text}\n`)

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN

/** Seconds to receive one RETR of `bytes` (plus its 10 framing bytes) directly over TCP from the stub. */
const retrDirect = (stubPort: number, bytes: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port: stubPort })
    let got = -1
    let t0 = 0
    socket.on("data", (d: Buffer) => {
      if (got < 0) {
        got = 0
        t0 = performance.now()
        return void socket.write("RETR\r\n")
      }
      got += d.length
      if (got >= bytes + 10) {
        socket.destroy()
        resolve((performance.now() - t0) / 1000)
      }
    })
    socket.on("error", reject)
  })

/** The same through the bridge, with a `ws` client. */
const retrBridged = (url: string, bytes: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let got = -1
    let t0 = 0
    ws.on("message", (d: Buffer) => {
      if (got < 0) {
        got = 0
        t0 = performance.now()
        return ws.send(Buffer.from("RETR\r\n"))
      }
      got += d.length
      if (got >= bytes + 10) {
        ws.close()
        resolve((performance.now() - t0) / 1000)
      }
    })
    ws.once("error", reject)
  })

const medianOf = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

/** Run one load scenario; resolves with its figures as table rows. */
export const runBridgeLoad = async (o: LoadOptions): Promise<{ rows: string[][]; notes: string[] }> => {
  const stub = await startStub(o.streamMb * MiB)
  const stubPort = (stub.address() as AddressInfo).port
  const single = await startStub((o.singleMb ?? 1) * MiB)
  const singlePort = (single.address() as AddressInfo).port
  const child = fork(new URL("./bridge-load-child.ts", import.meta.url), [], {
    execArgv: ["--expose-gc"],
    env: { ...process.env, ...o.env },
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const ask = <T>(message: unknown): Promise<T> =>
    new Promise((resolve) => {
      child.once("message", (reply) => resolve(reply as T))
      child.send(message as object)
    })
  const sockets: WebSocket[] = []
  try {
    const { port } = await ask<{ port: number }>({
      start: {
        listen: "127.0.0.1:0",
        allow: [`127.0.0.1:${stubPort}`, `127.0.0.1:${singlePort}`],
        maxConnections: 100_000,
        maxConnectionsPerClient: 100_000,
        maxPending: 100_000,
        maxPendingPerClient: 100_000,
        sessionRate: "off",
        ...(o.backlog === undefined ? {} : { backlog: o.backlog })
      }
    })
    const url = `ws://127.0.0.1:${port}/pop3?host=127.0.0.1&port=${stubPort}&tls=none`
    const idle = await ask<Stats>("gc")
    // One large RETR on the idle bridge, against the same read directly over TCP.
    const notes: string[] = []
    if (o.singleMb !== undefined) {
      const singleUrl = `ws://127.0.0.1:${port}/pop3?host=127.0.0.1&port=${singlePort}&tls=none`
      const direct: number[] = []
      const bridged: number[] = []
      for (let i = 0; i < 3; i++) {
        direct.push(await retrDirect(singlePort, o.singleMb * MiB))
        bridged.push(await retrBridged(singleUrl, o.singleMb * MiB))
      }
      const d = medianOf(direct)
      const b = medianOf(bridged)
      notes.push(
        `${o.label}: one ${o.singleMb} MB RETR on the idle bridge, median of 3: ${b.toFixed(2)} s through the bridge (${(o.singleMb / b).toFixed(0)} MiB/s) vs ${d.toFixed(2)} s direct TCP (${(o.singleMb / d).toFixed(0)} MiB/s), ${(d / b).toFixed(2)}× direct; ` +
          "a ws client, not the pop3 CLI"
      )
    }
    progress(`${o.label}: opening ${o.sessions} sessions at once`)

    // Rounds on the same bridge process: what one round leaves behind, the next reuses.
    const rows: string[][] = []
    for (let round = 1; round <= (o.rounds ?? 1); round++) {
      sockets.length = 0
      const start = round === 1 ? idle : await ask<Stats>("gc")
      // 1. A burst: every session opened at once; time from `new WebSocket` to the greeting.
      const greetings: number[] = []
      let failures = 0
      const overflowsBefore = listenOverflows()
      const t0 = performance.now()
      await Promise.all(
        Array.from(
          { length: o.sessions },
          () =>
            new Promise<void>((resolve) => {
              const started = performance.now()
              const ws = new WebSocket(url, { perMessageDeflate: false })
              sockets.push(ws)
              ws.once("message", () => {
                greetings.push(performance.now() - started)
                resolve()
              })
              ws.once("error", () => {
                failures += 1
                resolve()
              })
            })
        )
      )
      const burstSeconds = (performance.now() - t0) / 1000
      const overflows = listenOverflows() - overflowsBefore
      progress(
        `${o.label}: ${greetings.length} greeted, ${failures} failed, in ${burstSeconds.toFixed(2)} s; streaming`
      )
      const held = await ask<Stats>("gc")
      greetings.sort((a, b) => a - b)

      // 2. Streaming beside the idle sessions: concurrent RETRs of streamMb each.
      const s0 = performance.now()
      const perStream = await Promise.all(
        Array.from(
          { length: o.streams },
          () =>
            new Promise<number>((resolve, reject) => {
              const ws = new WebSocket(url, { perMessageDeflate: false })
              let got = 0
              let greeted = false
              let startedAt = 0
              ws.on("message", (data: Buffer) => {
                if (!greeted) {
                  greeted = true
                  startedAt = performance.now()
                  return ws.send(Buffer.from("RETR\r\n"))
                }
                got += data.length
                if (got >= o.streamMb * MiB + 10) {
                  ws.close()
                  resolve((o.streamMb * MiB) / MiB / ((performance.now() - startedAt) / 1000))
                }
              })
              ws.once("error", reject)
            })
        )
      )
      const streamSeconds = (performance.now() - s0) / 1000
      const streaming = await ask<Stats>("stats")
      progress(`${o.label}: streamed; closing`)

      // 3. Close everything; what the bridge keeps.
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve()
              ws.once("close", () => resolve())
              ws.close()
            })
        )
      )
      progress(`${o.label}: closed`)
      let after = await ask<Stats>("stats")
      for (let i = 0; i < 200 && after.sessionsActive > 0; i++) {
        await new Promise((r) => setTimeout(r, 50))
        after = await ask<Stats>("stats")
      }
      const afterGc = await ask<Stats>("gc")
      progress(`${o.label}: done; V8 heap spaces after GC (physical MiB): ${JSON.stringify(afterGc.spaces)}`)

      const n = Math.max(1, greetings.length)
      const kb = (b: number) => `${(b / 1024).toFixed(1)}`
      const mb = (b: number) => `${(b / MiB).toFixed(0)}`
      const sorted = [...perStream].sort((a, b) => a - b)
      rows.push([
        round === 1 ? o.label : `${o.label}, round ${round}`,
        `${greetings.length}${failures > 0 ? ` (${failures} failed)` : ""}`,
        `${quantile(greetings, 0.5).toFixed(0)}`,
        `${quantile(greetings, 0.99).toFixed(0)}`,
        `${burstSeconds.toFixed(2)}`,
        `${overflows}`,
        kb((held.rss - start.rss) / n),
        `${((held.fds - start.fds) / n).toFixed(2)}`,
        `${((held.cpuMicros - start.cpuMicros) / 1000 / n).toFixed(2)}`,
        `${o.streams}×${o.streamMb}: ${((o.streams * o.streamMb) / streamSeconds).toFixed(0)} (${(sorted[0] ?? 0).toFixed(0)}–${(sorted.at(-1) ?? 0).toFixed(0)})`,
        `${mb(start.rss)} / ${mb(streaming.rss)} / ${mb(after.rss)} / ${mb(afterGc.rss)}`,
        `${mb(afterGc.heapUsed)} / ${mb(afterGc.heapPhysical)} / ${mb(afterGc.arrayBuffers)} / ${mb(afterGc.v8Malloced)}`,
        `${mb(start.anonymous)} / ${mb(afterGc.anonymous)}`
      ])
    }
    return { rows, notes }
  } finally {
    for (const ws of sockets) ws.terminate()
    const exited = new Promise((resolve) => child.once("exit", resolve))
    if (child.connected) child.send("stop")
    const killer = setTimeout(() => child.kill(), 5000)
    await exited
    clearTimeout(killer)
    stub.close()
    single.close()
  }
}

/** The table for `npm run bench` and for running this file alone. */
export const bridgeLoadTable = async (o: {
  sessions: number
  streams: number
  streamMb: number
  malloc: boolean
  backlog511: boolean
  rounds?: number
}): Promise<Table> => {
  const runs: LoadOptions[] = [
    { ...o, label: `default (backlog ${DEFAULTS.backlog})`, rounds: o.rounds ?? 2, singleMb: 100 }
  ]
  if (o.backlog511) runs.push({ ...o, label: "backlog 511 (Node's default)", backlog: 511 })
  if (o.malloc) {
    runs.push({ ...o, label: "MALLOC_ARENA_MAX=2", env: { MALLOC_ARENA_MAX: "2" } })
    runs.push({
      ...o,
      label: "MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=64k MALLOC_TRIM_THRESHOLD_=128k",
      env: { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "65536", MALLOC_TRIM_THRESHOLD_: "131072" }
    })
  }
  const rows: string[][] = []
  const measured: string[] = []
  for (const run of runs) {
    const result = await runBridgeLoad(run)
    rows.push(...result.rows)
    measured.push(...result.notes)
  }
  return {
    title: `5. pop3-bridge under load: ${o.sessions} sessions opened in one burst, then ${o.streams} concurrent ${o.streamMb} MB RETRs beside them`,
    header: [
      "bridge process",
      "sessions",
      "greeting p50 ms",
      "p99 ms",
      "burst s",
      "listen overflows",
      "RSS/session KiB",
      "FDs/session",
      "CPU ms/open",
      "streams MiB/s (per stream)",
      "RSS MiB: start / loaded / closed / closed+GC",
      "after GC MiB: heap used / heap physical / ArrayBuffers / V8 malloc",
      "anonymous MiB: start / closed+GC"
    ],
    rows,
    notes: [
      ...measured,
      "one process each for the bridge (alone, `--expose-gc`) and for the clients + stub server; same 2 cores, loopback; ws:// and plain TCP upstream",
      "time to greeting: from `new WebSocket` to the stub's greeting arriving through the bridge; the clients share one process, so on 2 cores it mostly measures them",
      "the default row runs twice on the same bridge process (`--rounds`): the second round's start is what the first left behind, and its RSS shows whether that memory is reused (retention) or added to (a leak)",
      "listen overflows: the kernel's TcpExt ListenOverflows during the burst (connects dropped because the accept queue was full; each costs the client a 1 s SYN retry)"
    ]
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      sessions: { type: "string" },
      streams: { type: "string" },
      "stream-mb": { type: "string" },
      malloc: { type: "boolean" },
      "backlog-511": { type: "boolean" },
      rounds: { type: "string" }
    }
  })
  const { renderText } = await import("./lib.ts")
  const table = await bridgeLoadTable({
    sessions: Number(values.sessions ?? 4000),
    streams: Number(values.streams ?? 20),
    streamMb: Number(values["stream-mb"] ?? 5),
    malloc: values.malloc === true,
    backlog511: values["backlog-511"] === true,
    rounds: Number(values.rounds ?? 2)
  })
  process.stdout.write(renderText(table) + "\n")
}
