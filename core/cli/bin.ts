#!/usr/bin/env node
// The `pop3` executable. Kept to these lines so Node (type stripping), Deno and Bun can
// all run it as it is. The compile cache (Node ≥ 22.1) turns the ~0.5 s of loading and
// type-stripping ~200 modules into ~0.4 s on later starts; main is imported after it is on.
import * as NodeModule from "node:module"

;(NodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.()
const { main, processIo } = await import("./main.ts")
process.exitCode = await main(process.argv.slice(2), processIo())
