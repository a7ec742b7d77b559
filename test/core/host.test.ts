// Host names as written and as shown (core/host.ts): an IPv6 address in brackets is the
// address; messages bracket it again, so its colons are not read as the port's.
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { createServer } from "node:net"
import { describe, expect, it } from "vitest"
import { connect, formatTraceEvent } from "../../core/index.ts"
import { resolveOptions } from "../../core/client/options.ts"
import { bareHost, hostPort } from "../../core/host.ts"
import * as NodeTransport from "../../core/transport/node.ts"

describe("bareHost", () => {
  it("takes the brackets off an IPv6 address and leaves everything else as it is", () => {
    expect(bareHost("[::1]")).toBe("::1")
    expect(bareHost("[2001:db8::25]")).toBe("2001:db8::25")
    expect(bareHost("[fe80::1%eth0]")).toBe("fe80::1%eth0")
    for (const host of ["::1", "mail.example.com", "127.0.0.1", "[mail.example.com]", "[::1", "::1]", "[[::1]]"])
      expect(bareHost(host)).toBe(host)
  })
})

describe("hostPort", () => {
  it("brackets an IPv6 address before its port", () => {
    expect(hostPort("::1", 110)).toBe("[::1]:110")
    expect(hostPort("mail.example.com", 995)).toBe("mail.example.com:995")
    expect(hostPort("127.0.0.1", 110)).toBe("127.0.0.1:110")
  })
})

describe("connect options", () => {
  it("connect to an IPv6 address given in brackets, and verify it without them", () => {
    const { target } = resolveOptions({ host: "[::1]", tls: "implicit" })
    expect(target.host).toBe("::1")
    expect(target.servername).toBe("::1")
    expect(resolveOptions({ host: "[::1]", servername: "pop.example.com" }).target.servername).toBe("pop.example.com")
  })

  it("a refused connection to [::1] names it so, and is no DNS failure", async () => {
    // A port just freed on the IPv6 loopback; where there is no IPv6 the failure differs,
    // but it is still a connect failure to the address, not a name that did not resolve.
    const probe = createServer()
    const port = await new Promise<number>((resolve) =>
      probe.once("error", () => resolve(1)).listen(0, "::1", () => resolve((probe.address() as { port: number }).port))
    )
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()))
    const exit = await Effect.runPromiseExit(
      connect({ host: "[::1]", port, tls: "none", timeout: 5000 }).pipe(
        Effect.scoped,
        Effect.provide(NodeTransport.layer)
      )
    )
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
    expect(error?._tag).toBe("ConnectError")
    expect(error?.message).toMatch(new RegExp(`^cannot connect to \\[::1\\]:${port}: `))
    expect(error?.message).not.toMatch(/ENOTFOUND|getaddrinfo/)
  })

  it("the trace shows the address bracketed", () => {
    expect(
      formatTraceEvent({ _tag: "Connecting", at: 5, host: "::1", port: 110, tls: "none", transport: "node" }, 5)
    ).toBe("   0.000s .. connecting to [::1]:110 (tls none, node)")
  })
})
