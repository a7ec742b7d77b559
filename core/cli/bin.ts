#!/usr/bin/env node
// The `pop3` executable. Kept to these lines so Node (type stripping), Deno and Bun can
// all run it as it is.
import { main, processIo } from "./main.ts"

process.exitCode = await main(process.argv.slice(2), processIo())
