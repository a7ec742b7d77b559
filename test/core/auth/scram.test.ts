// SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677): the RFCs' test vectors, and every
// way a server can fail to prove itself or try to hurt the client; PBKDF2 on WebCrypto and
// on the @noble/hashes fallback (no crypto.subtle, or one that refuses). Runs in Chromium too.

import { pbkdf2 } from "@noble/hashes/pbkdf2.js"
import { sha1 } from "@noble/hashes/legacy.js"
import { sha256 } from "@noble/hashes/sha2.js"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { afterEach, describe, expect, it, vi } from "vitest"
import { SaslFailure, type SaslClient, saslStep } from "../../../core/auth/sasl.ts"
import { type Pbkdf2Subtle, scramClient, scramSha1, scramSha256 } from "../../../core/auth/scram.ts"
import { AuthError } from "../../../core/errors.ts"
import type { Command } from "../../../core/protocol/command.ts"
import { authenticate, b64, fakeExchange, failureOf, successOf, unb64 } from "./fake-exchange.ts"

const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** The client's answer to a challenge (a step is an Effect now), as text. */
const answer = async (client: SaslClient, challenge: string): Promise<string> =>
  text(successOf(await Effect.runPromiseExit(saslStep(client, utf8(challenge)))))

/** The SaslFailure a step refuses the challenge with (fails the test otherwise). */
const refusal = async (client: SaslClient, challenge: string): Promise<SaslFailure> => {
  const error = failureOf(await Effect.runPromiseExit(saslStep(client, utf8(challenge))))
  expect(error).toBeInstanceOf(SaslFailure)
  return error
}

/** Runs `f` and returns the SaslFailure it throws (fails the test otherwise). */
const thrown = (f: () => unknown): SaslFailure => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(SaslFailure)
    return error as SaslFailure
  }
  throw new Error("expected a SaslFailure, but nothing was thrown")
}

const SHA1 = {
  nonce: "fyko+d2lbbFgONRv9qkxdawL",
  serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
}

const SHA256 = {
  nonce: "rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal:
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
}

const VECTORS = [
  ["SCRAM-SHA-1, RFC 5802 §5", sha1, SHA1],
  ["SCRAM-SHA-256, RFC 7677 §3", sha256, SHA256]
] as const

/** Runs an RFC vector's whole exchange on a client and checks every message. */
const exchange = async (client: SaslClient, vector: typeof SHA1) => {
  expect(text(client.initial()!)).toBe(`n,,n=user,r=${vector.nonce}`)
  expect(await answer(client, vector.serverFirst)).toBe(vector.clientFinal)
  expect(await answer(client, vector.serverFinal)).toBe("")
  expect(() => client.finish()).not.toThrow()
}

describe("RFC test vectors", () => {
  it.each(VECTORS)("%s", async (_, hash, vector) => {
    await exchange(scramClient(hash, "user", "pencil", vector.nonce), vector)
  })
})

/**
 * A WebCrypto that records what SCRAM asks of it and passes it on to `inner` (the platform's
 * by default); `refuse` makes it throw instead, like a platform lacking something.
 */
const recordingSubtle = (refuse?: {
  readonly at: "importKey" | "deriveBits"
  readonly error: () => unknown
  readonly sync?: boolean
  readonly when?: (params: Pbkdf2Params) => boolean
}) => {
  const inner: Pbkdf2Subtle = globalThis.crypto.subtle
  const calls: Array<string> = []
  const params: Array<Pbkdf2Params> = []
  const keyData: Array<Uint8Array> = []
  const fail = <A>(): PromiseLike<A> => {
    if (refuse?.sync === true) throw refuse.error()
    return Promise.reject(refuse?.error())
  }
  const subtle: Pbkdf2Subtle = {
    importKey: (format, data, algorithm, extractable, usages) => {
      calls.push("importKey")
      keyData.push(data)
      return refuse?.at === "importKey" ? fail() : inner.importKey(format, data, algorithm, extractable, usages)
    },
    deriveBits: (algorithm, key, length) => {
      calls.push("deriveBits")
      params.push(algorithm)
      return refuse?.at === "deriveBits" && (refuse.when?.(algorithm) ?? true)
        ? fail()
        : inner.deriveBits(algorithm, key, length)
    }
  }
  return { subtle, calls, params, keyData }
}

const notSupported =
  (message = "Algorithm: Unrecognized name") =>
  () =>
    new DOMException(message, "NotSupportedError")

describe("PBKDF2 on WebCrypto, and on @noble/hashes without it", () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it.each(VECTORS)("WebCrypto gives the RFC's proof and server signature: %s", async (_, hash, vector) => {
    const recorded = recordingSubtle()
    await exchange(scramClient(hash, "user", "pencil", vector.nonce, { subtle: recorded.subtle }), vector)
    expect(recorded.calls).toEqual(["importKey", "deriveBits"])
    expect(recorded.params).toEqual([
      { name: "PBKDF2", hash: hash === sha1 ? "SHA-1" : "SHA-256", salt: expect.any(Uint8Array), iterations: 4096 }
    ])
  })

  it.each(VECTORS)(
    "the platform's WebCrypto and @noble/hashes agree on the salted password: %s",
    async (_, hash, vector) => {
      const salt = Uint8Array.from(atob(vector.serverFirst.split(",s=")[1]!.split(",")[0]!), (c) => c.charCodeAt(0))
      const key = await crypto.subtle.importKey("raw", utf8("pencil"), "PBKDF2", false, ["deriveBits"])
      const bits = await crypto.subtle.deriveBits(
        { name: "PBKDF2", hash: hash === sha1 ? "SHA-1" : "SHA-256", salt, iterations: 4096 },
        key,
        hash.outputLen * 8
      )
      expect(new Uint8Array(bits)).toEqual(pbkdf2(hash, "pencil", salt, { c: 4096, dkLen: hash.outputLen }))
    }
  )

  it.each(VECTORS)(
    "without WebCrypto (subtle: null), @noble/hashes gives the same proof: %s",
    async (_, hash, vector) => {
      await exchange(scramClient(hash, "user", "pencil", vector.nonce, { subtle: null }), vector)
    }
  )

  it.each(VECTORS)(
    "with no crypto.subtle on the platform (a page served over http), the default falls back: %s",
    async (_, hash, vector) => {
      const client = scramClient(hash, "user", "pencil", vector.nonce)
      // Looked up at login, not at import: take crypto.subtle away after the module loaded.
      vi.stubGlobal("crypto", { getRandomValues: <T extends ArrayBufferView>(a: T) => a })
      expect(globalThis.crypto.subtle).toBeUndefined()
      await exchange(client, vector)
    }
  )

  it("by default uses the platform's crypto.subtle, looked up at login", async () => {
    const recorded = recordingSubtle()
    const client = scramClient(sha256, "user", "pencil", SHA256.nonce)
    vi.stubGlobal("crypto", { getRandomValues: <T extends ArrayBufferView>(a: T) => a, subtle: recorded.subtle })
    await exchange(client, SHA256)
    expect(recorded.calls).toEqual(["importKey", "deriveBits"])
  })

  const refusals = [
    ["importKey rejects with NotSupportedError (no PBKDF2)", { at: "importKey", error: notSupported() }],
    ["importKey throws NotSupportedError synchronously", { at: "importKey", error: notSupported(), sync: true }],
    [
      "deriveBits rejects with NotSupportedError (no PBKDF2 with this hash)",
      { at: "deriveBits", error: notSupported("Unrecognized hash") }
    ],
    [
      "deriveBits refuses the count like Cloudflare's Workers above 100,000 (here above 4095)",
      {
        at: "deriveBits",
        error: notSupported("Pbkdf2 failed: iteration counts above 4095 are not supported (requested 4096)."),
        when: (p: Pbkdf2Params) => p.iterations > 4095
      }
    ],
    [
      "deriveBits rejects with some other error (OperationError)",
      { at: "deriveBits", error: () => new DOMException("failed", "OperationError") }
    ],
    [
      "deriveBits throws a TypeError synchronously (a half-made polyfill)",
      { at: "deriveBits", error: () => new TypeError("not a BufferSource"), sync: true }
    ]
  ] as const

  for (const [what, refuse] of refusals) {
    it.each(VECTORS)(`falls back to @noble/hashes when ${what}: %s`, async (_, hash, vector) => {
      const recorded = recordingSubtle(refuse)
      await exchange(scramClient(hash, "user", "pencil", vector.nonce, { subtle: recorded.subtle }), vector)
      expect(recorded.calls[0]).toBe("importKey")
    })
  }

  it("wipes the password bytes it handed to WebCrypto once the key is derived", async () => {
    const recorded = recordingSubtle()
    const client = scramClient(sha256, "user", "pencil", SHA256.nonce, { subtle: recorded.subtle })
    client.initial()
    expect(await answer(client, SHA256.serverFirst)).toBe(SHA256.clientFinal)
    expect(recorded.keyData).toHaveLength(1)
    expect(recorded.keyData[0]).toEqual(new Uint8Array(6))
  })

  it("never puts the password or a derived key into a failure", async () => {
    const salted = pbkdf2(
      sha256,
      "pencil",
      Uint8Array.from(atob("W22ZaJ0SNY7soEsUEjb6gQ=="), (c) => c.charCodeAt(0)),
      { c: 4096, dkLen: 32 }
    )
    const secrets = ["pencil", b64(salted), Array.from(salted, (b) => b.toString(16).padStart(2, "0")).join("")]
    for (const refuse of [undefined, refusals[0]![1], refusals[4]![1]]) {
      const client = scramClient(sha256, "user", "pencil", SHA256.nonce, { subtle: recordingSubtle(refuse).subtle })
      client.initial()
      await answer(client, SHA256.serverFirst)
      const exit = await Effect.runPromiseExit(saslStep(client, utf8("v=" + b64(new Uint8Array(32)))))
      expect(Exit.isFailure(exit)).toBe(true)
      const shown = Exit.isFailure(exit) ? `${Cause.pretty(exit.cause)} ${JSON.stringify(exit)}` : ""
      for (const secret of secrets) expect(shown).not.toContain(secret)
    }
  })
})

describe("the iteration cap (1,000,000)", () => {
  const serverFirst = (i: string | number) => `r=${SHA256.nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=${i}`

  it("refuses a larger count before any derivation starts, on WebCrypto or @noble/hashes", async () => {
    for (const i of [1_000_001, 2147483647, 100000000, "1e9", "9007199254740993"]) {
      const recorded = recordingSubtle()
      const client = scramClient(sha256, "user", "pencil", SHA256.nonce, { subtle: recorded.subtle })
      client.initial()
      expect((await refusal(client, serverFirst(i))).message, String(i)).toMatch(/iteration count/)
      expect(recorded.calls, String(i)).toEqual([])
      // And @noble/hashes, which would take seconds to minutes for these counts, is not run.
      const fallback = scramClient(sha256, "user", "pencil", SHA256.nonce, { subtle: null })
      fallback.initial()
      expect((await refusal(fallback, serverFirst(i))).message, String(i)).toMatch(/iteration count/)
    }
    // (Had either derivation run, this test would take minutes: vitest's time limit fails it.)
  })

  it("passes exactly 1,000,000 on to the derivation", async () => {
    // A WebCrypto that derives nothing: only the count it was asked for matters here.
    const calls: Array<number> = []
    const fake: Pbkdf2Subtle = {
      importKey: async () => ({}) as CryptoKey,
      deriveBits: async (params) => {
        calls.push(params.iterations)
        return new ArrayBuffer(32)
      }
    }
    const client = scramClient(sha256, "user", "pencil", SHA256.nonce, { subtle: fake })
    client.initial()
    expect(await answer(client, serverFirst(1_000_000))).toMatch(/^c=biws,r=.*,p=/)
    expect(calls).toEqual([1_000_000])
  })
})

describe("the server must prove it knows the password", () => {
  const afterFirst = async (): Promise<SaslClient> => {
    const client = scramClient(sha256, "user", "pencil", SHA256.nonce)
    client.initial()
    await answer(client, SHA256.serverFirst)
    return client
  }

  it("refuses a wrong server signature", async () => {
    const client = await afterFirst()
    const wrong = "v=" + b64(new Uint8Array(32).fill(7))
    expect((await refusal(client, wrong)).message).toMatch(/signature is wrong/)
    // And the exchange is not considered proven afterwards.
    expect(() => client.finish()).toThrow(SaslFailure)
  })

  it("refuses the SHA-1 signature for a SHA-256 exchange, a truncated one, one a bit off, and garbage", async () => {
    const offByOneBit = b64(
      Uint8Array.from(atob(SHA256.serverFinal.slice(2)), (c, i) => c.charCodeAt(0) ^ (i === 31 ? 1 : 0))
    )
    for (const v of [
      "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",
      `v=${offByOneBit}`,
      "v=!!!!",
      "v=",
      "x=1",
      ""
    ]) {
      const client = await afterFirst()
      expect((await refusal(client, v)).message, v).toMatch(/signature is wrong/)
      expect(() => client.finish(), v).toThrow(SaslFailure)
    }
  })

  it("refuses +OK without a server-final message (finish)", async () => {
    const client = await afterFirst()
    expect(thrown(() => client.finish()).message).toMatch(/without proving/)
  })

  it("refuses +OK before even the server-first message", () => {
    const client = scramClient(sha1, "user", "pencil", SHA1.nonce)
    client.initial()
    expect(() => client.finish()).toThrow(SaslFailure)
  })

  it("reports a server-final error attribute (e=)", async () => {
    const client = await afterFirst()
    expect((await refusal(client, "e=invalid-proof")).message).toContain("invalid-proof")
  })

  it("refuses a third challenge", async () => {
    const client = await afterFirst()
    await answer(client, SHA256.serverFinal)
    await refusal(client, SHA256.serverFinal)
  })
})

describe("hostile server-first messages", () => {
  const first = async (serverFirst: string): Promise<SaslFailure> => {
    const client = scramClient(sha1, "user", "pencil", SHA1.nonce)
    client.initial()
    return refusal(client, serverFirst)
  }

  it("refuses a nonce that does not extend the client's", async () => {
    expect((await first(`r=${SHA1.nonce},s=QSXCR+Q6sek8bf92,i=4096`)).message).toMatch(/nonce/)
    expect((await first("r=somebody-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096")).message).toMatch(/nonce/)
    expect((await first(`r=X${SHA1.nonce}abc,s=QSXCR+Q6sek8bf92,i=4096`)).message).toMatch(/nonce/)
    expect((await first("s=QSXCR+Q6sek8bf92,i=4096")).message).toMatch(/nonce/)
  })

  it("refuses a zero, negative, fractional or missing iteration count", async () => {
    for (const i of ["i=0", "i=-1", "i=1.5", "i=abc", "i=", ""]) {
      const attrs = [`r=${SHA1.nonce}x`, "s=QSXCR+Q6sek8bf92", i].filter((a) => a !== "").join(",")
      expect((await first(attrs)).message, i).toMatch(/iteration|iterations/)
    }
  })

  it("refuses fewer than 4096 iterations (RFC 7677), before deriving anything", async () => {
    for (const i of ["i=1", "i=4095"]) {
      const attrs = [`r=${SHA1.nonce}x`, "s=QSXCR+Q6sek8bf92", i].join(",")
      expect((await first(attrs)).message, i).toMatch(/fewer than the 4096 RFC 7677 requires/)
    }
  })

  it("refuses a salt that is missing, empty or not base64", async () => {
    for (const s of ["", "s=", "s=!!!!", "s=QSX*CR"]) {
      const attrs = [`r=${SHA1.nonce}x`, s, "i=4096"].filter((a) => a !== "").join(",")
      expect((await first(attrs)).message, s).toMatch(/salt/)
    }
  })

  it("reports a server error attribute (e=) in the server-first message", async () => {
    expect((await first("e=unknown-user")).message).toContain("unknown-user")
  })
})

describe("names and SASLprep", () => {
  it("escapes , and = in the user name (RFC 5802 saslname)", () => {
    expect(text(scramClient(sha256, "a,b=c", "pw", "N").initial()!)).toBe("n,,n=a=2Cb=3Dc,r=N")
  })

  it("prepares the user name (soft hyphen removed, NFKC)", () => {
    expect(text(scramClient(sha256, "I\u00ADX", "pw", "N").initial()!)).toBe("n,,n=IX,r=N")
    expect(text(scramClient(sha256, "ju\u0308rgen", "pw", "N").initial()!)).toBe("n,,n=jürgen,r=N")
  })

  it("prepares the password: equivalent spellings give the same proof, on either PBKDF2", async () => {
    const proof = async (password: string, subtle?: null) => {
      const client = scramClient(sha256, "user", password, SHA256.nonce, subtle === null ? { subtle } : {})
      client.initial()
      return answer(client, SHA256.serverFirst)
    }
    for (const subtle of [undefined, null]) {
      expect(await proof("pen\u00ADcil", subtle)).toBe(SHA256.clientFinal)
      expect(await proof("pencil", subtle)).toBe(SHA256.clientFinal)
      expect(await proof("pencil ", subtle)).not.toBe(SHA256.clientFinal)
      // Non-ASCII space → U+0020, and NFKC: the same key as the plain spelling.
      expect(await proof("pen\u00A0cil", subtle)).toBe(await proof("pen cil", subtle))
      expect(await proof("\uFB01sh", subtle)).toBe(await proof("fish", subtle))
    }
  })

  it("refuses a user name or password with a prohibited character before anything is sent", () => {
    expect(() => scramClient(sha256, "user", "pen\u0007cil", "N")).toThrow(SaslFailure)
    expect(() => scramClient(sha256, "us\u0000er", "pencil", "N")).toThrow(SaslFailure)
    expect(() => scramClient(sha256, "user", "pen\r\ncil", "N")).toThrow(SaslFailure)
  })

  it("makes a fresh, printable nonce of at least 18 random bytes each time", () => {
    const nonceOf = () => text(scramClient(sha256, "user", "pencil").initial()!).split(",r=")[1]!
    const a = nonceOf()
    const b = nonceOf()
    expect(a).not.toBe(b)
    expect(a).toMatch(/^[\x21-\x2b\x2d-\x7e]{24,}$/)
  })
})

describe("the SCRAM mechanisms over the POP3 exchange", () => {
  /** Extends the client's nonce, as a server does, and returns a server-first challenge. */
  const serverFirstFor = (command: Command): string => {
    if (command.name !== "AUTH" || command.initialResponse === undefined)
      throw new Error("expected AUTH with an initial response")
    const nonce = unb64(command.initialResponse).split(",r=")[1]
    return `+ ${b64(`r=${nonce}server,s=QSXCR+Q6sek8bf92,i=4096`)}`
  }

  it("sends the client-first message on the AUTH line, and cancels with * on a wrong signature", async () => {
    const fake = fakeExchange([serverFirstFor, `+ ${b64("v=" + b64(new Uint8Array(32)))}`, "-ERR cancelled"])
    const error = failureOf(await authenticate(scramSha256, fake, "alice", "pw"))
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toMatch(/SCRAM-SHA-256.*signature is wrong/)
    expect(unb64(fake.lines[0]!.replace("AUTH SCRAM-SHA-256 ", ""))).toMatch(/^n,,n=alice,r=/)
    expect(fake.lines).toHaveLength(3)
    expect(fake.lines[2]).toBe("*")
    expect(fake.redacted).toEqual(["AUTH SCRAM-SHA-256 ****", "****", "*"])
  })

  it("fails with AuthError when the server says +OK without proving itself", async () => {
    const fake = fakeExchange([serverFirstFor, "+OK welcome"])
    const error = failureOf(await authenticate(scramSha1, fake, "alice", "pw"))
    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).attempts).toEqual([
      { mechanism: "SCRAM-SHA-1", code: undefined, text: expect.stringMatching(/without proving/) }
    ])
  })

  it("fails with AuthError, sending nothing, on a password SASLprep prohibits", async () => {
    const fake = fakeExchange([])
    const error = failureOf(await authenticate(scramSha256, fake, "alice", "CANARY\r\nDELE 1"))
    expect(error).toBeInstanceOf(AuthError)
    expect(error.message).toMatch(/SASLprep/)
    expect(error.message).not.toContain("CANARY")
    expect(fake.lines).toEqual([])
  })

  it("returns the server's -ERR (a wrong password) as a status", async () => {
    const fake = fakeExchange([serverFirstFor, "-ERR [AUTH] Authentication failed"])
    const exit = await authenticate(scramSha256, fake, "alice", "pw")
    expect(exit).toMatchObject({ _tag: "Success", value: { kind: "err", code: "AUTH" } })
  })
})
