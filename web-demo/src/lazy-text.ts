// A long text shown a part at a time: the raw source of a 20 MB message would be 20 MB of
// DOM text (seconds of layout on the main thread, and the heap to hold it). The first part
// is read and shown; "Show more" appends the next, always from where the last part ended.
import { h } from "./dom.ts"
import { exactOctets } from "./format.ts"

/** The first part shown, and each "Show more": characters of text, or octets of a Blob. */
export const FIRST_PART = 64 * 1024
export const MORE_PART = 256 * 1024

export interface LazySource {
  /** The total length, in the unit `read` counts in. */
  readonly total: number
  /** Reads [from, to) as text; `last` is true for the final part (a decoder flushes then). */
  readonly read: (from: number, to: number, last: boolean) => Promise<string>
  /** How the counts are told: "octets" or "characters". */
  readonly unit: "octets" | "characters"
  /** Names the text in the button's label, e.g. "the source". */
  readonly what: string
}

/** A Blob read as UTF-8 (lenient: bad bytes become U+FFFD), one slice at a time. */
export const blobSource = (blob: Blob, what: string): LazySource => {
  const decoder = new TextDecoder("utf-8", { fatal: false })
  return {
    total: blob.size,
    unit: "octets",
    what,
    // A character split between two slices is completed by the stream flag.
    read: async (from, to, last) => decoder.decode(await blob.slice(from, to).arrayBuffer(), { stream: !last })
  }
}

export const stringSource = (text: string, what: string): LazySource => ({
  total: text.length,
  unit: "characters",
  what,
  read: async (from, to) => text.slice(from, to)
})

const count = (n: number, unit: LazySource["unit"]) =>
  unit === "octets" ? exactOctets(n) : `${n.toLocaleString("en")} characters`

/**
 * A `<pre class=…>` with the first part of `source`, and a "Show more" button while text remains.
 * `scrolls`: the class gives it a scroll box, so it takes focus for the keyboard to scroll it.
 */
export const lazyText = (className: string, source: LazySource, options: { scrolls?: boolean } = {}): HTMLElement => {
  const pre = h("pre", { class: className, tabindex: options.scrolls === true ? 0 : undefined })
  const note = h("p", { class: "muted small lazy-note", role: "status" })
  const more = h("button", { type: "button", class: "small" }, `Show more of ${source.what}`)
  let shown = 0
  let reading = false
  const tell = () => {
    const rest = source.total - shown
    more.hidden = rest <= 0
    note.hidden = rest <= 0
    note.textContent = `Showing the first ${count(shown, source.unit)} of ${count(source.total, source.unit)}: the rest is not put on the page until you ask.`
  }
  const next = async (n: number) => {
    if (reading || shown >= source.total) return
    reading = true
    more.disabled = true
    try {
      const to = Math.min(source.total, shown + n)
      pre.append(await source.read(shown, to, to === source.total))
      shown = to
    } finally {
      reading = false
      more.disabled = false
      tell()
    }
  }
  more.addEventListener("click", () => void next(MORE_PART))
  tell()
  void next(FIRST_PART)
  return h("div", { class: "lazy-text" }, pre, h("div", { class: "lazy-more" }, note, more))
}
