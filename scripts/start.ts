// `npm start`: the web demo with zero setup. One process runs the dev POP3 server with the
// sample mailbox, a pop3-bridge that allows only that server, and Vite serving web-demo/;
// the connect form is prefilled, so "Connect" just works. Ctrl-C stops everything.
//
// POP3_START_ONCE=1 starts the stack, checks a real session through the bridge, and exits
// (a smoke test for fresh machines and CI).
import { Effect } from "effect"
import * as Pop3 from "../core/index.ts"
import * as WebSocketTransport from "../core/transport/websocket.ts"
import { DEMO_PASSWORD, DEMO_USER } from "../dev-server/sample-mailbox.ts"
import { startStack } from "./stack.ts"

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text)

const stack = await startStack({ quiet: true })
const { devServer } = stack
process.stdout.write(
  [
    "",
    `  ${bold("pop3 web demo")}   ${bold(stack.url)}`,
    "",
    `  dev POP3 server   localhost:${devServer.tlsPort} (implicit TLS) and localhost:${devServer.port} (STLS),`,
    `                    user ${DEMO_USER}, password ${DEMO_PASSWORD}, test certificate`,
    `  pop3-bridge       ${stack.bridgeUrl} (allows only the dev server)`,
    "",
    "  Open the URL and press Connect. The same server works from the CLI:",
    `    POP3_PASSWORD=${DEMO_PASSWORD} npm run pop3 -- --host localhost --port ${devServer.port} \\`,
    `      --ca test/fixtures/tls/ca.pem --user ${DEMO_USER} --trace list`,
    "",
    "  Ctrl-C stops everything.",
    ""
  ].join("\n") + "\n"
)

let stopping = false
const stop = async (code: number) => {
  if (stopping) return
  stopping = true
  await stack.close()
  process.exit(code)
}
process.once("SIGINT", () => void stop(0))
process.once("SIGTERM", () => void stop(0))

if (process.env["POP3_START_ONCE"] === "1") {
  // What the browser does, from Node: through the bridge, implicit TLS to the dev server.
  const check = Effect.gen(function* () {
    const session = yield* Pop3.connect({ host: "localhost", port: devServer.tlsPort, tls: "implicit" })
    const mailbox = yield* session.login({ user: DEMO_USER, password: DEMO_PASSWORD })
    return yield* mailbox.stat
  }).pipe(Effect.scoped, Effect.provide(WebSocketTransport.layerGlobal(stack.bridgeUrl)))
  const page = await fetch(stack.url).then(
    (r) => r.status,
    (e: unknown) => String(e)
  )
  const result = await Effect.runPromise(Effect.result(check))
  const ok = page === 200 && result._tag === "Success"
  process.stdout.write(
    `  check: demo page ${page}; through the bridge: ${
      result._tag === "Success" ? `${result.success.count} messages` : String(result.failure)
    }\n`
  )
  await stop(ok ? 0 : 1)
}
