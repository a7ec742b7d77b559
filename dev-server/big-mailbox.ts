// A generated mailbox of 100,000 messages (user "big", password "big") for trying and
// measuring big mailboxes: the demo's virtualized list, streamed listings, headers fetched
// only for the rows shown.
//
// Nothing is held but one small object per message: each message is generated from its
// number when it is read (deterministic, ASCII only, so its size is its length and is
// known without encoding it), and its UID is derived from the number alone, so UIDs are
// stable across restarts. Portable: no Node APIs.

import type { StoredMessage } from "./store.ts"

export const BIG_USER = "big"
export const BIG_PASSWORD = "big"
export const BIG_COUNT = 100_000

const FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret"]
const LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee"]
const WORDS = [
  "quarterly",
  "report",
  "meeting",
  "notes",
  "invoice",
  "release",
  "draft",
  "review",
  "budget",
  "travel",
  "server",
  "backup",
  "schedule",
  "question",
  "update",
  "follow-up"
]
// 2020-01-01T00:00:00Z; each message is 7 minutes after the one before.
const EPOCH = Date.UTC(2020, 0, 1)
const STEP = 7 * 60 * 1000

/** The subject of generated message `n`: what a test or the bench expects a row to show. */
export const bigSubject = (n: number): string =>
  `Message ${n}: ${WORDS[n % WORDS.length]} ${WORDS[(n * 7 + 3) % WORDS.length]} ${WORDS[(n * 13 + 5) % WORDS.length]}`

/** The UID of generated message `n`: from the number alone, so stable across restarts. */
export const bigUid = (n: number): string => `big-${n}`

/** Generated message `n` (1-based), CRLF line ends, ASCII only. */
export const bigMessage = (n: number): string => {
  const first = FIRST[n % FIRST.length]!
  const last = LAST[(n * 3) % LAST.length]!
  const date = new Date(EPOCH + n * STEP).toUTCString().replace("GMT", "+0000")
  return (
    `From: ${first} ${last} <${first.toLowerCase()}.${last.toLowerCase()}@example.com>\r\n` +
    `To: big@example.com\r\n` +
    `Subject: ${bigSubject(n)}\r\n` +
    `Date: ${date}\r\n` +
    `Message-ID: <${n}@big.example.com>\r\n` +
    `MIME-Version: 1.0\r\n` +
    `Content-Type: text/plain; charset=us-ascii\r\n` +
    `\r\n` +
    `This is generated message ${n} of the big mailbox.\r\n` +
    `${".".repeat(n % 3)}A line that may start with dots, to keep dot-stuffing honest.\r\n` +
    `${"lorem ipsum ".repeat(1 + (n % 20))}\r\n`
  )
}

const encoder = new TextEncoder()

/** A message generated when read; only its number is held. */
class GeneratedMessage implements StoredMessage {
  private readonly n: number
  private readonly sizes: Uint32Array
  constructor(n: number, sizes: Uint32Array) {
    this.n = n
    this.sizes = sizes
  }
  get uid(): string {
    return bigUid(this.n)
  }
  get data(): Uint8Array {
    return encoder.encode(bigMessage(this.n))
  }
  get size(): number {
    // Computed once per message (STAT and LIST ask for every size); ASCII, so length = octets.
    const i = this.n - 1
    if (this.sizes[i] === 0) this.sizes[i] = bigMessage(this.n).length
    return this.sizes[i]!
  }
}

/** The messages of the generated mailbox, for `makeMailStore`'s `stored` seed. */
export const bigMessages = (count = BIG_COUNT): ReadonlyArray<StoredMessage> => {
  const sizes = new Uint32Array(count)
  return Array.from({ length: count }, (_, i) => new GeneratedMessage(i + 1, sizes))
}

/** The seed for makeMailStore: the generated mailbox under its user. */
export const bigMailbox = (count = BIG_COUNT) => ({
  [BIG_USER]: { password: BIG_PASSWORD, messages: [], stored: bigMessages(count) }
})
