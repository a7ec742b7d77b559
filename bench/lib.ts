/**
 * Shared pieces of the benchmark: child processes measured with /usr/bin/time (wall time
 * from here, peak RSS from the kernel's rusage), cleanup that also runs on Ctrl-C, small
 * statistics and table printing.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { existsSync, openSync, closeSync, readFileSync, statSync } from "node:fs"
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import { performance } from "node:perf_hooks"

// ---------------------------------------------------------------------------------------
// Cleanup

const cleanups: Array<{ readonly what: string; readonly run: () => unknown }> = []
const children = new Set<ChildProcess>()
let cleaning: Promise<void> | undefined

/** Registers a cleanup step; they run in reverse order, once. Returns an unregister function. */
export function onCleanup(what: string, run: () => unknown): () => void {
  const entry = { what, run }
  cleanups.push(entry)
  return () => {
    const i = cleanups.indexOf(entry)
    if (i >= 0) cleanups.splice(i, 1)
  }
}

/** Kills our children (each in its own process group) and runs the cleanup steps. */
export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const child of children) killGroup(child)
    while (cleanups.length > 0) {
      const { what, run } = cleanups.pop()!
      try {
        await run()
      } catch (error) {
        process.stderr.write(
          `bench: cleanup "${what}" failed: ${error instanceof Error ? error.message : String(error)}\n`
        )
      }
    }
  })())
}

/** Whether cleanup has begun (after Ctrl-C): errors from then on are expected. */
export const interrupted = (): boolean => cleaning !== undefined

/** Ctrl-C / SIGTERM: clean up, then exit 130/143. A second signal exits at once. */
export function installSignalHandlers(): void {
  let signalled = false
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129]
  ] as const) {
    process.on(signal, () => {
      if (signalled) process.exit(code)
      signalled = true
      process.stderr.write(`\nbench: ${signal}, cleaning up…\n`)
      void cleanup().finally(() => process.exit(code))
    })
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    // Children are started detached (their own process group), so this reaches their
    // descendants too (mpop's, websockify's workers) and nothing else.
    process.kill(-child.pid, "SIGKILL")
  } catch {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------
// Child processes

export interface RunSpec {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
  /**
   * Where stdout goes: discarded (/dev/null, the default), collected, counted through a pipe,
   * or written to `stdoutFile` (a file, as /dev/null is, but its size is known afterwards).
   */
  readonly stdout?: "null" | "collect" | "count" | "file"
  readonly stdoutFile?: string
  /** Kill after this long. */
  readonly timeoutMs?: number
}

export interface RunResult {
  readonly code: number | null
  readonly signal: string | null
  readonly seconds: number
  /** Peak resident set size of the measured process in KiB (from /usr/bin/time), if known. */
  readonly maxRssKiB: number | undefined
  /** CPU time of the process and its children (user + system, from /usr/bin/time), if known. */
  readonly cpuSeconds: number | undefined
  /**
   * CPU time the whole machine was busy during the run, every core and process together
   * (Dovecot, a relay, the kernel, the client): from /proc/stat, if readable.
   */
  readonly machineCpuSeconds: number | undefined
  readonly stdout: string
  readonly stdoutBytes: number
  readonly stderr: string
  readonly timedOut: boolean
}

const TIME = "/usr/bin/time"
export const haveTime = existsSync(TIME)

const fileSize = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** Runs a command under /usr/bin/time, timing it from spawn to exit. */
/** Busy CPU time of the machine so far, in seconds (all cores; /proc/stat's ticks are USER_HZ, 100 on Linux). */
export function machineBusySeconds(): number | undefined {
  try {
    const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal …: all but idle and iowait were work.
    const busy = ticks.reduce((a, b) => a + b, 0) - (ticks[3] ?? 0) - (ticks[4] ?? 0)
    return Number.isFinite(busy) ? busy / 100 : undefined
  } catch {
    return undefined
  }
}

export function runMeasured(spec: RunSpec, rssFile: string): Promise<RunResult> {
  const [command, args] = haveTime
    ? [TIME, ["-f", "%U %S %M", "-o", rssFile, spec.command, ...spec.args]]
    : [spec.command, [...spec.args]]
  // After Ctrl-C nothing new may start: a detached child started now would outlive us.
  if (cleaning !== undefined) return Promise.reject(new Error("interrupted"))
  const devNull =
    spec.stdout === "file"
      ? openSync(spec.stdoutFile ?? "/dev/null", "w")
      : spec.stdout === undefined || spec.stdout === "null"
        ? openSync("/dev/null", "w")
        : undefined
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const busyBefore = machineBusySeconds()
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ["ignore", devNull ?? "pipe", "pipe"],
      detached: true
    })
    children.add(child)
    if (devNull !== undefined) closeSync(devNull)
    const out: Array<Buffer> = []
    let outBytes = 0
    let err = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      outBytes += chunk.length
      if (spec.stdout === "collect") out.push(chunk)
    })
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      err = (err + chunk).slice(-20_000)
    })
    let timedOut = false
    const timer =
      spec.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            killGroup(child)
          }, spec.timeoutMs)
    child.once("error", (error) => {
      children.delete(child)
      if (timer !== undefined) clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code, signal) => {
      const seconds = (performance.now() - started) / 1000
      const busyAfter = machineBusySeconds()
      children.delete(child)
      if (timer !== undefined) clearTimeout(timer)
      let maxRssKiB: number | undefined
      let cpuSeconds: number | undefined
      let stderr = err
      if (haveTime) {
        try {
          // GNU time writes "Command exited with non-zero status N" before the format line.
          const lines = readFileSync(rssFile, "utf8").trim().split("\n")
          const [user, system, rss] = (lines.at(-1) ?? "").split(" ").map(Number)
          if (rss !== undefined && Number.isFinite(rss) && rss > 0) maxRssKiB = rss
          if (user !== undefined && system !== undefined && Number.isFinite(user + system)) cpuSeconds = user + system
          if (lines.length > 1) stderr += lines.slice(0, -1).join("\n")
        } catch {
          // the process was killed before time could write
        }
      }
      resolve({
        code,
        signal,
        seconds,
        maxRssKiB,
        cpuSeconds,
        machineCpuSeconds: busyBefore === undefined || busyAfter === undefined ? undefined : busyAfter - busyBefore,
        stdout: Buffer.concat(out).toString("utf8"),
        stdoutBytes: spec.stdout === "file" && spec.stdoutFile !== undefined ? fileSize(spec.stdoutFile) : outBytes,
        stderr,
        timedOut
      })
    })
  })
}

/** Starts a long-running helper (websockify), detached in its own group, killed on cleanup. */
export function startDaemon(command: string, args: ReadonlyArray<string>): ChildProcess {
  if (cleaning !== undefined) throw new Error("interrupted")
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], detached: true })
  children.add(child)
  child.once("close", () => children.delete(child))
  child.once("error", () => children.delete(child))
  return child
}

export function stopDaemon(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("close", () => resolve())
    killGroup(child)
  })
}

// ---------------------------------------------------------------------------------------
// Files

/** How many regular files a Maildir holds in new/ and cur/. */
export async function countMaildir(dir: string): Promise<number> {
  let n = 0
  for (const sub of ["new", "cur"]) {
    try {
      n += (await readdir(join(dir, sub))).length
    } catch {
      // missing subdirectory: nothing stored there
    }
  }
  return n
}

// ---------------------------------------------------------------------------------------
// Statistics and tables

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const fmtSeconds = (s: number): string => (s >= 100 ? s.toFixed(1) : s >= 10 ? s.toFixed(2) : s.toFixed(3))

export const fmtRatio = (r: number): string => (r >= 10 ? r.toFixed(1) : r.toFixed(2)) + "×"

export const fmtMiB = (kib: number | undefined): string => (kib === undefined ? "?" : `${(kib / 1024).toFixed(0)} MiB`)

export interface Table {
  readonly title: string
  readonly notes: ReadonlyArray<string>
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

/** Right-aligns columns that look numeric. */
export function renderText(table: Table): string {
  const all = [table.header, ...table.rows]
  const widths = table.header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)))
  const numeric = table.header.map(
    (_, c) => table.rows.every((r) => /^[\d.,–×\s?-]*$|^n\/a|^FAILED/.test(r[c] ?? "")) && c > 0
  )
  const line = (r: ReadonlyArray<string>) =>
    r
      .map((cell, c) =>
        numeric[c] && !/^n\/a|^FAILED/.test(cell) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)
      )
      .join("  ")
      .trimEnd()
  const rule = widths.map((w) => "-".repeat(w)).join("  ")
  return [
    `== ${table.title}`,
    line(table.header),
    rule,
    ...table.rows.map(line),
    ...table.notes.map((n) => `  * ${n}`)
  ].join("\n")
}

export function renderMarkdown(table: Table): string {
  const esc = (s: string) => s.replace(/([|*_])/g, "\\$1")
  const align = table.header.map((_, c) => (c === 0 || c === table.header.length - 1 ? "---" : "---:"))
  return [
    `#### ${table.title}`,
    "",
    `| ${table.header.map(esc).join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...table.rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
    ...(table.notes.length > 0 ? ["", ...table.notes.map((n) => `- ${n}`)] : [])
  ].join("\n")
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
