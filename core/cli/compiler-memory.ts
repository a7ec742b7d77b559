/**
 * `pop3 retr`, `top` and `fetch` run without V8's Maglev compiler (the tier between the
 * baseline code and TurboFan). Measured on `pop3 retr` of a 200 MB message (2026-12-05, Node 24, runs
 * alternating): Maglev's compile jobs, started together once the read loop gets hot, hold
 * up to ~15 MiB of compiler memory at once on V8's worker threads (heaptrack: V8 zones
 * under `maglev::MaglevCompiler::Compile`), and glibc keeps it in those threads' arenas
 * afterwards (malloc_stats at 4 s into a 1 GB RETR: 11.8 MB held, 0.2 MB in use). That put
 * the peak 6–20 MiB over an idle process, varying from run to run, over TLS more than over
 * plain TCP; without Maglev 5–8 MiB, within 1 MiB from run to run, at the same MB/s
 * (TurboFan still optimizes the hot code; the CPU time of the TLS runs was 0–14% higher,
 * median, on a shared 2-core machine). The read buffers were not it (core/transport/node.ts).
 *
 * A process-wide choice, so the CLI's alone: the library leaves its host's V8 as it is.
 * Only on Node: Deno and Bun run `bin.ts` too. Only for the commands that move message
 * bodies (`movesBodies`): Maglev speeds up short runs, whose hot code is the start-up's —
 * `pop3 stat` took 0.24 s of CPU with it and 0.28 s without (8 runs alternating,
 * 2026-12-05), while a 10,000-message fetch's per-message slope was the same either way.
 *
 * @module
 */
import { setFlagsFromString } from "node:v8"

/**
 * Turns Maglev off for the rest of the process; called first thing, before any code is hot.
 * @category entry
 */
export const withoutMaglev = (): void => {
  if ("Deno" in globalThis || "Bun" in globalThis) return
  setFlagsFromString("--no-maglev")
}

/**
 * The commands whose bodies stream through the process (RETR, TOP, and fetch's downloads):
 * those where the compile memory shows beside the read loop.
 * @category entry
 */
export const movesBodies = (command: string): boolean => command === "retr" || command === "top" || command === "fetch"
