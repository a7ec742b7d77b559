// The dev server's SASL mechanisms on the raw wire, checked with a third, independent
// implementation (node:crypto) so that neither the server nor core/'s client is tested only
// against the other.

import { createHash, createHmac, pbkdf2Sync } from "node:crypto"
import { describe, expect, it } from "vitest"
import { memorySession, type RawClient } from "./raw-client.ts"
import {
  OAUTHBEARER_ERROR,
  saslMechanisms,
  type SaslOptions,
  serverSaslprep,
  XOAUTH2_ERROR
} from "../../dev-server/sasl.ts"
import { makeMailStore } from "../../dev-server/server.ts"

const b64 = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64")
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8")
/** A raw line of UTF-8 text, as the RawClient sends each char as one octet. */
const utf8Line = (s: string) => Buffer.from(s, "utf8").toString("latin1")

const store = () =>
  makeMailStore({
    alice: { password: "pencil", messages: ["Subject: x\r\n\r\nhi\r\n"] },
    jürgen: { password: "pässwort", messages: [] }
  })

const session = (options: SaslOptions = {}) =>
  memorySession(store(), {}, { sasl: saslMechanisms({ oauthTokens: { alice: "good-token" }, ...options }) })

/** The decoded challenge of a "+ " line. */
const challenge = async (client: RawClient): Promise<string> => {
  const line = await client.line()
  expect(line).toMatch(/^\+ /)
  return unb64(line.slice(2))
}

describe("CAPA", () => {
  it("lists the mechanisms in the order given", async () => {
    const { client } = memorySession(store(), {}, { sasl: saslMechanisms({}, ["PLAIN", "SCRAM-SHA-1"]) })
    await client.line()
    await client.send("CAPA\r\n")
    await client.line()
    expect(await client.body()).toContain("SASL PLAIN SCRAM-SHA-1")
    expect(saslMechanisms().map((m) => m.name)).toEqual([
      "SCRAM-SHA-256",
      "SCRAM-SHA-1",
      "CRAM-MD5",
      "PLAIN",
      "LOGIN",
      "XOAUTH2",
      "OAUTHBEARER"
    ])
    client.close()
  })
})

describe("SCRAM (RFC 5802 / RFC 7677), checked with node:crypto", () => {
  const algorithms = { "SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256" } as const

  /** The client's side of SCRAM, computed independently; returns what the server said at each step. */
  const scram = async (
    client: RawClient,
    name: keyof typeof algorithms,
    user: string,
    password: string,
    tweak: {
      readonly gs2?: string
      readonly channel?: string
      readonly nonce?: (r: string) => string
      readonly proof?: (p: Buffer) => Buffer
    } = {}
  ) => {
    const hash = algorithms[name]
    const nonce = "fyko+d2lbbFgONRv9qkxdawL"
    const gs2 = tweak.gs2 ?? "n,,"
    const clientFirstBare = `n=${user},r=${nonce}`
    await client.send(utf8Line(`AUTH ${name} ${b64(gs2 + clientFirstBare)}\r\n`))
    const first = await client.line()
    if (!first.startsWith("+ ")) return { first }
    const serverFirst = unb64(first.slice(2))
    const attrs = Object.fromEntries(serverFirst.split(",").map((a) => [a[0], a.slice(2)]))
    const salt = Buffer.from(attrs["s"]!, "base64")
    const iterations = Number(attrs["i"])
    const salted = pbkdf2Sync(
      Buffer.from(password.normalize("NFKC"), "utf8"),
      salt,
      iterations,
      hash === "sha1" ? 20 : 32,
      hash
    )
    const clientKey = createHmac(hash, salted).update("Client Key").digest()
    const storedKey = createHash(hash).update(clientKey).digest()
    const withoutProof = `c=${tweak.channel ?? b64(gs2)},r=${tweak.nonce?.(attrs["r"]!) ?? attrs["r"]}`
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`
    const clientSignature = createHmac(hash, storedKey).update(authMessage).digest()
    let proof: Buffer = Buffer.from(clientKey.map((b, i) => b ^ clientSignature[i]!))
    if (tweak.proof) proof = tweak.proof(proof)
    const serverKey = createHmac(hash, salted).update("Server Key").digest()
    const expectedV = `v=${b64(createHmac(hash, serverKey).update(authMessage).digest())}`
    await client.send(`${b64(`${withoutProof},p=${b64(proof)}`)}\r\n`)
    const final = await client.line()
    return { first, serverFirst, attrs, iterations, final, expectedV }
  }

  for (const name of ["SCRAM-SHA-1", "SCRAM-SHA-256"] as const) {
    it(`${name}: a real server — salt, 4096 iterations, server-final as a + challenge, then +OK`, async () => {
      const { client } = session()
      await client.line()
      const r = await scram(client, name, "alice", "pencil")
      expect(r.attrs!["r"]).toMatch(/^fyko\+d2lbbFgONRv9qkxdawL.{16,}$/)
      expect(Buffer.from(r.attrs!["s"]!, "base64").length).toBeGreaterThanOrEqual(16)
      expect(r.iterations).toBe(4096)
      expect(r.final).toBe(`+ ${b64(r.expectedV!)}`)
      await client.send("\r\n")
      expect(await client.line()).toMatch(/^\+OK Logged in/)
      client.close()
    })
  }

  it("keeps the salt per user (stored verifiers) and makes a new nonce per exchange", async () => {
    const { client } = session()
    await client.line()
    const a = await scram(client, "SCRAM-SHA-256", "alice", "wrong")
    const b = await scram(client, "SCRAM-SHA-256", "alice", "wrong")
    expect(a.attrs!["s"]).toBe(b.attrs!["s"])
    expect(a.attrs!["r"]).not.toBe(b.attrs!["r"])
    client.close()
  })

  it("refuses a wrong password (a wrong proof) with [AUTH], without a server-final", async () => {
    const { client } = session()
    await client.line()
    expect(
      (await scram(client, "SCRAM-SHA-256", "alice", "pencil", { proof: (p) => p.map((x) => x ^ 1) as Buffer })).final
    ).toBe("-ERR [AUTH] Authentication failed")
    expect((await scram(client, "SCRAM-SHA-256", "alice", "crayon")).final).toBe("-ERR [AUTH] Authentication failed")
    client.close()
  })

  it("answers an unknown user like a wrong password, after the same two steps", async () => {
    const { client } = session()
    await client.line()
    const r = await scram(client, "SCRAM-SHA-1", "mallory", "x")
    expect(r.first).toMatch(/^\+ /)
    expect(r.final).toBe("-ERR [AUTH] Authentication failed")
    client.close()
  })

  it("refuses channel binding, authorization identities, a changed nonce and a wrong c=", async () => {
    const { client } = session()
    await client.line()
    expect((await scram(client, "SCRAM-SHA-256", "alice", "pencil", { gs2: "p=tls-unique,," })).first).toMatch(
      /^-ERR .*Channel binding/
    )
    expect((await scram(client, "SCRAM-SHA-256", "alice", "pencil", { gs2: "n,a=bob," })).first).toMatch(/^-ERR /)
    expect((await scram(client, "SCRAM-SHA-256", "alice", "pencil", { nonce: (r) => r + "x" })).final).toMatch(
      /^-ERR .*nonce/
    )
    expect((await scram(client, "SCRAM-SHA-256", "alice", "pencil", { channel: b64("y,,") })).final).toMatch(
      /^-ERR .*channel binding/
    )
    client.close()
  })

  it("accepts the y GS2 flag (client supports binding, server does not offer it)", async () => {
    const { client } = session()
    await client.line()
    const r = await scram(client, "SCRAM-SHA-256", "alice", "pencil", { gs2: "y,," })
    expect(r.final).toBe(`+ ${b64(r.expectedV!)}`)
    client.close()
  })

  it("prepares user names (SASLprep): a decomposed ü finds jürgen", async () => {
    const { client } = session()
    await client.line()
    const r = await scram(client, "SCRAM-SHA-256", "ju\u0308rgen", "pässwort")
    expect(r.final).toBe(`+ ${b64(r.expectedV!)}`)
    client.close()
  })

  it("scramWrongSignature sends a v= that is not the server signature", async () => {
    const { client } = session({ scramWrongSignature: true })
    await client.line()
    const r = await scram(client, "SCRAM-SHA-256", "alice", "pencil")
    expect(r.final).toMatch(/^\+ /)
    expect(unb64(r.final!.slice(2))).toMatch(/^v=/)
    expect(unb64(r.final!.slice(2))).not.toBe(r.expectedV)
    await client.send("*\r\n")
    expect(await client.line()).toBe("-ERR Authentication cancelled")
    client.close()
  })

  it("scramNoSignature says +OK right after a valid client-final", async () => {
    const { client } = session({ scramNoSignature: true })
    await client.line()
    expect((await scram(client, "SCRAM-SHA-1", "alice", "pencil")).final).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("the iteration count is configurable", async () => {
    const { client } = session({ iterations: 1000 })
    await client.line()
    const r = await scram(client, "SCRAM-SHA-256", "alice", "pencil")
    expect(r.iterations).toBe(1000)
    expect(r.final).toBe(`+ ${b64(r.expectedV!)}`)
    client.close()
  })
})

describe("CRAM-MD5 (RFC 2195), checked with node:crypto", () => {
  it("sends a <…@…> challenge and accepts user SP hex(HMAC-MD5)", async () => {
    const { client } = session()
    await client.line()
    await client.send("AUTH CRAM-MD5\r\n")
    const c = await challenge(client)
    expect(c).toMatch(/^<[^<>@\s]+@[^<>@\s]+>$/)
    await client.send(`${b64(`alice ${createHmac("md5", "pencil").update(c).digest("hex")}`)}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("refuses a wrong digest with [AUTH], and an initial response outright", async () => {
    const { client } = session()
    await client.line()
    await client.send("AUTH CRAM-MD5\r\n")
    const c = await challenge(client)
    await client.send(`${b64(`alice ${createHmac("md5", "crayon").update(c).digest("hex")}`)}\r\n`)
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    await client.send(`AUTH CRAM-MD5 ${b64("alice 00")}\r\n`)
    expect(await client.line()).toBe("-ERR CRAM-MD5 takes no initial response")
    client.close()
  })
})

describe("PLAIN and LOGIN", () => {
  it("PLAIN as an initial response, after an empty challenge, and with authzid", async () => {
    const { client } = session()
    await client.line()
    await client.send(`AUTH PLAIN ${b64("bob\u0000alice\u0000pencil")}\r\n`)
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    await client.send("AUTH PLAIN\r\n")
    expect(await client.line()).toBe("+ ")
    await client.send(`${b64("alice\u0000alice\u0000pencil")}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("PLAIN refuses a message without exactly two NULs", async () => {
    const { client } = session()
    await client.line()
    await client.send(`AUTH PLAIN ${b64("alice\u0000pencil")}\r\n`)
    expect(await client.line()).toBe("-ERR [AUTH] Malformed PLAIN message")
    client.close()
  })

  it("LOGIN prompts Username: then Password:", async () => {
    const { client } = session()
    await client.line()
    await client.send("AUTH LOGIN\r\n")
    expect(await challenge(client)).toBe("Username:")
    await client.send(`${b64("alice")}\r\n`)
    expect(await challenge(client)).toBe("Password:")
    await client.send(`${b64("pencil")}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })
})

describe("XOAUTH2 and OAUTHBEARER", () => {
  const xoauth2 = (user: string, token: string) => b64(`user=${user}\u0001auth=Bearer ${token}\u0001\u0001`)
  const oauthbearer = (user: string, token: string) =>
    b64(`n,a=${user},\u0001host=h\u0001port=995\u0001auth=Bearer ${token}\u0001\u0001`)

  it("XOAUTH2 accepts the configured token", async () => {
    const { client } = session()
    await client.line()
    await client.send(`AUTH XOAUTH2 ${xoauth2("alice", "good-token")}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("XOAUTH2 with a bad token: the JSON error challenge, the client's empty answer, then -ERR", async () => {
    const { client } = session()
    await client.line()
    await client.send(`AUTH XOAUTH2 ${xoauth2("alice", "pencil")}\r\n`)
    expect(await client.line()).toBe(
      `+ ${b64('{"status":"401","schemes":"bearer","scope":"https://mail.example.com/"}')}`
    )
    expect(XOAUTH2_ERROR).toBe('{"status":"401","schemes":"bearer","scope":"https://mail.example.com/"}')
    await client.send("\r\n")
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    client.close()
  })

  it("OAUTHBEARER accepts the configured token and fails a bad one after %x01", async () => {
    const { client } = session()
    await client.line()
    await client.send(`AUTH OAUTHBEARER ${oauthbearer("alice", "bad")}\r\n`)
    expect(await challenge(client)).toBe(OAUTHBEARER_ERROR)
    await client.send("AQ==\r\n")
    expect(await client.line()).toBe("-ERR [AUTH] Authentication failed")
    await client.send(`AUTH OAUTHBEARER ${oauthbearer("alice", "good-token")}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("oauthRequireContinuation refuses the token on the AUTH line and takes it after +", async () => {
    const { client } = session({ oauthRequireContinuation: true })
    await client.line()
    await client.send(`AUTH XOAUTH2 ${xoauth2("alice", "good-token")}\r\n`)
    expect(await client.line()).toMatch(/^-ERR XOAUTH2 initial response not accepted/)
    await client.send("AUTH XOAUTH2\r\n")
    expect(await client.line()).toBe("+ ")
    await client.send(`${xoauth2("alice", "good-token")}\r\n`)
    expect(await client.line()).toMatch(/^\+OK Logged in/)
    client.close()
  })

  it("never accepts a password as a token", async () => {
    const { client } = session()
    await client.line()
    await client.send(`AUTH XOAUTH2 ${xoauth2("alice", "pencil")}\r\n`)
    expect(await client.line()).toMatch(/^\+ /)
    client.close()
  })
})

describe("challengeForever", () => {
  it("keeps challenging every mechanism until the client sends *", async () => {
    const { client } = session({ challengeForever: true })
    await client.line()
    for (const name of ["PLAIN", "SCRAM-SHA-256"]) {
      await client.send(`AUTH ${name}\r\n`)
      for (let i = 0; i < 25; i++) {
        await challenge(client)
        await client.send(`${b64("whatever")}\r\n`)
      }
      await challenge(client)
      await client.send("*\r\n")
      expect(await client.line()).toBe("-ERR Authentication cancelled")
    }
    client.close()
  })
})

describe("serverSaslprep (RFC 4013 examples)", () => {
  it.each([
    ["I\u00ADX", "IX"],
    ["user", "user"],
    ["USER", "USER"],
    ["\u00AA", "a"],
    ["\u2168", "IX"],
    ["a\u00A0b", "a b"],
    ["pass🙂", "pass🙂"]
  ])("%j → %j", (input, output) => {
    expect(serverSaslprep(input)).toBe(output)
  })

  it("refuses prohibited characters", () => {
    for (const bad of ["\u0007", "a\r\nb", "\uE000", "\uD800", "\u{10FFFF}", "\u200E"])
      expect(serverSaslprep(bad), JSON.stringify(bad)).toBeUndefined()
  })
})
