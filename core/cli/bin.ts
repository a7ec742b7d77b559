#!/usr/bin/env node
// The `pop3` executable. Kept to these lines so Node (type stripping), Deno and Bun can
// all run it as it is. The compile cache (Node ≥ 22.1) turns the ~0.5 s of loading and
// type-stripping ~200 modules into ~0.4 s on later starts; main is imported after it is on,
// and not at all for a bare `--version`.
import { readFileSync } from "node:fs"
import * as NodeModule from "node:module"

;(NodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.()
const argv = process.argv.slice(2)
const readable = (path: string): boolean => {
  try {
    readFileSync(path)
    return true
  } catch {
    return false
  }
}
if (argv.length === 1 && argv[0] === "--version") {
  // Nothing else to load for this one (start-up is what it is measured by).
  const { VERSION } = await import("./version.ts")
  process.stdout.write(VERSION + "\n")
} else {
  // Connect first, load second (pop3-everywhere/node-preconnect): the connect and the
  // server's greeting travel while the client's code loads (~50 ms). For TCP only on Node,
  // whose transport adopts the connection, and only for STLS; through a bridge, the
  // WebSocket. Only for a command line main will run (an --auth it refuses aside: checking
  // that would load every mechanism first; that connection then just closes).
  const [{ parseArgv, passwordMissing }, { preconnect }, { chooseCompilers }] = await Promise.all([
    import("./argv.ts"),
    import("../transport/node-preconnect.ts"),
    import("./compiler-memory.ts")
  ])
  const parsed = parseArgv(argv, undefined)
  if (parsed._tag === "Run") {
    const { options } = parsed
    // V8's compilers by command: retr and top without Maglev (less memory while a body
    // streams), fetch without TurboFan (less CPU per message); see compiler-memory.ts.
    chooseCompilers(options.command.name)
    // As main refuses to run without the password or with a --ca it cannot read.
    const runs = !passwordMissing(options, process.env) && (options.ca === undefined || readable(options.ca))
    if (runs && options.bridge === undefined && options.tls === "starttls") {
      // Awaited: Node issues the connect from the event loop, which loading main would hold up.
      await preconnect(options.host, options.port)
    } else if (runs && options.bridge !== undefined) {
      // Through a bridge, the WebSocket (pop3-everywhere/node-websocket-preconnect: `ws`
      // without Effect; main's transport for --bridge on every runtime adopts it): the
      // upgrade, the bridge's connection to the server and the greeting travel while main loads.
      const [{ firstBridgeConnection }, webSocket] = await Promise.all([
        import("./bridge-url.ts"),
        import("../transport/node-websocket-preconnect.ts")
      ])
      const first = firstBridgeConnection(options, process.env)
      if (first !== undefined)
        await webSocket.preconnect(webSocket.connectionUrl(first.bridge, { endToEnd: first.endToEnd }, first.target))
    }
  }
  const { main, processIo } = await import("./main.ts")
  const status = await main(argv, processIo())
  // main returns once all it started has ended: the connection closed, every file synced,
  // every stdout write done (each is awaited). Leaving through exit() rather than an empty
  // event loop skips tearing down the heap and the loop: ~20 ms after a fetch. stderr's
  // lines are not awaited one by one, so they are flushed first.
  process.stderr.write("", () => process.exit(status))
}
