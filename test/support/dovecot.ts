// A real, self-contained Dovecot POP3 server for interop tests: its own config, cert,
// users and maildirs in a fresh temp directory, nothing read from /etc/dovecot, no
// systemd. Dovecot must run as root because its mail processes switch to uid 65534.
import { spawn } from "node:child_process"
import { createCipheriv, pbkdf2Sync } from "node:crypto"
import { accessSync, constants, readFileSync } from "node:fs"
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises"
import { createConnection, createServer } from "node:net"
import type { Server, Socket } from "node:net"
import type { Writable } from "node:stream"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { connect as tlsConnect } from "node:tls"
import type { ServiceCheck } from "./require-service.ts"

export interface DovecotUser {
  readonly user: string
  readonly password: string
  readonly maildir: string
}

export interface Dovecot {
  readonly host: "127.0.0.1"
  /** Plain POP3; STLS upgrades it. */
  readonly port: number
  /** Implicit TLS (the 995 style). */
  readonly tlsPort: number
  /** With `haproxy: true`: plain and implicit-TLS listeners that expect a PROXY protocol header first (`haproxy = yes`), trusted from 127.0.0.0/8. */
  readonly haproxyPort: number | undefined
  readonly haproxyTlsPort: number | undefined
  /** Dovecot's log file (login lines carry `rip=`, the remote address it believes). */
  readonly logFile: string
  /** PEM of the self-signed cert (CN=localhost, SAN DNS:localhost, IP:127.0.0.1). */
  readonly ca: string
  /** The path of its dovecot.conf (for doveconf). */
  readonly config: string
  readonly users: { alice: DovecotUser; bob: DovecotUser; empty: DovecotUser; bulk: DovecotUser }
  /** The seeded messages of a user, in the order Dovecot numbers them (1..n), as the exact bytes Dovecot sends for RETR (LF in the file -> CRLF on the wire, no dot-stuffing, no terminator). */
  messages(user: keyof Dovecot["users"]): ReadonlyArray<Uint8Array>
  /** Re-seed every mailbox to its initial content (after DELE tests). Dovecot need not restart. */
  reset(): Promise<void>
  stop(): Promise<void>
}

type UserName = keyof Dovecot["users"]

const DOVECOT = "/usr/sbin/dovecot"
const POP3_BINARY = "/usr/lib/dovecot/pop3"
// nobody:nogroup -- Dovecot refuses to access mail as uid 0.
const MAIL_UID = 65534
const MAIL_GID = 65534
const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000

/** Whether this machine can run the Dovecot interop tests, and if not, why. */
export function dovecotAvailable(): ServiceCheck {
  const install = "apt-get install -y --no-install-recommends dovecot-core dovecot-pop3d openssl"
  if (process.platform !== "linux") return { ok: false, why: `Dovecot tests need Linux (this is ${process.platform})` }
  if (!executable(DOVECOT)) return { ok: false, why: `${DOVECOT} not found (${install})` }
  if (!executable(POP3_BINARY)) return { ok: false, why: `${POP3_BINARY} not found (${install})` }
  if (findOnPath("openssl") === undefined) return { ok: false, why: `openssl not found (${install})` }
  if (process.getuid?.() !== 0) {
    return { ok: false, why: "not running as root: Dovecot needs root to serve mail owned by uid 65534 (nobody)" }
  }
  return { ok: true }
}

/**
 * Starts a fresh Dovecot on free loopback ports and resolves once both ports greet. With
 * `certificate` it serves that one (and `ca` is `certificate.ca`) instead of a self-signed
 * one: end-to-end TLS verifies as browsers do, so it needs a certificate issued by a CA
 * (test/support/pki.ts).
 */
export async function startDovecot(options?: {
  bulkMessages?: number
  haproxy?: boolean
  certificate?: { readonly cert: string; readonly key: string; readonly ca: string }
}): Promise<Dovecot> {
  const check = dovecotAvailable()
  if (!check.ok) throw new Error(`cannot start Dovecot: ${check.why}`)
  const bulkMessages = options?.bulkMessages ?? 20
  if (!Number.isInteger(bulkMessages) || bulkMessages < 0) {
    throw new Error(`bulkMessages must be a non-negative integer, got ${bulkMessages}`)
  }

  const root = await mkdtemp(join(tmpdir(), "pop3-dovecot-"))
  const conf = join(root, "dovecot.conf")
  const log = join(root, "dovecot.log")
  const mailboxes = mailboxFixtures(bulkMessages)
  const watchdog = startWatchdog(root, conf)
  try {
    // mkdtemp makes 0700; the mail processes (uid 65534) must reach root/mail/<user>.
    await chmod(root, 0o755)
    await mkdir(join(root, "mail"), { mode: 0o755 })
    await Promise.all([
      options?.certificate === undefined ? makeCert(root) : useCert(root, options.certificate),
      writeFile(join(root, "users"), usersFile(root, mailboxes), { mode: 0o644 }),
      ...userNames.map((u) => seedMailbox(root, u, mailboxes[u]))
    ])
    const ca = options?.certificate?.ca ?? (await readFile(join(root, "cert.pem"), "utf8"))

    let server:
      | { port: number; tlsPort: number; haproxy: readonly [number, number] | undefined; pid: number }
      | undefined
    // Free ports are picked by binding port 0 and closing, so another process can take
    // one before Dovecot binds it; that race is retried with new ports.
    for (let attempt = 1; server === undefined; attempt++) {
      const [port = 0, tlsPort = 0, proxied = 0, proxiedTls = 0] = await freePorts(options?.haproxy === true ? 4 : 2)
      const haproxy = options?.haproxy === true ? ([proxied, proxiedTls] as const) : undefined
      await writeFile(conf, dovecotConf(root, port, tlsPort, haproxy))
      const launched = await launch(conf)
      if (launched.code === 0) {
        server = { port, tlsPort, haproxy, pid: await waitReady(root, port, tlsPort, ca) }
      } else if (!/address already in use/i.test(launched.stderr) || attempt === 3) {
        throw new Error(`dovecot -c ${conf} exited with ${launched.code}: ${launched.stderr.trim()}${logTail(log)}`)
      }
    }

    const { pid } = server
    const users = Object.fromEntries(
      userNames.map((u) => [
        u,
        { user: u, password: mailboxes[u].password, maildir: join(mailDir(root, u), "Maildir") }
      ])
    ) as Record<UserName, DovecotUser>
    const wire = Object.fromEntries(
      userNames.map((u) => [u, Object.freeze(mailboxes[u].messages.map(toWire))])
    ) as Record<UserName, ReadonlyArray<Uint8Array>>

    const reseed = async (): Promise<void> => {
      await Promise.all(userNames.map((u) => seedMailbox(root, u, mailboxes[u])))
    }
    let resetting = Promise.resolve()
    let stopping: Promise<void> | undefined
    const stop = async (): Promise<void> => {
      watchdog.standDown()
      killDovecot(pid, conf)
      await waitUntil(() => !alive(pid), STOP_TIMEOUT_MS, `dovecot (pid ${pid}) did not exit`)
      await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
    }

    return {
      host: "127.0.0.1",
      port: server.port,
      tlsPort: server.tlsPort,
      haproxyPort: server.haproxy?.[0],
      haproxyTlsPort: server.haproxy?.[1],
      logFile: log,
      ca,
      config: conf,
      users,
      messages: (user) => wire[user],
      // Chained so that overlapping calls do not share the staging directories.
      reset: () => (resetting = resetting.then(reseed, reseed)),
      stop: () => (stopping ??= stop())
    }
  } catch (error) {
    watchdog.standDown()
    await stopFromPidFile(root, conf)
    await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
    throw error
  }
}

// ---------------------------------------------------------------------------------------
// Configuration

const userNames: ReadonlyArray<UserName> = ["alice", "bob", "empty", "bulk"]

const mailDir = (root: string, user: UserName): string => join(root, "mail", user)

function usersFile(root: string, mailboxes: Record<UserName, Mailbox>): string {
  // {PLAIN} passwords so that APOP, CRAM-MD5 and SCRAM can be verified by the server.
  return userNames
    .map((u) => `${u}:{PLAIN}${mailboxes[u].password}:${MAIL_UID}:${MAIL_GID}::${mailDir(root, u)}::\n`)
    .join("")
}

function dovecotConf(root: string, port: number, tlsPort: number, haproxy?: readonly [number, number]): string {
  const proxied =
    haproxy === undefined
      ? ""
      : `
  inet_listener pop3-haproxy {
    address = 127.0.0.1
    port = ${haproxy[0]}
    haproxy = yes
  }
  inet_listener pop3s-haproxy {
    address = 127.0.0.1
    port = ${haproxy[1]}
    ssl = yes
    haproxy = yes
  }`
  return `# Generated by test/support/dovecot.ts; includes nothing from /etc/dovecot.
protocols = pop3
listen = 127.0.0.1
base_dir = ${root}/base
state_dir = ${root}/state
instance_name = ${root.split("/").pop() ?? "pop3-dovecot"}
hostname = pop3.test
login_greeting = Dovecot test ready.

log_path = ${root}/dovecot.log
info_log_path = ${root}/dovecot.log
debug_log_path = ${root}/dovecot.log
auth_verbose = yes
log_timestamp = "%H:%M:%S.%{usecs} "

# Failed-login tests would otherwise wait 2 s per failure. Dovecot 2.3 still queues a
# failure for its 500 ms flush timer unless the reply carries "nodelay" (see the first passdb).
auth_failure_delay = 0

ssl = yes
ssl_cert = <${root}/cert.pem
ssl_key = <${root}/key.pem
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 apop scram-sha-1 scram-sha-256
# Only adds "nodelay" to every request and passes on (noauthenticate = result NEXT): a
# NEXT keeps its fields when the real passdb below fails, so a wrong password is answered
# at once instead of up to 500 ms later.
passdb {
  driver = static
  args = noauthenticate nodelay
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${root}/users
}
userdb {
  driver = passwd-file
  args = username_format=%u ${root}/users
}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
# The default of 10 sessions per user and IP would make parallel tests fail with [IN-USE].
mail_max_userip_connections = 1000

pop3_uidl_format = %08Xu%08Xv
pop3_logout_format = top=%t/%p, retr=%r/%b, del=%d/%m, size=%s

# Without this socket the auth process cannot track failures, so there is no per-IP
# penalty (2..15 s extra on the next login after a failed one).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${tlsPort}
    ssl = yes
  }${proxied}
}
${haproxy === undefined ? "" : "haproxy_trusted_networks = 127.0.0.0/8\n"}`
}

async function useCert(root: string, certificate: { readonly cert: string; readonly key: string }): Promise<void> {
  await writeFile(join(root, "key.pem"), certificate.key, { mode: 0o600 })
  await writeFile(join(root, "cert.pem"), certificate.cert, { mode: 0o644 })
}

// P-256 rather than the recipe's RSA 2048: RSA key generation takes 0.1 to 1.4 s
// (random prime search), EC about 10 ms, and every TLS client we test speaks ECDSA.
async function makeCert(root: string): Promise<void> {
  const { code, stderr } = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "3650",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    // A server certificate, not a CA: `req -x509` marks it CA:TRUE by default, and Deno's
    // TLS (rustls/webpki) refuses a CA certificate as the server's own, whatever it trusts.
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-keyout",
    join(root, "key.pem"),
    "-out",
    join(root, "cert.pem")
  ])
  if (code !== 0) throw new Error(`openssl req failed (${code}): ${stderr.trim()}`)
  await chmod(join(root, "key.pem"), 0o600)
  await chmod(join(root, "cert.pem"), 0o644)
}

// ---------------------------------------------------------------------------------------
// Mailboxes

interface Mailbox {
  readonly password: string
  readonly uidValidity: number
  /** File contents, LF line ends, in UID order. */
  readonly messages: ReadonlyArray<Uint8Array>
}

function mailboxFixtures(bulkMessages: number): Record<UserName, Mailbox> {
  const bulk = Array.from({ length: bulkMessages }, (_, i) => bulkMessage(i + 1))
  return {
    alice: {
      password: "alice-secret",
      uidValidity: 1700000000,
      messages: [msgSimple, msgDots, msgUtf8, msgRaw8bit].map(utf8).concat([largeMessage()])
    },
    bob: { password: "bob-secret", uidValidity: 1700000001, messages: [msgSimple, msgDots, msgUtf8].map(utf8) },
    empty: { password: "empty-secret", uidValidity: 1700000002, messages: [] },
    bulk: { password: "bulk-secret", uidValidity: 1700000003, messages: bulk.map(utf8) }
  }
}

/**
 * Writes a maildir with a dovecot-uidlist that fixes UIDVALIDITY and every UID, so the
 * message numbers and UIDLs (%08Xu%08Xv) are the same on every run and after every reset.
 * The new tree is built beside the old one and swapped in by rename, and Dovecot's index
 * files go with the old tree, so Dovecot rebuilds them from the uidlist on next login.
 */
async function seedMailbox(root: string, user: UserName, mailbox: Mailbox): Promise<void> {
  const home = mailDir(root, user)
  const staging = `${home}.new`
  const old = `${home}.old`
  await rm(staging, { recursive: true, force: true })
  const md = join(staging, "Maildir")
  const dirs = [staging, md, join(md, "cur"), join(md, "new"), join(md, "tmp")]
  for (const dir of dirs) await mkdir(dir, { mode: 0o700 })

  // The uidlist records base names; the ":2,S" suffix in cur/ marks a message as seen.
  const entries = mailbox.messages.map((bytes, i) => {
    const name = `${1704067201 + i}.M${i + 1}P1.pop3.test`
    return { uid: i + 1, name, file: join(md, "cur", `${name}:2,S`), bytes }
  })
  await Promise.all(entries.map((e) => writeFile(e.file, e.bytes, { mode: 0o600 })))
  const uidlist = join(md, "dovecot-uidlist")
  const header = `3 V${mailbox.uidValidity} N${entries.length + 1}\n`
  await writeFile(uidlist, header + entries.map((e) => `${e.uid} :${e.name}\n`).join(""), { mode: 0o600 })
  await Promise.all([...dirs, ...entries.map((e) => e.file), uidlist].map((p) => chown(p, MAIL_UID, MAIL_GID)))

  await rm(old, { recursive: true, force: true })
  try {
    await rename(home, old)
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error
  }
  await rename(staging, home)
  await rm(old, { recursive: true, force: true })
}

/** RETR bytes of a stored message: Dovecot turns every bare LF into CRLF on the wire. */
function toWire(file: Uint8Array): Uint8Array {
  let lf = 0
  for (const byte of file) if (byte === 0x0a) lf++
  const out = new Uint8Array(file.length + lf)
  let j = 0
  for (const byte of file) {
    if (byte === 0x0a) out[j++] = 0x0d
    out[j++] = byte
  }
  return out
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

const msgSimple = `Return-Path: <sender@example.test>
From: Sender <sender@example.test>
To: Alice <alice@example.test>
Subject: Simple message
Date: Mon, 01 Jan 2024 10:00:00 +0000
Message-ID: <simple-1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello Alice,
this is a simple message.
Bye.
`

// Every line that starts with "." must be stuffed on the wire, including "." alone.
const msgDots = `From: Dotty <dots@example.test>
To: Alice <alice@example.test>
Subject: Dot stuffing test
Date: Mon, 01 Jan 2024 11:00:00 +0000
Message-ID: <dots-2@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

line before
.leading dot line
..two leading dots
.
. a dot and space
...
last line
`

const msgUtf8 = `From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.test>
To: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.test>
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4g4piVIOaXpeacrOiqng==?=
Date: Mon, 01 Jan 2024 12:00:00 +0100
Message-ID: <utf8-3@example.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1_utf8"

This is a multi-part message in MIME format.

--b1_utf8
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe aus M=C3=BCnchen =E2=98=95
=E6=97=A5=E6=9C=AC=E8=AA=9E
--b1_utf8
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

PHA+R3LDvMOfZSBhdXMgTcO8bmNoZW4g4piVPC9wPgo=
--b1_utf8--
`

const msgRaw8bit = `From: Zoë <zoe@example.test>
To: alice@example.test
Subject: Raw 8-bit UTF-8 header: naïve café ☕
Date: Mon, 01 Jan 2024 13:00:00 +0000
Message-ID: <raw8-4@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Crème brûlée — 日本語 — 🙂
`

const bulkMessage = (i: number): string =>
  `From: Bulk <bulk@example.test>
To: bulk@example.test
Subject: Bulk message ${i}
Message-ID: <bulk-${i}@example.test>
Date: Mon, 01 Jan 2024 15:00:00 +0000

Body of bulk message ${i}.
.dot line ${i}
`

let largeCache: Uint8Array | undefined

/**
 * About 5.3 MB: a base64 attachment of 3 MiB of AES-128-CTR keystream. The key and IV
 * come from PBKDF2 like `openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:pop3-fixture`
 * in the shell recipe, so the file is byte-identical to the one the recipe writes.
 */
function largeMessage(): Uint8Array {
  if (largeCache !== undefined) return largeCache
  const keyIv = pbkdf2Sync("pop3-fixture", Buffer.alloc(0), 10_000, 32, "sha256")
  const cipher = createCipheriv("aes-128-ctr", keyIv.subarray(0, 16), keyIv.subarray(16))
  const base64 = cipher.update(Buffer.alloc(3_932_160)).toString("base64")
  const lines: Array<string> = []
  for (let i = 0; i < base64.length; i += 76) lines.push(base64.slice(i, i + 76))
  largeCache = utf8(`From: Big <big@example.test>
To: Alice <alice@example.test>
Subject: Large message (~5 MiB attachment)
Date: Mon, 01 Jan 2024 14:00:00 +0000
Message-ID: <large-5@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2_large"

--b2_large
Content-Type: text/plain; charset=us-ascii

See attachment.
--b2_large
Content-Type: application/octet-stream; name="blob.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="blob.bin"

${lines.join("\n")}
--b2_large--
`)
  return largeCache
}

// ---------------------------------------------------------------------------------------
// Processes

/**
 * The daemonized Dovecot would outlive a test process that dies before stop() -- a crash,
 * Ctrl-C, or a worker killed with SIGKILL. So a detached `sh` waits on a pipe from this
 * process: when the pipe closes without a stand-down word, the process is gone, and the
 * watchdog kills Dovecot's process group and removes the state directory.
 */
function startWatchdog(root: string, conf: string): { standDown(): void } {
  const script = `read word
[ "$word" = stand-down ] && exit 0
pid=$(cat "$1/base/master.pid" 2>/dev/null)
if [ -n "$pid" ] && tr '\\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
  kill -9 "-$pid"
fi
rm -rf -- "$1"`
  const child = spawn("sh", ["-c", script, "pop3-dovecot-watchdog", root, conf], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"]
  })
  // Without a watchdog only the cleanup on a crash is lost; stop() still works.
  child.once("error", () => undefined)
  child.stdin.once("error", () => undefined)
  // Neither the child nor the pipe may keep the test process alive.
  child.unref()
  ;(child.stdin as Writable & { unref?: () => void }).unref?.()
  return { standDown: () => void child.stdin.end("stand-down\n") }
}

/** Runs `dovecot -c conf`, which forks the master and exits once it has daemonized. */
function launch(conf: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOVECOT, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.once("error", reject)
    child.once("exit", (code) => {
      if (code === 0) {
        // The daemonized master's children inherit this pipe and keep it open for good.
        child.stderr.destroy()
        resolve({ code, stderr })
      } else {
        // A failed start has no daemon holding the pipe; wait for the last stderr bytes.
        child.stderr.once("close", () => resolve({ code: code ?? -1, stderr }))
      }
    })
  })
}

function run(command: string, args: ReadonlyArray<string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.once("error", reject)
    child.once("close", (code) => resolve({ code: code ?? -1, stderr }))
  })
}

/** Resolves with the master's pid once both ports send a +OK greeting. */
async function waitReady(root: string, port: number, tlsPort: number, ca: string): Promise<number> {
  const deadline = Date.now() + START_TIMEOUT_MS
  const log = join(root, "dovecot.log")
  let last = "no attempt yet"
  while (Date.now() < deadline) {
    const pid = readPid(root)
    if (pid !== undefined && !alive(pid)) throw new Error(`dovecot (pid ${pid}) exited during start-up${logTail(log)}`)
    // Only our probes have connected so far, so any error (say, an unusable cert) is fatal.
    if (problems(log).length > 0) throw new Error(`dovecot logged errors during start-up${logTail(log)}`)
    if (pid !== undefined) {
      try {
        const plain = await greeting(port, false, ca)
        const secure = await greeting(tlsPort, true, ca)
        if (plain.startsWith("+OK") && secure.startsWith("+OK")) return pid
        last = `unexpected greeting: ${JSON.stringify(plain)} / ${JSON.stringify(secure)}`
      } catch (error) {
        last = error instanceof Error ? error.message : String(error)
      }
    }
    await sleep(25)
  }
  throw new Error(
    `dovecot did not greet on ports ${port} and ${tlsPort} within ${START_TIMEOUT_MS} ms (${last})${logTail(log)}`
  )
}

/** Connects, reads the first line, and closes. */
function greeting(port: number, secure: boolean, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = secure
      ? tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca })
      : createConnection({ host: "127.0.0.1", port })
    let text = ""
    const finish = (error: Error | undefined): void => {
      socket.destroy()
      if (error === undefined) resolve(text.slice(0, text.indexOf("\r\n")))
      else reject(error)
    }
    socket.setTimeout(1000, () => finish(new Error(`no greeting on port ${port} within 1 s`)))
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => {
      text += chunk
      if (text.includes("\r\n")) finish(undefined)
    })
    socket.once("error", finish)
    socket.once("end", () => finish(new Error(`port ${port} closed before a greeting`)))
  })
}

function readPid(root: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(root, "base", "master.pid"), "utf8"), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Finds a master that started before start-up failed, and kills it. */
async function stopFromPidFile(root: string, conf: string): Promise<void> {
  const pid = readPid(root)
  if (pid === undefined) return
  killDovecot(pid, conf)
  await waitUntil(() => !alive(pid), STOP_TIMEOUT_MS, `dovecot (pid ${pid}) did not exit`).catch(() => undefined)
}

/**
 * SIGKILLs the master's whole process group (the daemonized master leads its own
 * session, so the group is exactly Dovecot's processes). A graceful SIGTERM costs
 * over a second -- the master sleeps 1 s for its log process -- and buys nothing, since
 * the whole state directory is deleted next.
 */
function killDovecot(pid: number, conf: string): void {
  const proc = procInfo(pid)
  if (proc === undefined) return
  // The pid may have been reused since Dovecot died.
  if (proc.cmdline !== undefined && !proc.cmdline.includes(conf)) return
  try {
    process.kill(proc.pgrp === pid ? -pid : pid, "SIGKILL")
  } catch (error) {
    if (!isErrno(error, "ESRCH")) throw error
  }
}

/** Alive and not a zombie: an exited daemon stays a zombie until init reaps it. */
function alive(pid: number): boolean {
  const proc = procInfo(pid)
  return proc !== undefined && proc.state !== "Z"
}

function procInfo(pid: number): { state: string; pgrp: number; cmdline: string | undefined } | undefined {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if (isErrno(error, "ESRCH")) return undefined
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
    const [state = "?", , pgrp = "0"] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ")
    return { state, pgrp: Number(pgrp), cmdline }
  } catch {
    return { state: "?", pgrp: 0, cmdline: undefined }
  }
}

async function waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`)
    await sleep(10)
  }
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** Distinct free loopback ports: all are held open together so none repeats. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer())
  try {
    return await Promise.all(servers.map(listenOnAnyPort))
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  }
}

function listenOnAnyPort(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") reject(new Error("no TCP address"))
      else resolve(address.port)
    })
  })
}

const problems = (log: string): Array<string> => readLog(log).filter((line) => /: (Error|Fatal|Panic): /.test(line))

/** The log's warnings and errors, or its last lines when there are none (the rest is mostly our probes). */
function logTail(log: string, lines = 20): string {
  const all = readLog(log)
  const worrying = all.filter((line) => /: (Warning|Error|Fatal|Panic): /.test(line))
  const shown = (worrying.length > 0 ? worrying : all).slice(-lines)
  return shown.length === 0 ? ` (${log} is empty or missing)` : `\n--- ${log} ---\n${shown.join("\n")}`
}

function readLog(log: string): Array<string> {
  try {
    return readFileSync(log, "utf8")
      .split("\n")
      .filter((line) => line !== "")
  } catch {
    return []
  }
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function findOnPath(name: string): string | undefined {
  return (process.env["PATH"] ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "")
    .map((dir) => join(dir, name))
    .find(executable)
}

const isErrno = (error: unknown, code: string): boolean =>
  error instanceof Error && (error as NodeJS.ErrnoException).code === code

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
