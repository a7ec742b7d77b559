/**
 * A Worker that runs the POP3 client with the Cloudflare transport inside workerd, for
 * test/interop/workers.test.ts. POST a `Scenario` as JSON; the answer is what the client
 * saw, as JSON, so the Node side can compare it with Dovecot's seeded mail. Bundled by
 * test/workers/bundle.ts; `cloudflare:sockets` stays external (the runtime provides it).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Pop3 from "../../core/index.ts"
import type { TraceEvent } from "../../core/index.ts"
import * as CloudflareTransport from "../../core/transport/cloudflare.ts"

/** What to run. `connectOnly`: connect (and STLS) only, for the failure cases. */
export interface Scenario {
  readonly host: string
  readonly port: number
  readonly tls: "implicit" | "starttls" | "none"
  readonly user: string
  readonly password: string
  readonly connectOnly?: boolean
  readonly servername?: string
  readonly ca?: string
  readonly insecure?: boolean
  readonly timeout?: number
}

/** The full session, as seen by the client inside the Worker. Bytes are base64. */
export interface ScenarioResult {
  readonly secure: boolean
  readonly greeting: string
  /** CAPA as the session saw it before login (after STLS, the re-read one). */
  readonly capabilities: ReadonlyArray<string>
  /** Sent lines (redacted) and TlsEstablished, in order. */
  readonly trace: ReadonlyArray<string>
  readonly stat: { readonly count: number; readonly size: number }
  readonly list: ReadonlyArray<{ readonly msg: number; readonly size: number }>
  readonly uidl: ReadonlyArray<{ readonly msg: number; readonly uid: string }>
  readonly top: string
  readonly retr: ReadonlyArray<string>
  readonly afterDele: { readonly count: number; readonly size: number }
  readonly afterRset: { readonly count: number; readonly size: number }
  /** STAT of a second session after the first QUIT: RSET must have kept every message. */
  readonly afterQuit: { readonly count: number; readonly size: number }
}

export type ScenarioAnswer =
  | {
      readonly ok: true
      readonly result: ScenarioResult | { readonly secure: boolean; readonly capabilities: ReadonlyArray<string> }
    }
  | {
      readonly ok: false
      readonly error: { readonly tag: string; readonly message: string }
      readonly trace: ReadonlyArray<string>
    }

// Chunked, so a 5 MB message does not make one huge argument list.
const base64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

const run = async (scenario: Scenario): Promise<ScenarioAnswer> => {
  const trace: Array<string> = []
  const tracer = (event: TraceEvent) => {
    if (event._tag === "Sent") trace.push(event.line)
    else if (event._tag === "TlsEstablished") trace.push("TlsEstablished")
  }
  const options: Pop3.ConnectOptions = {
    host: scenario.host,
    port: scenario.port,
    tls: scenario.tls,
    timeout: scenario.timeout ?? 10_000,
    trace: tracer,
    ...(scenario.servername !== undefined ? { servername: scenario.servername } : {}),
    ...(scenario.ca !== undefined ? { ca: scenario.ca } : {}),
    ...(scenario.insecure !== undefined ? { insecure: scenario.insecure } : {})
  }
  const session = Effect.gen(function* () {
    const auth = yield* Pop3.connect(options)
    const capabilities = auth.capabilities().lines
    if (scenario.connectOnly === true) return { secure: auth.secure, capabilities }
    const mailbox = yield* auth.login({
      user: scenario.user,
      password: scenario.password,
      allowPlaintext: scenario.tls === "none"
    })
    const stat = yield* mailbox.stat
    const list = yield* mailbox.list
    const uidl = yield* mailbox.uidl
    const top = yield* Pop3.collect(mailbox.top(2, 3))
    const retr: Array<string> = []
    for (let n = 1; n <= stat.count; n++) retr.push(base64(yield* Pop3.collect(mailbox.retr(n))))
    yield* mailbox.dele(1)
    const afterDele = yield* mailbox.stat
    yield* mailbox.rset
    const afterRset = yield* mailbox.stat
    yield* mailbox.quit
    return {
      secure: auth.secure,
      greeting: auth.greeting.text,
      capabilities,
      stat,
      list,
      uidl,
      top: base64(top),
      retr,
      afterDele,
      afterRset
    }
  }).pipe(Effect.scoped)
  const second = Effect.gen(function* () {
    const auth = yield* Pop3.connect({ ...options, trace: undefined })
    const mailbox = yield* auth.login({
      user: scenario.user,
      password: scenario.password,
      allowPlaintext: scenario.tls === "none"
    })
    return yield* mailbox.stat
  }).pipe(Effect.scoped)

  const exit = await Effect.runPromiseExit(
    Effect.gen(function* () {
      const first = yield* session
      if (!("stat" in first)) return first
      return { ...first, trace, afterQuit: yield* second }
    }).pipe(Effect.provide(CloudflareTransport.layer))
  )
  if (Exit.isSuccess(exit)) return { ok: true, result: exit.value }
  const error = exit.cause.reasons.find(Cause.isFailReason)?.error
  return error === undefined
    ? { ok: false, error: { tag: "Defect", message: Cause.pretty(exit.cause) }, trace }
    : { ok: false, error: { tag: error._tag, message: error.message }, trace }
}

export default {
  async fetch(request: Request): Promise<Response> {
    const scenario = (await request.json()) as Scenario
    return Response.json(await run(scenario))
  }
}
