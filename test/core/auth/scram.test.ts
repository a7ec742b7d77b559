// SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677): the RFCs' test vectors, and every
// way a server can fail to prove itself or try to hurt the client.

import { sha1 } from "@noble/hashes/legacy.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { describe, expect, it } from "vitest"
import { SaslFailure, type SaslClient } from "../../../core/auth/sasl.ts"
import { scramClient, scramSha1, scramSha256 } from "../../../core/auth/scram.ts"
import { AuthError } from "../../../core/client/errors.ts"
import type { Command } from "../../../core/protocol/command.ts"
import { authenticate, b64, fakeExchange, failureOf, unb64 } from "./fake-exchange.ts"

const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Runs `f` and returns the SaslFailure it throws (fails the test otherwise). */
const saslFailure = (f: () => unknown): SaslFailure => {
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
  clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
}

describe("RFC test vectors", () => {
  it("SCRAM-SHA-1, RFC 5802 §5", () => {
    const client = scramClient(sha1, "user", "pencil", SHA1.nonce)
    expect(text(client.initial()!)).toBe(`n,,n=user,r=${SHA1.nonce}`)
    expect(text(client.step(utf8(SHA1.serverFirst)))).toBe(SHA1.clientFinal)
    expect(client.step(utf8(SHA1.serverFinal))).toEqual(new Uint8Array(0))
    expect(() => client.finish()).not.toThrow()
  })

  it("SCRAM-SHA-256, RFC 7677 §3", () => {
    const client = scramClient(sha256, "user", "pencil", SHA256.nonce)
    expect(text(client.initial()!)).toBe(`n,,n=user,r=${SHA256.nonce}`)
    expect(text(client.step(utf8(SHA256.serverFirst)))).toBe(SHA256.clientFinal)
    expect(client.step(utf8(SHA256.serverFinal))).toEqual(new Uint8Array(0))
    expect(() => client.finish()).not.toThrow()
  })
})

describe("the server must prove it knows the password", () => {
  const afterFirst = (): SaslClient => {
    const client = scramClient(sha256, "user", "pencil", SHA256.nonce)
    client.initial()
    client.step(utf8(SHA256.serverFirst))
    return client
  }

  it("refuses a wrong server signature", () => {
    const client = afterFirst()
    const wrong = "v=" + b64(new Uint8Array(32).fill(7))
    expect(saslFailure(() => client.step(utf8(wrong))).message).toMatch(/signature is wrong/)
    // And the exchange is not considered proven afterwards.
    expect(() => client.finish()).toThrow(SaslFailure)
  })

  it("refuses the SHA-1 signature for a SHA-256 exchange, a truncated one, and garbage", () => {
    for (const v of ["v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9", "v=!!!!", "v=", "x=1", ""]) {
      expect(() => afterFirst().step(utf8(v)), v).toThrow(SaslFailure)
    }
  })

  it("refuses +OK without a server-final message (finish)", () => {
    const client = afterFirst()
    expect(saslFailure(() => client.finish()).message).toMatch(/without proving/)
  })

  it("refuses +OK before even the server-first message", () => {
    const client = scramClient(sha1, "user", "pencil", SHA1.nonce)
    client.initial()
    expect(() => client.finish()).toThrow(SaslFailure)
  })

  it("reports a server-final error attribute (e=)", () => {
    const client = afterFirst()
    expect(saslFailure(() => client.step(utf8("e=invalid-proof"))).message).toContain("invalid-proof")
  })

  it("refuses a third challenge", () => {
    const client = afterFirst()
    client.step(utf8(SHA256.serverFinal))
    expect(() => client.step(utf8(SHA256.serverFinal))).toThrow(SaslFailure)
  })
})

describe("hostile server-first messages", () => {
  const first = (serverFirst: string) => () => {
    const client = scramClient(sha1, "user", "pencil", SHA1.nonce)
    client.initial()
    return client.step(utf8(serverFirst))
  }

  it("refuses a nonce that does not extend the client's", () => {
    expect(saslFailure(first(`r=${SHA1.nonce},s=QSXCR+Q6sek8bf92,i=4096`)).message).toMatch(/nonce/)
    expect(saslFailure(first("r=somebody-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096")).message).toMatch(/nonce/)
    expect(saslFailure(first(`r=X${SHA1.nonce}abc,s=QSXCR+Q6sek8bf92,i=4096`)).message).toMatch(/nonce/)
    expect(saslFailure(first("s=QSXCR+Q6sek8bf92,i=4096")).message).toMatch(/nonce/)
  })

  it("refuses a huge iteration count at once instead of freezing", () => {
    const started = performance.now()
    for (const i of ["2147483647", "100000000", "1e9", "9007199254740993"]) {
      expect(saslFailure(first(`r=${SHA1.nonce}x,s=QSXCR+Q6sek8bf92,i=${i}`)).message, i).toMatch(/iteration count/)
    }
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it("refuses a zero, negative, fractional or missing iteration count", () => {
    for (const i of ["i=0", "i=-1", "i=1.5", "i=abc", "i=", ""]) {
      const attrs = [`r=${SHA1.nonce}x`, "s=QSXCR+Q6sek8bf92", i].filter((a) => a !== "").join(",")
      expect(first(attrs), i).toThrow(SaslFailure)
    }
  })

  it("refuses a salt that is missing, empty or not base64", () => {
    for (const s of ["", "s=", "s=!!!!", "s=QSX*CR"]) {
      const attrs = [`r=${SHA1.nonce}x`, s, "i=4096"].filter((a) => a !== "").join(",")
      expect(saslFailure(first(attrs)).message, s).toMatch(/salt/)
    }
  })

  it("reports a server error attribute (e=) in the server-first message", () => {
    expect(saslFailure(first("e=unknown-user")).message).toContain("unknown-user")
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

  it("prepares the password: equivalent spellings give the same proof", () => {
    const proof = (password: string) => {
      const client = scramClient(sha256, "user", password, SHA256.nonce)
      client.initial()
      return text(client.step(utf8(SHA256.serverFirst)))
    }
    expect(proof("pen\u00ADcil")).toBe(SHA256.clientFinal)
    expect(proof("pencil")).toBe(SHA256.clientFinal)
    expect(proof("pencil ")).not.toBe(SHA256.clientFinal)
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
    if (command.name !== "AUTH" || command.initialResponse === undefined) throw new Error("expected AUTH with an initial response")
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
    expect((error as AuthError).attempts).toEqual([{ mechanism: "SCRAM-SHA-1", code: undefined, text: expect.stringMatching(/without proving/) }])
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
