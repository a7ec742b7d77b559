// Preloaded with `node --import`: records the URL of every module the process resolves,
// and which had been resolved when it opened its first TCP connection — so a test can
// assert what the `pop3` CLI loads before it connects. Written as JSON lines to the file
// named by MODULE_TRACE_OUT: {"event":"connect",…} at the first connect, {"event":"exit",…}.
import { appendFileSync } from "node:fs"
import { registerHooks } from "node:module"
import { Socket } from "node:net"

const out = process.env["MODULE_TRACE_OUT"] ?? ""
const loaded: Array<string> = []
registerHooks({
  resolve: (specifier, context, next) => {
    const resolved = next(specifier, context)
    loaded.push(resolved.url)
    return resolved
  }
})
const record = (event: string) => appendFileSync(out, `${JSON.stringify({ event, loaded })}\n`)

const connect = Socket.prototype.connect
let first = true
Socket.prototype.connect = function (this: Socket, ...args: Parameters<typeof connect>) {
  if (first) {
    first = false
    record("connect")
  }
  return connect.apply(this, args)
} as typeof connect
process.on("exit", () => record("exit"))
