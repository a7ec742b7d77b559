// The dev server's maildrops: messages held in memory with CRLF line ends, stable UIDs,
// one session at a time per mailbox (RFC 1939 §8 exclusive-access lock), and deletions
// applied only when a session commits its UPDATE state.
//
// Portable: web-standard APIs and @noble/hashes only, so the same store can run in a browser.

import { md5 } from "@noble/hashes/legacy.js"
import { bytesToHex } from "@noble/hashes/utils.js"

export interface StoredMessage {
  /** Unique within the mailbox and never reused while the store lives (RFC 1939 §7). */
  readonly uid: string
  /** The message exactly as served: CRLF line ends, ending in CRLF unless empty. Never mutate. */
  readonly data: Uint8Array
  /** `data.length`, for a message that is generated when read (big-mailbox.ts): known without generating it. */
  readonly size?: number
}

export interface MailboxLock {
  readonly user: string
  /** The maildrop as it was when the session locked it; later deliveries are not seen. */
  readonly messages: ReadonlyArray<StoredMessage>
  /** UPDATE state: removes the given messages from the mailbox and releases the lock. */
  commit(deleted: Iterable<StoredMessage>): void
  /** Releases the lock without removing anything (session ended without QUIT). */
  release(): void
}

export type LockResult =
  | { readonly ok: true; readonly lock: MailboxLock }
  | { readonly ok: false; readonly reason: "unknown-user" | "in-use" }

export interface MailStore {
  /** True when the user exists and the password matches exactly. */
  checkPassword(user: string, password: string): boolean
  /** The shared secret for APOP and challenge-response SASL mechanisms; undefined for unknown users. */
  secret(user: string): string | undefined
  /** Takes the exclusive lock on a maildrop. */
  lock(user: string): LockResult
  isLocked(user: string): boolean
  /** The mailbox's current messages (for tests and tools); empty for unknown users. */
  messages(user: string): ReadonlyArray<StoredMessage>
  /** Appends a message as if newly delivered; sessions holding the lock do not see it. */
  deliver(user: string, message: Uint8Array | string): StoredMessage
}

export interface MailboxSeed {
  readonly password: string
  readonly messages: ReadonlyArray<Uint8Array | string>
  /** Messages already in the wire's form with their UIDs, served before `messages` (big-mailbox.ts). */
  readonly stored?: ReadonlyArray<StoredMessage>
}

interface Mailbox {
  readonly password: string
  messages: StoredMessage[]
  locked: boolean
  /** Next UID sequence number; only grows, so a UID is never handed out twice. */
  nextSeq: number
}

const encoder = new TextEncoder()

/**
 * Converts a message to the wire's canonical form: every bare LF becomes CRLF, and a
 * non-empty message gets a final CRLF so the ".CRLF" terminator always starts a line.
 * Always returns a fresh copy, so callers mutating their input cannot change the store.
 */
export function toCrlf(message: Uint8Array | string): Uint8Array {
  const input = typeof message === "string" ? encoder.encode(message) : message
  let bareLf = 0
  for (let i = 0; i < input.length; i++) {
    if (input[i] === 0x0a && (i === 0 || input[i - 1] !== 0x0d)) bareLf++
  }
  const needsEnd = input.length > 0 && input[input.length - 1] !== 0x0a
  const out = new Uint8Array(input.length + bareLf + (needsEnd ? 2 : 0))
  let o = 0
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!
    if (b === 0x0a && (i === 0 || input[i - 1] !== 0x0d)) out[o++] = 0x0d
    out[o++] = b
  }
  if (needsEnd) {
    out[o++] = 0x0d
    out[o++] = 0x0a
  }
  return out
}

// "<seq>.<hash>": the sequence number makes the UID unique and never reused within a
// store; the content hash makes a restarted server with different content produce
// different UIDs, so a client remembering UIDs does not mistake new mail for old.
function makeUid(seq: number, data: Uint8Array): string {
  return `${seq}.${bytesToHex(md5(data)).slice(0, 12)}`
}

export function makeMailStore(mailboxes: Record<string, MailboxSeed>): MailStore {
  const boxes = new Map<string, Mailbox>()
  for (const [user, seed] of Object.entries(mailboxes)) {
    const box: Mailbox = { password: seed.password, messages: [...(seed.stored ?? [])], locked: false, nextSeq: 1 }
    for (const m of seed.messages) box.messages.push(newMessage(box, m))
    boxes.set(user, box)
  }

  function newMessage(box: Mailbox, message: Uint8Array | string): StoredMessage {
    const data = toCrlf(message)
    return { uid: makeUid(box.nextSeq++, data), data }
  }

  return {
    checkPassword: (user, password) => boxes.get(user)?.password === password,
    secret: (user) => boxes.get(user)?.password,
    isLocked: (user) => boxes.get(user)?.locked === true,
    messages: (user) => boxes.get(user)?.messages.slice() ?? [],
    deliver(user, message) {
      const box = boxes.get(user)
      if (box === undefined) throw new Error(`dev server: no mailbox ${JSON.stringify(user)}`)
      const stored = newMessage(box, message)
      box.messages.push(stored)
      return stored
    },
    lock(user) {
      const box = boxes.get(user)
      if (box === undefined) return { ok: false, reason: "unknown-user" }
      if (box.locked) return { ok: false, reason: "in-use" }
      box.locked = true
      let held = true
      const lock: MailboxLock = {
        user,
        messages: box.messages.slice(),
        commit(deleted) {
          if (!held) return
          const gone = new Set(deleted)
          box.messages = box.messages.filter((m) => !gone.has(m))
          held = false
          box.locked = false
        },
        release() {
          if (!held) return
          held = false
          box.locked = false
        }
      }
      return { ok: true, lock }
    }
  }
}
