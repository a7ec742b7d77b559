/**
 * Which of V8's optimizing compilers the CLI runs, by command: `pop3 retr` and `top`
 * without Maglev (the tier between the baseline code and TurboFan), `pop3 fetch` without
 * TurboFan, the other commands with both (V8's default). A process-wide choice, so the
 * CLI's alone: the library leaves its host's V8 as it is. Only on Node: Deno and Bun run
 * `bin.ts` too.
 *
 * `retr`, `top`: less memory. Measured on `pop3 retr` of a 200 MB message (2026-12-05,
 * Node 24, runs alternating): Maglev's compile jobs, started together once the read loop
 * gets hot, hold up to ~15 MiB of compiler memory at once on V8's worker threads
 * (heaptrack: V8 zones under `maglev::MaglevCompiler::Compile`), and glibc keeps it in
 * those threads' arenas afterwards (malloc_stats at 4 s into a 1 GB RETR: 11.8 MB held,
 * 0.2 MB in use). That put the peak 6–20 MiB over an idle process, varying from run to
 * run, over TLS more than over plain TCP; without Maglev 5–8 MiB, within 1 MiB from run to
 * run, at the same MB/s (TurboFan still optimizes the hot read loop). The read buffers
 * were not it (core/transport/node.ts).
 *
 * `fetch`: less CPU per message. A fetch runs much more distinct code per message than a
 * read loop (engine, pipeline, sync engine, Maildir), and TurboFan's compile jobs on the
 * worker threads took 180–320 ms of CPU in a 10,000-message fetch (perf: most of the
 * worker threads' samples in `compiler::`), beside the main thread and the server on a
 * 2-core machine. Maglev alone, 300 → 10,000 messages over STLS, alternating (2026-12-05):
 * per-message wall slope 60.8 against 70.1 µs, 60.8 against 66.0 and 87.6 against 94.8
 * (7, 15 and 15 rounds), CPU 57.7 against 67.0 and 82.5 against 93.8; a mailbox with a
 * 100 MB message the same (0.86 against 0.86 s, 9 rounds; 7 % slower before the large
 * message's path lost its per-chunk copies and allocations). Maglev and TurboFan together
 * (V8's default) were no better than TurboFan alone (64.9 against 69.1, 71.1 against 72.2).
 *
 * The other commands keep both: Maglev speeds up short runs, whose hot code is the
 * start-up's — `pop3 stat` took 0.24 s of CPU with it and 0.28 s without (8 runs
 * alternating, 2026-12-05).
 *
 * Flags are set once, before main loads, and never changed back. Node's IPv6-address
 * pattern used to be compiled at once by turning `--regexp-tier-up` off and on again around
 * one `isIP` (~8 ms off each command connecting by name): with the compile cache on, that
 * pair of runtime flag changes crashed `pop3 fetch` with SIGSEGV about once in 400 runs of
 * 8 processes sharing a fresh cache (fresh-clone CI saw it once). Without the toggle, 0 in
 * 1,600; without the cache, 0 in 800 (2026-12-05). Node's docs warn that flags changed
 * after start may crash the process; this one did.
 *
 * @module
 */
import { setFlagsFromString } from "node:v8"

/**
 * The V8 flag the CLI sets for `command`, if any (see the module comment).
 * @category entry
 */
export const compilerFlag = (command: string): "--no-maglev" | "--no-turbofan" | undefined =>
  command === "retr" || command === "top" ? "--no-maglev" : command === "fetch" ? "--no-turbofan" : undefined

/**
 * Sets `command`'s compiler flag for the rest of the process; called first thing, before
 * any code is hot.
 * @category entry
 */
export const chooseCompilers = (command: string): void => {
  const flag = compilerFlag(command)
  if (flag === undefined || "Deno" in globalThis || "Bun" in globalThis) return
  setFlagsFromString(flag)
}
