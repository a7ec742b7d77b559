// Under CI a missing service must fail the suite, whatever non-empty value CI has.
import { describe, expect, it } from "vitest"
import { isCI } from "./ci.ts"
import { requireService } from "./require-service.ts"

const missing = { ok: false, why: "not installed here" } as const

describe("isCI", () => {
  it("is true for any non-empty CI", () => {
    for (const value of ["true", "1", "yes", "woodpecker"]) expect(isCI({ CI: value }), value).toBe(true)
  })

  it("is false when CI is unset or empty", () => {
    expect(isCI({})).toBe(false)
    expect(isCI({ CI: "" })).toBe(false)
  })
})

describe("requireService", () => {
  it("throws under CI=1 (not only CI=true) when the service is missing", () => {
    expect(() => requireService("Dovecot", missing, { CI: "1" })).toThrow(
      /Dovecot is required under CI \(CI=1\) but unavailable: not installed here/
    )
    expect(() => requireService("Dovecot", missing, { CI: "true" })).toThrow(/required under CI/)
  })

  it("returns false (skip, saying why) outside CI", () => {
    expect(requireService("Dovecot", missing, {})).toBe(false)
  })

  it("returns true when the service is there, CI or not", () => {
    expect(requireService("Dovecot", { ok: true }, { CI: "1" })).toBe(true)
    expect(requireService("Dovecot", { ok: true }, {})).toBe(true)
  })
})
