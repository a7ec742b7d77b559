// The CLI's argument parsing, which is pure: every option, every command, every usage error.

import { describe, expect, it } from "vitest"
import { AUTH_CHOICES, type CliOptions, type Parsed, parseCli, USAGE } from "../../core/cli/args.ts"

const BASE = ["--host", "pop.example.com", "--user", "alice"]

const options = (argv: ReadonlyArray<string>): CliOptions => {
  const parsed = parseCli(argv)
  if (parsed._tag !== "Run") throw new Error(`expected Run, got ${JSON.stringify(parsed)}`)
  return parsed.options
}

const usageError = (argv: ReadonlyArray<string>): string => {
  const parsed: Parsed = parseCli(argv)
  if (parsed._tag !== "UsageError") throw new Error(`expected UsageError, got ${JSON.stringify(parsed)}`)
  return parsed.message
}

describe("defaults", () => {
  it("fills in every default", () => {
    expect(options([...BASE, "stat"])).toEqual({
      host: "pop.example.com",
      port: 110,
      tls: "starttls",
      user: "alice",
      auth: "auto",
      ca: undefined,
      insecure: false,
      timeoutSeconds: 30,
      trace: false,
      json: false,
      bridge: undefined,
      endToEnd: false,
      command: { name: "stat" }
    })
  })

  it("--tls implicit defaults the port to 995", () => {
    expect(options([...BASE, "--tls", "implicit", "stat"])).toMatchObject({ tls: "implicit", port: 995 })
  })

  it("--port 995 defaults TLS to implicit", () => {
    expect(options([...BASE, "--port", "995", "stat"])).toMatchObject({ tls: "implicit", port: 995 })
  })

  it("an explicit --tls wins over the port's default", () => {
    expect(options([...BASE, "--port", "995", "--tls", "none", "stat"])).toMatchObject({ tls: "none", port: 995 })
    expect(options([...BASE, "--port", "995", "--tls", "starttls", "stat"])).toMatchObject({
      tls: "starttls",
      port: 995
    })
  })
})

describe("options", () => {
  it("--host takes an IPv6 address with or without brackets, as one host", () => {
    expect(options(["stat", "--host", "[::1]", "--user", "a"]).host).toBe("::1")
    expect(options(["stat", "--host", "::1", "--user", "a"]).host).toBe("::1")
    expect(options(["stat", "--host", "[2001:db8::25]", "--user", "a"]).host).toBe("2001:db8::25")
    expect(options(["stat", "--host", "mail.example.org", "--user", "a"]).host).toBe("mail.example.org")
  })

  it("takes every option, in --opt value and --opt=value forms, before or after the command", () => {
    expect(
      options([
        "stat",
        "--host=mail.example.org",
        "--port",
        "1110",
        "--tls=none",
        "--user",
        "bob",
        "--auth",
        "apop",
        "--ca",
        "/etc/ca.pem",
        "--insecure",
        "--timeout",
        "2.5",
        "--trace",
        "--json"
      ])
    ).toEqual({
      host: "mail.example.org",
      port: 1110,
      tls: "none",
      user: "bob",
      auth: "apop",
      ca: "/etc/ca.pem",
      insecure: true,
      timeoutSeconds: 2.5,
      trace: true,
      json: true,
      bridge: undefined,
      endToEnd: false,
      command: { name: "stat" }
    })
    // --bridge in both forms (with --ca and --insecure only through --end-to-end, below).
    expect(options(["stat", "--host=h", "--user", "bob", "--bridge", "wss://b.example/pop3"]).bridge).toBe(
      "wss://b.example/pop3"
    )
    expect(options(["stat", "--host=h", "--user", "bob", "--bridge=wss://b.example/pop3"]).bridge).toBe(
      "wss://b.example/pop3"
    )
  })

  it("accepts every --auth choice, case-insensitively", () => {
    for (const choice of AUTH_CHOICES) {
      expect(options([...BASE, "--auth", choice, "stat"]).auth).toBe(choice)
      expect(options([...BASE, "--auth", choice.toUpperCase(), "stat"]).auth).toBe(choice)
    }
  })

  it("--end-to-end with --bridge and --tls implicit or starttls", () => {
    const bridge = ["--bridge", "wss://bridge.example.org/pop3", "--end-to-end"]
    expect(options([...BASE, ...bridge, "--tls", "implicit", "stat"])).toMatchObject({
      endToEnd: true,
      tls: "implicit"
    })
    expect(options([...BASE, ...bridge, "stat"])).toMatchObject({ endToEnd: true, tls: "starttls", port: 110 })
  })

  it("accepts the port range 1–65535", () => {
    expect(options([...BASE, "--port", "1", "stat"]).port).toBe(1)
    expect(options([...BASE, "--port", "65535", "stat"]).port).toBe(65535)
  })

  it("accepts fractional and exponent timeouts", () => {
    expect(options([...BASE, "--timeout", "0.3", "stat"]).timeoutSeconds).toBe(0.3)
    expect(options([...BASE, "--timeout", "1e2", "stat"]).timeoutSeconds).toBe(100)
  })
})

describe("commands", () => {
  it("capa, with or without --user", () => {
    expect(options(["--host", "h", "capa"]).command).toEqual({ name: "capa" })
    expect(options(["--host", "h", "capa"]).user).toBeUndefined()
    expect(options([...BASE, "capa"])).toMatchObject({ user: "alice", command: { name: "capa" } })
  })

  it("stat", () => {
    expect(options([...BASE, "stat"]).command).toEqual({ name: "stat" })
  })

  it("list and uidl, with and without a message number", () => {
    expect(options([...BASE, "list"]).command).toEqual({ name: "list", msg: undefined })
    expect(options([...BASE, "list", "3"]).command).toEqual({ name: "list", msg: 3 })
    expect(options([...BASE, "uidl"]).command).toEqual({ name: "uidl", msg: undefined })
    expect(options([...BASE, "uidl", "12"]).command).toEqual({ name: "uidl", msg: 12 })
  })

  it("top N LINES (LINES may be 0)", () => {
    expect(options([...BASE, "top", "2", "10"]).command).toEqual({ name: "top", msg: 2, lines: 10 })
    expect(options([...BASE, "top", "1", "0"]).command).toEqual({ name: "top", msg: 1, lines: 0 })
  })

  it("retr N", () => {
    expect(options([...BASE, "retr", "7"]).command).toEqual({ name: "retr", msg: 7 })
    expect(options([...BASE, "retr", "007"]).command).toEqual({ name: "retr", msg: 7 })
  })

  it("dele N...", () => {
    expect(options([...BASE, "dele", "1"]).command).toEqual({ name: "dele", msgs: [1] })
    expect(options([...BASE, "dele", "3", "1", "2"]).command).toEqual({ name: "dele", msgs: [3, 1, 2] })
  })
})

describe("help and version", () => {
  it("-h and --help win over everything else, even errors", () => {
    expect(parseCli(["-h"])).toEqual({ _tag: "Help" })
    expect(parseCli(["--help"])).toEqual({ _tag: "Help" })
    expect(parseCli(["--help", "--port", "nope", "frobnicate"])).toEqual({ _tag: "Help" })
  })

  it("--version", () => {
    expect(parseCli(["--version"])).toEqual({ _tag: "Version" })
    expect(usageError(["--version", "stat"])).toBe('--version takes no command, got "stat"')
  })

  it("the usage text documents every command, option and exit status", () => {
    for (const word of ["capa", "stat", "list [N]", "uidl [N]", "top N LINES", "retr N", "dele N..."])
      expect(USAGE).toContain(word)
    for (const option of [
      "--host",
      "--port",
      "--tls",
      "--user",
      "--auth",
      "--ca",
      "--insecure",
      "--timeout",
      "--bridge",
      "--end-to-end",
      "--trace",
      "--json",
      "--help",
      "--version"
    ]) {
      expect(USAGE).toContain(option)
    }
    expect(USAGE).toContain("POP3_PASSWORD")
    expect(USAGE).toMatch(/0 ok, 1 the server refused, 2 usage, 3 network\/TLS\/timeout, 4 protocol violation/)
  })
})

describe("usage errors", () => {
  it("a password on the command line is refused, without echoing it", () => {
    for (const argv of [
      [...BASE, "--password", "hunter2", "stat"],
      [...BASE, "--password=hunter2", "stat"],
      [...BASE, "--pass", "hunter2", "stat"]
    ]) {
      const message = usageError(argv)
      expect(message).toBe("passwords are not accepted on the command line; set POP3_PASSWORD")
      expect(message).not.toContain("hunter2")
    }
  })

  it("--end-to-end without --bridge, with --tls none or with --insecure", () => {
    expect(usageError([...BASE, "--end-to-end", "stat"])).toBe(
      "--end-to-end needs --bridge (it is TLS through a pop3-bridge)"
    )
    const bridged = [...BASE, "--bridge", "ws://127.0.0.1:8080/pop3", "--end-to-end"]
    expect(usageError([...bridged, "--tls", "none", "stat"])).toBe(
      "--end-to-end needs --tls implicit or starttls, not none"
    )
    expect(usageError([...bridged, "--insecure", "stat"])).toMatch(/^--end-to-end cannot be --insecure/)
  })

  it("--ca and --insecure through a bridge only with --end-to-end (else the bridge does the TLS)", () => {
    const bridged = [...BASE, "--bridge", "ws://127.0.0.1:8080/pop3", "--tls", "implicit"]
    expect(usageError([...bridged, "--ca", "ca.pem", "stat"])).toMatch(/^--ca applies to TLS this client does;/)
    expect(usageError([...bridged, "--insecure", "stat"])).toMatch(/^--insecure applies to TLS this client does;/)
    expect(options([...bridged, "--end-to-end", "--ca", "ca.pem", "stat"]).ca).toBe("ca.pem")
  })

  it("--host is required and must not be empty", () => {
    expect(usageError(["--user", "alice", "stat"])).toBe("--host is required")
    expect(usageError(["--host", "", "--user", "alice", "stat"])).toBe("--host is required")
  })

  it("every command but capa needs --user", () => {
    for (const command of [["stat"], ["list"], ["uidl", "1"], ["top", "1", "1"], ["retr", "1"], ["dele", "1"]]) {
      expect(usageError(["--host", "h", ...command])).toBe(
        `${command[0]} needs --user (and the password in POP3_PASSWORD)`
      )
      expect(usageError(["--host", "h", "--user", "", ...command])).toMatch(/needs --user/)
    }
  })

  it("no command, an unknown command", () => {
    expect(usageError(BASE)).toBe("no command given")
    expect(usageError([...BASE, "frobnicate"])).toBe('unknown command "frobnicate"')
    expect(usageError([...BASE, "STAT"])).toBe('unknown command "STAT"')
  })

  it("wrong numbers of arguments", () => {
    expect(usageError([...BASE, "stat", "1"])).toBe("stat takes 0 arguments, got 1")
    expect(usageError([...BASE, "capa", "x"])).toBe("capa takes 0 arguments, got 1")
    expect(usageError([...BASE, "list", "1", "2"])).toBe("list takes 0 to 1 argument, got 2")
    expect(usageError([...BASE, "top", "1"])).toBe("top takes 2 arguments, got 1")
    expect(usageError([...BASE, "top", "1", "2", "3"])).toBe("top takes 2 arguments, got 3")
    expect(usageError([...BASE, "retr"])).toBe("retr takes 1 argument, got 0")
    expect(usageError([...BASE, "retr", "1", "2"])).toBe("retr takes 1 argument, got 2")
    expect(usageError([...BASE, "dele"])).toBe("dele takes at least one message number")
  })

  it("bad message numbers and line counts", () => {
    expect(usageError([...BASE, "retr", "0"])).toBe('the message number must be a whole number ≥ 1, got "0"')
    expect(usageError([...BASE, "retr", "abc"])).toBe('the message number must be a whole number ≥ 1, got "abc"')
    expect(usageError([...BASE, "retr", "1.5"])).toMatch(/whole number ≥ 1, got "1.5"/)
    expect(usageError([...BASE, "retr", "1e3"])).toMatch(/whole number ≥ 1, got "1e3"/)
    expect(usageError([...BASE, "retr", " 1"])).toMatch(/whole number/)
    expect(usageError([...BASE, "retr", "--", "-1"])).toBe('the message number must be a whole number ≥ 1, got "-1"')
    expect(usageError([...BASE, "retr", "99999999999999999999"])).toMatch(/whole number ≥ 1/)
    expect(usageError([...BASE, "list", "0"])).toMatch(/the message number must be a whole number ≥ 1/)
    expect(usageError([...BASE, "uidl", "x"])).toMatch(/the message number must be a whole number ≥ 1/)
    expect(usageError([...BASE, "top", "0", "1"])).toMatch(/the message number must be a whole number ≥ 1/)
    expect(usageError([...BASE, "top", "1", "x"])).toBe('LINES must be a whole number ≥ 0, got "x"')
    expect(usageError([...BASE, "dele", "1", "two", "3"])).toBe(
      'a message number must be a whole number ≥ 1, got "two"'
    )
  })

  it("a negative number looks like an option and is refused", () => {
    expect(usageError([...BASE, "retr", "-1"])).toMatch(/-1/)
  })

  it("bad ports", () => {
    expect(usageError([...BASE, "--port", "0", "stat"])).toBe('--port must be a whole number ≥ 1, got "0"')
    expect(usageError([...BASE, "--port", "pop3", "stat"])).toBe('--port must be a whole number ≥ 1, got "pop3"')
    expect(usageError([...BASE, "--port", "65536", "stat"])).toBe("--port must be at most 65535, got 65536")
    expect(usageError([...BASE, "--port", "-5", "stat"])).toMatch(/.+/)
  })

  it("bad --tls, --auth and --timeout values", () => {
    expect(usageError([...BASE, "--tls", "ssl", "stat"])).toBe('--tls must be implicit, starttls or none, got "ssl"')
    expect(usageError([...BASE, "--auth", "kerberos", "stat"])).toBe(
      `--auth must be one of ${AUTH_CHOICES.join(", ")}, got "kerberos"`
    )
    for (const t of ["0", "-1", "abc", "", "Infinity", "1e400", "NaN", "0x10", "0b1", " 5 ", "5s"]) {
      expect(usageError([...BASE, `--timeout=${t}`, "stat"])).toBe(
        `--timeout must be a positive number of seconds, got ${JSON.stringify(t)}`
      )
    }
    // "--timeout -1" reads as an option after --timeout: refused by the parser itself.
    expect(usageError([...BASE, "--timeout", "-1", "stat"])).toMatch(/--timeout/)
  })

  it("unknown options, a missing option value, a value on a flag", () => {
    // An unknown option in one short line (Node's own text goes on about "--", quotes unbalanced).
    expect(usageError([...BASE, "--frobnicate", "stat"])).toBe("unknown option --frobnicate")
    expect(usageError([...BASE, "-x", "stat"])).toBe("unknown option -x")
    expect(usageError([...BASE, "stat", "--port"])).toMatch(/--port/)
    expect(usageError([...BASE, "--insecure=yes", "stat"])).toMatch(/--insecure/)
  })
})
