/**
 * The Maildir delivery the benchmark's own scripts use (node-pop3), matching what
 * `pop3 fetch` does (core/cli/maildir.ts): write to tmp/, fsync, close, rename into new/,
 * and fsync new/ at the end. Line ends become LF, as in pop3 fetch, mpop and poplib.
 */
import { mkdirSync } from "node:fs"
import { open, rename } from "node:fs/promises"
import { hostname } from "node:os"
import { join } from "node:path"

export interface SimpleMaildir {
  readonly deliver: (bytes: Uint8Array) => Promise<void>
  readonly syncNew: () => Promise<void>
}

export function simpleMaildir(root: string): SimpleMaildir {
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(root, sub), { recursive: true, mode: 0o700 })
  const host = hostname()
  let counter = 0
  return {
    async deliver(bytes) {
      const name = `${Math.floor(Date.now() / 1000)}.P${process.pid}Q${++counter}.${host}`
      const tmp = join(root, "tmp", name)
      const file = await open(tmp, "wx", 0o600)
      try {
        await file.writeFile(bytes)
        await file.sync()
      } finally {
        await file.close()
      }
      await rename(tmp, join(root, "new", name))
    },
    async syncNew() {
      const dir = await open(join(root, "new"), "r")
      try {
        await dir.sync()
      } finally {
        await dir.close()
      }
    }
  }
}
