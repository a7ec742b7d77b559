// PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and OAUTHBEARER against scripted servers: the exact bytes
// each sends (RFC and vendor examples), and how each handles a challenge it did not expect.

import { describe, expect, it } from "vitest"
import { cramMd5, cramMd5Response, login, oauthbearer, plain, xoauth2 } from "../../../core/auth/mechanisms.ts"
import { AuthError } from "../../../core/errors.ts"
import { authenticate, b64, fakeExchange, failureOf, successOf, unb64 } from "./fake-exchange.ts"

const utf8 = (s: string) => new TextEncoder().encode(s)

describe("CRAM-MD5 (RFC 2195)", () => {
  const challenge = "<1896.697170952@postoffice.reston.mci.net>"

  it("cramMd5Response matches the RFC's example", () => {
    expect(cramMd5Response("tim", "tanstaaftanstaaf", utf8(challenge))).toBe("tim b913a602c7eda7a495b4e6e7334d3890")
  })

  it("answers the server's challenge with the RFC's exact line", async () => {
    const fake = fakeExchange([`+ ${b64(challenge)}`, "+OK"])
    successOf(await authenticate(cramMd5, fake, "tim", "tanstaaftanstaaf"))
    // The RFC's session, byte for byte.
    expect(b64(challenge)).toBe("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
    expect(fake.lines).toEqual(["AUTH CRAM-MD5", "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"])
    expect(fake.redacted).toEqual(["AUTH CRAM-MD5", "****"])
  })

  it("cancels a second challenge", async () => {
    const fake = fakeExchange([`+ ${b64(challenge)}`, `+ ${b64("again")}`, "-ERR cancelled"])
    const error = failureOf(await authenticate(cramMd5, fake, "tim", "tanstaaftanstaaf"))
    expect(error).toBeInstanceOf(AuthError)
    expect(fake.lines.at(-1)).toBe("*")
    expect(error.message).toContain("CRAM-MD5 expects one challenge")
  })

  it("is not plaintext", () => {
    expect(cramMd5.plaintext).toBe(false)
  })
})

describe("PLAIN (RFC 4616)", () => {
  it("sends NUL user NUL password as the initial response", async () => {
    const fake = fakeExchange(["+OK"])
    successOf(await authenticate(plain, fake, "tim", "tanstaaf"))
    expect(fake.lines).toEqual([`AUTH PLAIN ${b64("\u0000tim\u0000tanstaaf")}`])
    expect(fake.lines[0]).toBe("AUTH PLAIN AHRpbQB0YW5zdGFhZg==")
    expect(fake.redacted).toEqual(["AUTH PLAIN ****"])
  })

  it("encodes a UTF-8 user and password as UTF-8", async () => {
    const fake = fakeExchange(["+OK"])
    successOf(await authenticate(plain, fake, "jürgen", "pässwört"))
    expect(fake.lines).toEqual([`AUTH PLAIN ${b64("\u0000jürgen\u0000pässwört")}`])
  })

  it("cancels with * when the server sends a challenge anyway", async () => {
    const fake = fakeExchange(["+ ", "-ERR cancelled"])
    const error = failureOf(await authenticate(plain, fake, "tim", "x"))
    expect(error).toBeInstanceOf(AuthError)
    expect(fake.lines).toEqual([`AUTH PLAIN ${b64("\u0000tim\u0000x")}`, "*"])
  })

  it("is plaintext, and offered only when the SASL capability lists it", () => {
    expect(plain.plaintext).toBe(true)
    expect(plain.offered(fakeExchange([], { capa: ["SASL PLAIN LOGIN"] }).exchange)).toBe(true)
    expect(plain.offered(fakeExchange([], { capa: ["SASL plain"] }).exchange)).toBe(true)
    expect(plain.offered(fakeExchange([], { capa: ["SASL LOGIN", "USER"] }).exchange)).toBe(false)
    expect(plain.offered(fakeExchange([]).exchange)).toBe(false)
  })
})

describe("LOGIN", () => {
  it("answers the user name, then the password, whatever the prompts say", async () => {
    const fake = fakeExchange([`+ ${b64("Username:")}`, `+ ${b64("Password:")}`, "+OK"])
    successOf(await authenticate(login, fake, "tim", "tanstaaf"))
    expect(fake.lines).toEqual(["AUTH LOGIN", b64("tim"), b64("tanstaaf")])
    expect(fake.redacted).toEqual(["AUTH LOGIN", "****", "****"])
  })

  it("works with empty prompts (some servers send none)", async () => {
    const fake = fakeExchange(["+ ", "+", "+OK"])
    successOf(await authenticate(login, fake, "tim", "tanstaaf"))
    expect(fake.lines).toEqual(["AUTH LOGIN", b64("tim"), b64("tanstaaf")])
  })

  it("cancels a third prompt", async () => {
    const fake = fakeExchange(["+ ", "+ ", "+ ", "-ERR cancelled"])
    const error = failureOf(await authenticate(login, fake, "tim", "tanstaaf"))
    expect(error).toBeInstanceOf(AuthError)
    expect(fake.lines).toEqual(["AUTH LOGIN", b64("tim"), b64("tanstaaf"), "*"])
  })
})

describe("XOAUTH2", () => {
  it("sends Google's documented initial response", async () => {
    const fake = fakeExchange(["+OK"])
    successOf(
      await authenticate(xoauth2, fake, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    )
    expect(fake.lines).toEqual([
      "AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    ])
    expect(fake.redacted).toEqual(["AUTH XOAUTH2 ****"])
  })

  it("answers the error challenge with an empty line and adds the error JSON to the -ERR text", async () => {
    const json = `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`
    const fake = fakeExchange([`+ ${b64(json)}`, "-ERR [AUTH] Invalid credentials"])
    const status = successOf(await authenticate(xoauth2, fake, "u@example.com", "bad-token"))
    expect(fake.lines).toEqual([`AUTH XOAUTH2 ${b64("user=u@example.com\u0001auth=Bearer bad-token\u0001\u0001")}`, ""])
    expect(status).toEqual({ kind: "err", code: "AUTH", text: `Invalid credentials (${json})` })
  })

  it("cancels a second error challenge", async () => {
    const fake = fakeExchange([`+ ${b64("{}")}`, `+ ${b64("{}")}`, "-ERR cancelled"])
    failureOf(await authenticate(xoauth2, fake, "u", "t"))
    expect(fake.lines.slice(1)).toEqual(["", "*"])
  })

  it("counts as plaintext (a token is as good as a password)", () => {
    expect(xoauth2.plaintext).toBe(true)
  })
})

describe("OAUTHBEARER (RFC 7628)", () => {
  it("sends the RFC's example initial response (§4.1)", async () => {
    const fake = fakeExchange(["+OK"], { host: "server.example.com", port: 143 })
    successOf(await authenticate(oauthbearer, fake, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="))
    expect(fake.lines).toEqual([
      "AUTH OAUTHBEARER bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    ])
  })

  it("escapes , and = in the user name (RFC 5801 saslname)", async () => {
    const fake = fakeExchange(["+OK"], { host: "h", port: 995 })
    successOf(await authenticate(oauthbearer, fake, "a,b=c", "t"))
    expect(unb64(fake.lines[0]!.split(" ")[2]!)).toBe(
      "n,a=a=2Cb=3Dc,\u0001host=h\u0001port=995\u0001auth=Bearer t\u0001\u0001"
    )
  })

  it("answers the error challenge with %x01 (RFC 7628 §3.2.3) and keeps the error JSON", async () => {
    const json = `{"status":"invalid_token","scope":"example_scope"}`
    const fake = fakeExchange([`+ ${b64(json)}`, "-ERR [AUTH] denied"])
    const status = successOf(await authenticate(oauthbearer, fake, "u", "bad"))
    expect(fake.lines[1]).toBe("AQ==")
    expect(status.text).toBe(`denied (${json})`)
  })
})
