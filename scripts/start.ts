// `npm start`: a real POP3 session with zero setup. Starts the dev server with the sample
// mailbox (STLS with the committed test certificate), then runs the `pop3` CLI against it
// — list, then the first message's header — with the redacted protocol trace shown, and
// leaves the server running so you can try more commands. Ctrl-C stops it.
// (When the web demo lands, this starts the demo instead.)
import { fileURLToPath } from "node:url"
import { main, processIo } from "../core/cli/main.ts"
import { listenTcp } from "../test/dev-server/tcp.ts"
import { DEMO_PASSWORD, DEMO_USER, makeSampleStore } from "../test/dev-server/sample-mailbox.ts"
import { testTls } from "../test/dev-server/tls-fixture.ts"

const caFile = fileURLToPath(new URL("../test/fixtures/tls/cert.pem", import.meta.url))
const store = makeSampleStore()
const server = await listenTcp(store, { host: "127.0.0.1", port: 0, tls: testTls })

const base = ["--host", "localhost", "--port", String(server.port), "--tls", "starttls", "--ca", caFile, "--user", DEMO_USER]
const io = { ...processIo(), env: { ...process.env, POP3_PASSWORD: DEMO_PASSWORD } }
const say = (text: string) => process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`)

say(`pop3 dev server on 127.0.0.1:${server.port} (user ${DEMO_USER}, password ${DEMO_PASSWORD}, STLS with the test certificate)`)
say("$ pop3 … --trace list        # the trace (stderr) shows every line; the password is never printed")
let status = await main([...base, "--trace", "list"], io)
if (status === 0) {
  say("$ pop3 … top 1 0             # the header of message 1")
  status = await main([...base, "top", "1", "0"], io)
}

const cmd = `POP3_PASSWORD=${DEMO_PASSWORD} npm run pop3 -- --host localhost --port ${server.port} --ca ${caFile} --user ${DEMO_USER}`
say(`The server keeps running. Try, in another terminal:\n  ${cmd} retr 1\n  ${cmd} --json uidl\nCtrl-C stops it.`)

if (process.env["POP3_START_ONCE"] === "1" || status !== 0) {
  await server.close()
  process.exit(status)
}
const stop = async () => {
  await server.close()
  process.exit(0)
}
process.once("SIGINT", stop)
process.once("SIGTERM", stop)
