// `npm run dev-server -- [--host 127.0.0.1] [--port 1110] [--tls-port 1995]`
// Serves the sample mailbox (demo / demo) and the generated one of 100,000 messages
// (big / big, big-mailbox.ts): plain POP3 with STLS on --port and, when
// --tls-port is given, implicit TLS there — both with the committed test certificate.
// Both listeners share one store, so the mailbox lock and deletions span them.

import { parseArgs } from "node:util"
import { BIG_COUNT, BIG_PASSWORD, BIG_USER, bigMailbox } from "./big-mailbox.ts"
import { DEMO_PASSWORD, DEMO_USER, sampleMailbox } from "./sample-mailbox.ts"
import { makeMailStore } from "./store.ts"
import type { TcpListener } from "./tcp.ts"
import { listenTcp } from "./tcp.ts"
import { testTls } from "./tls-fixture.ts"

const usage = "usage: node dev-server/main.ts [--host 127.0.0.1] [--port 1110] [--tls-port <port>]"

function port(value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!/^[0-9]+$/.test(value) || n > 65535) {
    console.error(`invalid port ${JSON.stringify(value)}\n${usage}`)
    process.exit(2)
  }
  return n
}

let args
try {
  args = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "tls-port": { type: "string" },
      help: { type: "boolean", short: "h" }
    }
  }).values
} catch (e) {
  console.error(`${e instanceof Error ? e.message : String(e)}\n${usage}`)
  process.exit(2)
}
if (args.help) {
  console.log(usage)
  process.exit(0)
}

const host = args.host
const store = makeMailStore({ ...sampleMailbox(), ...bigMailbox() })
const listeners: TcpListener[] = []
const credentials = `user ${DEMO_USER} password ${DEMO_PASSWORD}`
// A literal IPv6 address needs brackets in a URL.
const urlHost = host.includes(":") ? `[${host}]` : host

try {
  const plain = await listenTcp(store, { host, port: port(args.port, 1110), tls: testTls })
  listeners.push(plain)
  console.log(`pop3 dev server: pop3://${urlHost}:${plain.port} (STLS with the test certificate) ${credentials}`)
  const tlsPort = port(args["tls-port"], undefined)
  if (tlsPort !== undefined) {
    const secure = await listenTcp(store, { host, port: tlsPort, tls: testTls, implicitTls: true })
    listeners.push(secure)
    console.log(`pop3 dev server: pop3s://${urlHost}:${secure.port} (implicit TLS, test certificate) ${credentials}`)
  }
  console.log(
    `pop3 dev server: also user ${BIG_USER} password ${BIG_PASSWORD}, a generated mailbox of ${BIG_COUNT} messages`
  )
} catch (e) {
  console.error(`pop3 dev server: cannot listen: ${e instanceof Error ? e.message : String(e)}`)
  await Promise.all(listeners.map((l) => l.close()))
  process.exit(1)
}

let stopping = false
async function stop(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  console.log(`pop3 dev server: ${signal}, stopping`)
  await Promise.all(listeners.map((l) => l.close()))
  process.exit(0)
}
process.on("SIGINT", () => void stop("SIGINT"))
process.on("SIGTERM", () => void stop("SIGTERM"))
