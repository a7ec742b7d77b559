// APOP (RFC 1939 §7): the digest, and the command the mechanism sends.

import { describe, expect, it } from "vitest"
import { apop, apopDigest } from "../../../core/auth/apop.ts"
import { authenticate, failureOf, fakeExchange, successOf } from "./fake-exchange.ts"

describe("apopDigest", () => {
  it("matches RFC 1939's example", () => {
    expect(apopDigest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf")).toBe("c4c9334bac560ecc979e58001b3e22fb")
  })

  it("is lower-case hex of 32 digits, and depends on both inputs", () => {
    const digest = apopDigest("<1.2@host>", "secret")
    expect(digest).toMatch(/^[0-9a-f]{32}$/)
    expect(apopDigest("<1.3@host>", "secret")).not.toBe(digest)
    expect(apopDigest("<1.2@host>", "secreT")).not.toBe(digest)
  })

  it("hashes a non-ASCII secret as UTF-8", () => {
    // md5("<1.2@host>" + "pässword") in UTF-8, computed independently with Node's
    // crypto.createHash("md5") (a literal, so this also runs in Chromium).
    const expected = "2bf30c5195630adca14591b8b94e45d0"
    expect(apopDigest("<1.2@host>", "pässword")).toBe(expected)
  })
})

describe("the APOP mechanism", () => {
  it("is offered only when the greeting has a timestamp", () => {
    expect(apop.offered(fakeExchange([], { apopTimestamp: "<1@h>" }).exchange)).toBe(true)
    expect(apop.offered(fakeExchange([]).exchange)).toBe(false)
    expect(apop.plaintext).toBe(false)
  })

  it("sends APOP user digest, and the trace hides the digest", async () => {
    const fake = fakeExchange(["+OK maildrop locked"], { apopTimestamp: "<1896.697170952@dbc.mtview.ca.us>" })
    const status = successOf(await authenticate(apop, fake, "mrose", "tanstaaf"))
    expect(status.kind).toBe("ok")
    expect(fake.lines).toEqual(["APOP mrose c4c9334bac560ecc979e58001b3e22fb"])
    expect(fake.redacted).toEqual(["APOP mrose ****"])
  })

  it("returns the server's -ERR as a status, not a failure", async () => {
    const fake = fakeExchange(["-ERR [AUTH] permission denied"], { apopTimestamp: "<1@h>" })
    expect(successOf(await authenticate(apop, fake, "mrose", "x"))).toEqual({
      kind: "err",
      code: "AUTH",
      text: "permission denied"
    })
  })
})

describe("APOP without a greeting timestamp (issue 12, item 1)", () => {
  it("fails with AuthError and sends nothing, rather than an unsalted MD5 of the password", async () => {
    const fake = fakeExchange(["+OK would have logged in"])
    const error = failureOf(await authenticate(apop, fake, "mrose", "tanstaaf"))
    expect(error._tag).toBe("AuthError")
    expect(error.message).toMatch(
      /APOP needs the timestamp of the server's greeting, and this greeting has none; nothing was sent/
    )
    expect(fake.lines).toEqual([])
  })
})
