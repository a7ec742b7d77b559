/**
 * Seeds one large message straight into a Dovecot user's Maildir/new/ (after
 * startDovecot), owned by uid 65534 like the harness's own mail. The file has CRLF line
 * ends and its sizes in the name (`,S=…,W=…`), so Dovecot sends it as it is and never has
 * to read it to learn its size. Body: 76-character base64 lines of random bytes — no line
 * starts with ".", so the wire carries the file's bytes exactly, plus the terminator.
 */
import { randomBytes } from "node:crypto"
import { chown, open, readdir, rename } from "node:fs/promises"
import { basename, dirname, join } from "node:path"

const MAIL_UID = 65534
const MAIL_GID = 65534

export interface SeededMessage {
  /** Size of the file = RETR body bytes (without the terminator). */
  readonly bytes: number
  /** CRLF line ends in it (a client that stores LF line ends gets `bytes - lines`). */
  readonly lines: number
  readonly path: string
}

/** Writes a message of about `size` bytes into `maildir`/new. */
export async function seedLargeMessage(maildir: string, size: number, label: string): Promise<SeededMessage> {
  const header = Buffer.from(
    [
      "From: Bench <bench@example.test>",
      "To: bench@example.test",
      `Subject: ${label}`,
      `Message-ID: <${label.replace(/\W/g, "-")}@bench.test>`,
      "Date: Mon, 01 Jan 2024 16:00:00 +0000",
      "MIME-Version: 1.0",
      "Content-Type: application/octet-stream",
      "Content-Transfer-Encoding: base64",
      "",
      ""
    ].join("\r\n")
  )
  // A 1 MiB-ish block of base64 lines, repeated: random enough, and fast to write.
  const lines: Array<string> = []
  const b64 = randomBytes(786_432).toString("base64")
  for (let i = 0; i + 76 <= b64.length; i += 76) lines.push(b64.slice(i, i + 76))
  const block = Buffer.from(lines.join("\r\n") + "\r\n")
  const blocks = Math.max(1, Math.round((size - header.length) / block.length))
  const total = header.length + blocks * block.length

  const base = `${1704067200 + blocks}.M${process.pid}P${blocks}.bench`
  const name = `${base},S=${total},W=${total}`
  const tmp = join(maildir, "tmp", name)
  const file = await open(tmp, "wx", 0o600)
  try {
    await file.write(header)
    for (let i = 0; i < blocks; i++) await file.write(block)
  } finally {
    await file.close()
  }
  await chown(tmp, MAIL_UID, MAIL_GID)
  const path = join(maildir, "new", name)
  await rename(tmp, path)
  return { bytes: total, lines: 9 + blocks * lines.length, path }
}

/** Writes `content` (CRLF line ends, no line starting with ".") into `maildir`/new as one message. */
export async function seedMessage(maildir: string, content: Uint8Array, label: string): Promise<SeededMessage> {
  const total = content.length
  const name = `${1704067200}.M${process.pid}P${label.replace(/\W/g, "")}.bench,S=${total},W=${total}`
  const tmp = join(maildir, "tmp", name)
  const file = await open(tmp, "wx", 0o600)
  try {
    await file.write(content)
  } finally {
    await file.close()
  }
  await chown(tmp, MAIL_UID, MAIL_GID)
  const path = join(maildir, "new", name)
  await rename(tmp, path)
  let lines = 0
  for (let i = content.indexOf(10); i !== -1; i = content.indexOf(10, i + 1)) lines++
  return { bytes: total, lines, path }
}

/**
 * Where a seeded message is now: once a client has read it, Dovecot moves it from new/ to
 * cur/ and adds its flags to the name (`…:2,S`).
 */
export async function currentPath(seeded: string): Promise<string> {
  const name = basename(seeded)
  const maildir = dirname(dirname(seeded))
  for (const dir of ["new", "cur"]) {
    const found = (await readdir(join(maildir, dir))).find((n) => n === name || n.startsWith(`${name}:`))
    if (found !== undefined) return join(maildir, dir, found)
  }
  throw new Error(`the seeded message ${name} is in neither new/ nor cur/`)
}
