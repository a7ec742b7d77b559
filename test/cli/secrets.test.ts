// The secrets test for the CLI: every mechanism, success and failure, with --trace and
// --json, a canary password and token, and a search for them in stdout and stderr (the
// client's surfaces: test/core/client/secrets.test.ts). Each run checks that the CLI printed
// something and, where the mechanism sends the secret itself, that it crossed the wire.

import { describe, expect, it } from "vitest"
import { main } from "../../core/cli/main.ts"
import { type AuthServer, MESSAGES, type Mode, MODES, USER } from "../core/client/auth-harness.ts"
import {
  ALL,
  CANARY,
  CANARY_TOKEN,
  canaryServer,
  crossedTheWire,
  leaksIn,
  otherServer,
  secret,
  sendsSecret
} from "../core/client/canary.ts"

describe("the CLI never prints the canary", () => {
  const cli = async (
    server: AuthServer,
    args: ReadonlyArray<string>,
    password: string
  ): Promise<{ code: number; stdout: string; stderr: string; crossed: boolean }> => {
    let stdout = ""
    let stderr = ""
    const code = await main(args, {
      stdout: async (bytes) => {
        stdout += typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)
      },
      stderr: (text) => {
        stderr += text + "\n"
      },
      env: { POP3_PASSWORD: password },
      readFile: () => "",
      transport: server.layer
    })
    expect(stdout + stderr, `pop3 ${args.join(" ")} printed something`).not.toBe("")
    expect(leaksIn(stdout), `stdout of pop3 ${args.join(" ")}: ${stdout}`).toEqual([])
    expect(leaksIn(stderr), `stderr of pop3 ${args.join(" ")}: ${stderr}`).toEqual([])
    return { code, stdout, stderr, crossed: crossedTheWire(server) }
  }

  const argv = (mode: Mode, mechanism: string, ...extra: ReadonlyArray<string>) => [
    "--host",
    "memory.test",
    "--tls",
    mode,
    "--user",
    USER,
    "--auth",
    mechanism,
    "--timeout",
    "2",
    ...extra,
    "stat"
  ]

  for (const mode of MODES) {
    it.each(ALL)(`tls ${mode}: %s, success and failure, with --trace and with --json`, async (mechanism) => {
      for (const extra of [["--trace"], ["--json"], ["--trace", "--json"]]) {
        const ok = await cli(canaryServer(), argv(mode, mechanism, ...extra), secret(mechanism))
        expect(ok.code, ok.stderr).toBe(0)
        if (sendsSecret(mechanism)) expect(ok.crossed).toBe(true)
        expect(ok.stdout).toContain(extra.includes("--json") ? `"count":${MESSAGES.length}` : `${MESSAGES.length} `)
        if (extra.includes("--trace")) expect(ok.stderr).toMatch(/C: (AUTH|USER|APOP) /)

        const refused = await cli(otherServer(), argv(mode, mechanism, ...extra), secret(mechanism))
        expect(refused.code, refused.stderr).toBe(1)
        expect(refused.stderr).toMatch(/login failed/)
        if (sendsSecret(mechanism)) expect(refused.crossed).toBe(true)

        const injected = await cli(otherServer(), argv(mode, mechanism, ...extra), `${secret(mechanism)}\r\nDELE 1`)
        expect([1, 2]).toContain(injected.code)
      }
    })
  }

  it.each(["xoauth2", "oauthbearer"])("the OAuth error JSON is printed, the token is not (%s)", async (mechanism) => {
    const { code, stderr, crossed } = await cli(otherServer(), argv("implicit", mechanism, "--trace"), CANARY_TOKEN)
    expect(code).toBe(1)
    expect(crossed).toBe(true)
    expect(stderr).toContain('"status":')
  })

  it("a wrong SCRAM signature, and no signature", async () => {
    for (const sasl of [{ scramWrongSignature: true }, { scramNoSignature: true }]) {
      const { code, stderr } = await cli(canaryServer({ sasl }), argv("implicit", "auto", "--trace"), CANARY)
      expect(code).toBe(1)
      expect(stderr).toMatch(/SCRAM-SHA-256/)
    }
  })
})
