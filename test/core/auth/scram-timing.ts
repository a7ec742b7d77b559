// Not a test (vitest only runs *.test.ts): how long one SCRAM-SHA-256 login's PBKDF2 takes,
// 4096 iterations as in RFC 7677's example and Dovecot's default.
//
//   node test/core/auth/scram-timing.ts [login|login-noble|noble|noble-async|webcrypto] [runs]
//
// login: the client's step on the server-first message (PBKDF2 and a few HMACs), call to
// answer, as scramClient does it by default; login-noble: the same on the @noble/hashes
// fallback (subtle: null). The others time PBKDF2 alone by one route.
// "cold" is the first call in a fresh process — what a CLI run or a fresh Worker pays, as
// the JIT has not warmed up yet — so run each mode in its own process.
import { pbkdf2, pbkdf2Async } from "@noble/hashes/pbkdf2.js"
import { sha256 } from "@noble/hashes/sha2.js"
import * as Effect from "effect/Effect"
import { scramClient } from "../../../core/auth/scram.ts"

const encoder = new TextEncoder()
const NONCE = "rOprNGfwEbeRWgbNEkqO"
const SERVER_FIRST = encoder.encode(
  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
const CLIENT_FINAL =
  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
const SALT = Uint8Array.from(atob("W22ZaJ0SNY7soEsUEjb6gQ=="), (c) => c.charCodeAt(0))
const PASSWORD = encoder.encode("pencil")

/** A step's answer, whether the step returned bytes, a Promise or an Effect. */
const settle = async (x: unknown): Promise<Uint8Array> =>
  Effect.isEffect(x)
    ? await Effect.runPromise(x as Effect.Effect<Uint8Array, unknown>)
    : await (x as Uint8Array | Promise<Uint8Array>)

const login = (options?: Parameters<typeof scramClient>[4]) => async () => {
  const client =
    options === undefined
      ? scramClient(sha256, "user", "pencil", NONCE)
      : scramClient(sha256, "user", "pencil", NONCE, options)
  client.initial()
  const answer = new TextDecoder().decode(await settle(client.step(SERVER_FIRST)))
  if (answer !== CLIENT_FINAL) throw new Error(`wrong client-final message: ${answer}`)
}

const modes: Record<string, () => Promise<unknown>> = {
  login: login(),
  "login-noble": login({ subtle: null }),
  noble: async () => pbkdf2(sha256, PASSWORD, SALT, { c: 4096, dkLen: 32 }),
  "noble-async": () => pbkdf2Async(sha256, PASSWORD, SALT, { c: 4096, dkLen: 32 }),
  webcrypto: async () => {
    const key = await crypto.subtle.importKey("raw", PASSWORD, "PBKDF2", false, ["deriveBits"])
    return crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: SALT, iterations: 4096 }, key, 256)
  }
}

const mode = process.argv[2] ?? "login"
const run = modes[mode]
if (run === undefined) throw new Error(`unknown mode ${mode}; one of ${Object.keys(modes).join(", ")}`)
const timed = async () => {
  const t0 = performance.now()
  await run()
  return performance.now() - t0
}

const cold = await timed()
for (let i = 0; i < 5; i++) await timed()
const runs: Array<number> = []
for (let i = 0; i < Number(process.argv[3] ?? 40); i++) runs.push(await timed())
runs.sort((a, b) => a - b)
const at = (q: number) => runs[Math.min(runs.length - 1, Math.floor(q * runs.length))]!.toFixed(2)
console.log(
  `${mode.padEnd(11)} i=4096: cold ${cold.toFixed(2)} ms; warm (n=${runs.length}) min ${at(0)}, median ${at(0.5)}, p90 ${at(0.9)} ms`
)
