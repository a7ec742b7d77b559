// Flow control of the automatic transport, for test/interop/runtimes.test.ts to run on
// Node, Deno and Bun against a server in the parent (argv: its port, the sizes).
//
// Reading: after one pull the client stops pulling until the parent answers its request to
// the control port (so the parent samples while the client is certainly not pulling); the
// parent checks that its server could not push much more than the kernel buffers hold (the
// socket was paused, not drained into memory). Then the client reads the rest and checks
// every byte.
// Writing: one write far larger than the kernel buffers while the server does not read;
// it must resolve only after every byte went out, in order (partial writes and `drain`).
//
// Runtime-neutral: web-standard APIs and `process.argv` only. One JSON line per step.
import * as Effect from "effect/Effect"
import { layer } from "../../core/transport/auto.ts"
import { Transport } from "../../core/transport/transport.ts"
import { firstWrong, pattern } from "./pattern.ts"

const emit = (line: object): void => console.log(JSON.stringify(line))

const main = (port: number, readBytes: number, writeBytes: number, controlPort: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const transport = yield* Transport
      const socket = yield* transport.open({
        host: "127.0.0.1",
        port,
        tls: "none",
        servername: "127.0.0.1",
        ca: undefined,
        insecure: false,
        connectTimeoutMillis: 5_000
      })
      const reader = yield* socket.reader
      const writer = yield* socket.writer

      let received = 0
      let firstBad: number | undefined
      const check = (chunk: Uint8Array | string) => {
        if (typeof chunk === "string") throw new Error("a TCP socket gave a string")
        firstBad ??= firstWrong(chunk, received)
        received += chunk.length
      }
      for (const chunk of yield* reader.pull) check(chunk)
      emit({ step: "paused", received })
      yield* Effect.promise(() => fetch(`http://127.0.0.1:${controlPort}/resume`).then((response) => response.text()))
      emit({ step: "resumed" })
      while (received < readBytes) for (const chunk of yield* reader.pull) check(chunk)
      emit({ step: "read", received, firstBad: firstBad ?? null })

      const started = performance.now()
      yield* writer.write(pattern(0, writeBytes))
      emit({ step: "wrote", bytes: writeBytes, ms: Math.round(performance.now() - started) })
      // The parent closes once it has every byte: the end of the stream is the proof it did.
      const closed = yield* Effect.flip(Effect.forever(reader.pull))
      emit({ step: "closed", reason: closed.reason._tag })
    })
  )

const args = (globalThis as { process?: { argv: ReadonlyArray<string> } }).process?.argv.slice(2) ?? []
const [port, readBytes, writeBytes, controlPort] = args.map(Number)
if (port === undefined || readBytes === undefined || writeBytes === undefined || controlPort === undefined) {
  throw new Error("usage: backpressure.ts PORT READ_BYTES WRITE_BYTES CONTROL_PORT")
}
await Effect.runPromise(main(port, readBytes, writeBytes, controlPort).pipe(Effect.provide(layer)))
