// The mechanism registry is the one list: ranks are unique and order it, the CLI's --auth
// choices and the README's table are derived from it (the table is checked here, so the
// docs cannot drift from the code).

import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { mechanisms } from "../../../core/auth/registry.ts"
import { AUTH_CHOICES, USAGE } from "../../../core/cli/args.ts"
import type { Mechanism } from "../../../core/index.ts"

const reveals = (m: Mechanism) =>
  !m.plaintext ? "a digest, crackable offline" : m.credential === "token" ? "the token" : "the password"

/** The README's table, as the registry says it should read. */
const table = (): string => {
  let order = 0
  const rows = mechanisms.map(
    (m) =>
      `| ${m.name} | \`${m.name.toLowerCase()}\` | ${m.auto ? String(++order) : "only when named"} | ${reveals(m)} | ${m.credential} |`
  )
  return [
    "| mechanism | `--auth` | `auto` tries it | without TLS it reveals | credential |",
    "| --- | --- | ---: | --- | --- |",
    ...rows
  ].join("\n")
}

describe("the mechanism registry", () => {
  it("is ordered by rank, strongest first, and ranks and names are unique", () => {
    const ranks = mechanisms.map((m) => m.rank)
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks)
    expect(new Set(ranks).size).toBe(mechanisms.length)
    expect(new Set(mechanisms.map((m) => m.name)).size).toBe(mechanisms.length)
  })

  it("gives the CLI its --auth choices and usage text", () => {
    expect(AUTH_CHOICES).toEqual(["auto", ...mechanisms.map((m) => m.name.toLowerCase())])
    expect(USAGE).toContain(`--auth MECH          ${AUTH_CHOICES.join(" | ")} (default auto)`)
  })

  it("is what the README's table says", () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
    expect(readme).toContain(table())
  })
})
