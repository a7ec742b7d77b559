// The demo's plain-words explanations of the library's errors, for the cases the browser
// tests cannot provoke against the dev stack: every bridge close code, [SYS/TEMP], [IN-USE],
// [LOGIN-DELAY], timeouts, a dropped connection. Pure code, so it runs in Node.
import { describe, expect, it } from "vitest"
import { AuthError, BridgeError, ConnectionClosed, ServerError, TimeoutError, TlsError } from "../../core/index.ts"
import { StorageError, UidlRequired } from "../../core/sync/index.ts"
import { explain } from "../../web-demo/src/explain.ts"

const ctx = { bridgeUrl: "wss://bridge.example.com/pop3", host: "pop.example.com", port: 995 }
const refused = (code: string | undefined, text = "go away") =>
  new AuthError({ attempts: [{ mechanism: "PLAIN", code, text }], reason: "PLAIN was refused" })

describe("explain", () => {
  it("names each bridge close code in plain words", () => {
    expect(
      explain(new BridgeError({ code: 4001, reason: "pop.example.com:995 is not allowed by this bridge" }), ctx).title
    ).toBe("The bridge does not allow pop.example.com:995")
    expect(explain(new BridgeError({ code: 4002, reason: "bad port" }), ctx).title).toBe(
      "The bridge rejected the request"
    )
    expect(explain(new BridgeError({ code: 4008, reason: "idle timeout" }), ctx).detail).toContain("“idle timeout”")
    expect(explain(new BridgeError({ code: 4010, reason: "ECONNREFUSED" }), ctx).title).toBe(
      "The bridge could not reach pop.example.com:995"
    )
    expect(explain(new BridgeError({ code: 4011, reason: "upstream TLS failed: CERT_HAS_EXPIRED" }), ctx).title).toBe(
      "TLS between the bridge and pop.example.com failed"
    )
    expect(explain(new BridgeError({ code: 4012, reason: "" }), ctx).title).toBe(
      "The bridge timed out reaching pop.example.com:995"
    )
    expect(explain(new BridgeError({ code: 4999, reason: "" }), ctx).title).toBe(
      "The bridge closed the connection (code 4999)"
    )
  })

  it("tells a wrong password ([AUTH]) from a temporary refusal ([SYS/TEMP]) and the others", () => {
    const auth = explain(refused("AUTH", "Authentication failed"), ctx)
    expect(auth.title).toBe("Wrong user name or password")
    expect(auth.detail).toContain("will not help")
    expect(auth.detail).toContain("-ERR [AUTH] “Authentication failed”")
    const temp = explain(refused("SYS/TEMP", "backend down"), ctx)
    expect(temp.title).toBe("The server has a temporary problem")
    expect(temp.detail).toContain("try again in a few minutes")
    expect(explain(refused("SYS/PERM"), ctx).title).toBe("The server refused for a lasting reason")
    expect(explain(refused("IN-USE"), ctx).title).toBe("The mailbox is in use")
    expect(explain(refused("LOGIN-DELAY"), ctx).title).toBe("Logging in again too soon")
    expect(explain(refused(undefined, "no"), ctx).title).toBe("Login failed")
  })

  it("offers the plaintext checkbox only when login was refused for lack of encryption", () => {
    const plain = new AuthError({
      attempts: [],
      reason: "USER would send the password unencrypted; use TLS, or allow plaintext explicitly",
      plaintextRefused: true
    })
    expect(explain(plain, ctx).plaintextRefused).toBe(true)
    expect(
      explain(new AuthError({ attempts: [], reason: "the server offers no mechanism this client supports" }), ctx)
        .plaintextRefused
    ).toBe(false)
    // The flag decides, not the wording: a server's refusal that mentions encryption is not it.
    const server = new AuthError({
      attempts: [{ mechanism: "USER", code: undefined, text: "use an unencrypted port" }],
      reason: "USER was refused"
    })
    expect(explain(server, ctx).plaintextRefused).toBeFalsy()
  })

  it("words a plaintext refusal itself, capitalised, and names the way out for the Security chosen", () => {
    const plain = new AuthError({
      attempts: [],
      reason:
        "the connection is not encrypted: USER would send the password unencrypted; use TLS, or allow plaintext explicitly",
      plaintextRefused: true
    })
    const none = explain(plain, { ...ctx, port: 110, tls: "none" })
    expect(none.detail).toMatch(/^Nothing was sent\./)
    expect(none.detail).not.toContain("the connection is not encrypted")
    expect(none.technical).toContain("the connection is not encrypted")
    expect(none.detail).toContain(
      "choose Security: Implicit TLS (usually port 995), or keep None and tick End-to-end TLS"
    )
    // TLS to the server, but ws:// to a bridge elsewhere: the page's own link is the gap.
    const implicit = explain(plain, { ...ctx, bridgeUrl: "ws://bridge.example.com/pop3", tls: "implicit" })
    expect(implicit.detail).toContain("use a wss:// bridge address, or tick End-to-end TLS")
    expect(implicit.detail).not.toContain("choose Security")
    // Another reason for not trying is the library's, capitalised as a sentence.
    const none2 = new AuthError({ attempts: [], reason: "the server offers no mechanism this client supports" })
    expect(explain(none2, ctx).detail).toBe("The server offers no mechanism this client supports.")
  })

  it("says a greeting that never came over plain POP3 may mean a TLS port, and only then", () => {
    const greeting = new TimeoutError({ operation: "the greeting", millis: 30_000 })
    const plain = explain(greeting, { ...ctx, port: 1995, tls: "none" }).detail
    expect(plain).toContain("No answer within 30 s while waiting for the greeting")
    expect(plain).toContain("Port 1995 may be a TLS port")
    expect(plain).toContain("never sends a plain POP3 greeting")
    // Over TLS, or a later answer over plain POP3: no such guess.
    expect(explain(greeting, { ...ctx, tls: "implicit" }).detail).not.toContain("TLS port")
    expect(
      explain(new TimeoutError({ operation: "the answer to STAT", millis: 30_000 }), { ...ctx, tls: "none" }).detail
    ).not.toContain("TLS port")
  })

  it("explains timeouts, dropped connections, TLS and -ERR answers", () => {
    expect(explain(new TimeoutError({ operation: "the answer to STAT", millis: 30_000 }), ctx).detail).toContain(
      "No answer within 30 s while waiting for the answer to STAT"
    )
    expect(
      explain(new ConnectionClosed({ during: "the body of RETR 1", reason: "the server closed the connection" }), ctx)
        .title
    ).toBe("The connection closed")
    expect(explain(new TlsError({ host: "pop.example.com", reason: "certificate has expired" }), ctx).title).toBe(
      "TLS with pop.example.com failed"
    )
    const err = explain(new ServerError({ command: "RETR 3", code: "SYS/TEMP", text: "try later" }), ctx)
    expect(err.title).toBe("The server refused RETR 3")
    expect(err.detail).toContain("This is temporary")
  })

  it("explains the kept copy's failures (the sync engine's errors), and never leaves an error unexplained", () => {
    const full = explain(
      new StorageError({
        operation: "store message 3 in",
        path: 'IndexedDB database "pop3-everywhere"',
        reason: "the browser's storage quota is used up (QuotaExceededError)"
      }),
      ctx
    )
    expect(full.title).toBe("This browser could not keep the messages")
    expect(full.detail).toBe(
      "Its storage (IndexedDB) failed: the browser's storage quota is used up (QuotaExceededError). Nothing was deleted on the server."
    )
    expect(explain(new UidlRequired({ text: "not supported" }), ctx).title).toBe(
      "The server cannot name its messages (no UIDL)"
    )
    // Any other tagged object: the unknown-error words, not undefined (which threw in the demo).
    const other = explain({ _tag: "SomethingElse", message: "odd" }, ctx)
    expect(other.title).toBe("Something unexpected went wrong")
  })
})
