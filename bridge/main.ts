#!/usr/bin/env node
/**
 * `pop3-bridge`: run the WebSocket↔TCP bridge from the command line.
 * Exit codes: 0 after a clean shutdown, 1 on a second signal or startup failure, 2 on bad
 * arguments. Logs are JSON lines on stdout; problems with the arguments go to stderr.
 */
import type { CliRequest } from "./config.ts"
import { parseCommandLine, usage } from "./config.ts"
import { startBridge } from "./server.ts"

const log = (entry: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...entry }) + "\n")
}

const main = async (): Promise<void> => {
  let request: CliRequest
  try {
    request = await parseCommandLine(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`pop3-bridge: ${(error as Error).message}\n\n${usage()}\n`)
    process.exit(2)
  }
  if (request.help) {
    process.stdout.write(usage() + "\n")
    return
  }
  const { options } = request
  const bridge = await startBridge(options)
  log({ event: "listening", url: bridge.url, allow: options.allow ?? [], allowOrigin: options.allowOrigin ?? [] })
  // Say out loud what the safe defaults mean, so a silent misconfiguration is not a mystery.
  if ((options.allow ?? []).length === 0) log({ event: "warning", message: "no --allow: every target is refused" })
  if ((options.allowOrigin ?? []).length === 0) {
    log({ event: "warning", message: "no --allow-origin: browsers are refused (HTTP 403)" })
  }
  if (options.tls === undefined && !/^(127\.|localhost|\[::1\])/.test(options.listen ?? "127.")) {
    log({ event: "warning", message: "serving plain ws: on a network, use --cert/--key or a TLS proxy" })
  }

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      log({ event: "exit", message: `second ${signal}: exiting now` })
      process.exit(1)
    }
    stopping = true
    log({ event: "draining", signal, sessions: bridge.metrics.sessionsActive })
    void bridge.close().then(() => {
      log({ event: "stopped" })
      process.exit(0)
    })
  }
  process.on("SIGTERM", () => stop("SIGTERM"))
  process.on("SIGINT", () => stop("SIGINT"))
}

main().catch((error: unknown) => {
  process.stderr.write(`pop3-bridge: ${(error as Error).message ?? String(error)}\n`)
  process.exit(1)
})
