/**
 * The bridge under load, in its own process so its memory and CPU are its own: started by
 * bench/bridge-load.ts with `fork` (IPC) and `--expose-gc`. Messages: `{ start: options }`
 * → `{ port }`; `"stats"` → Stats; `"gc"` → Stats after two full collections; `"stop"`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8"
import { startBridge, type RunningBridge } from "../bridge/server.ts"

/** What the parent reads. */
export interface Stats {
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  readonly fds: number
  /** CPU time used so far, user + system, microseconds. */
  readonly cpuMicros: number
  readonly sessionsActive: number
  /** V8's own view: physical heap pages, and what V8 itself holds through malloc. */
  readonly heapPhysical: number
  readonly v8Malloced: number
  /** From /proc/self/smaps_rollup: anonymous memory (heap pages, malloc arenas) vs file-backed (code). */
  readonly anonymous: number
  /** V8's heap spaces with more than 1 MiB of physical memory: name → MiB. */
  readonly spaces: Readonly<Record<string, number>>
}

const stats = (bridge: RunningBridge | undefined): Stats => {
  const m = process.memoryUsage()
  const cpu = process.cpuUsage()
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    fds: readdirSync("/proc/self/fd").length,
    cpuMicros: cpu.user + cpu.system,
    sessionsActive: bridge?.metrics.sessionsActive ?? 0,
    heapPhysical: getHeapStatistics().total_physical_size,
    v8Malloced: getHeapStatistics().malloced_memory,
    spaces: Object.fromEntries(
      getHeapSpaceStatistics()
        .filter((sp) => sp.physical_space_size > 1024 * 1024)
        .map((sp) => [sp.space_name, Math.round(sp.physical_space_size / 1024 / 1024)])
    ),
    anonymous: Number(/^Anonymous:\s+(\d+) kB/m.exec(readFileSync("/proc/self/smaps_rollup", "utf8"))?.[1] ?? 0) * 1024
  }
}

let bridge: RunningBridge | undefined
process.on("message", (message: unknown) => {
  const send = (value: unknown): void => void process.send?.(value)
  if (typeof message === "object" && message !== null && "start" in message) {
    void startBridge({ ...(message as { start: object }).start, log: () => {} }).then((b) => {
      bridge = b
      send({ port: b.port })
    })
  } else if (message === "stats") {
    send(stats(bridge))
  } else if (message === "gc") {
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    gc?.()
    send(stats(bridge))
  } else if (message === "stop") {
    void (bridge?.close(0) ?? Promise.resolve()).then(() => process.exit(0))
  }
})
