// The demo's text formatting (web-demo/src/format.ts) that the trace and the replay show.
import { describe, expect, it } from "vitest"
import { hostPort } from "../../web-demo/src/format.ts"

describe("hostPort", () => {
  it("brackets an IPv6 address before its port, as the library's messages do", () => {
    expect(hostPort("::1", 110)).toBe("[::1]:110")
    expect(hostPort("2001:db8::25", 995)).toBe("[2001:db8::25]:995")
    expect(hostPort("playground", 110)).toBe("playground:110")
    expect(hostPort("127.0.0.1", 1110)).toBe("127.0.0.1:1110")
  })
})
