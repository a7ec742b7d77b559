#!/usr/bin/env node
// The `pop3` executable. Kept to these lines so Node (type stripping), Deno and Bun can
// all run it as it is. The compile cache (Node ≥ 22.1) turns the ~0.5 s of loading and
// type-stripping ~200 modules into ~0.4 s on later starts; main is imported after it is on,
// and not at all for a bare `--version`.
import * as NodeModule from "node:module"

;(NodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.()
const argv = process.argv.slice(2)
if (argv.length === 1 && argv[0] === "--version") {
  // Nothing else to load for this one (start-up is what it is measured by).
  const { VERSION } = await import("./version.ts")
  process.stdout.write(VERSION + "\n")
} else {
  const { main, processIo } = await import("./main.ts")
  const status = await main(argv, processIo())
  // main returns once all it started has ended: the connection closed, every file synced,
  // every stdout write done (each is awaited). Leaving through exit() rather than an empty
  // event loop skips tearing down the heap and the loop: ~20 ms after a fetch. stderr's
  // lines are not awaited one by one, so they are flushed first.
  process.stderr.write("", () => process.exit(status))
}
