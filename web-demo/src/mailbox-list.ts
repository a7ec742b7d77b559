// The message list: one button per message (From, Subject, Date, size, UID), navigable
// with the arrow keys (one Tab stop for the whole list), Enter to open, Delete to mark.
//
// Virtualized, so a mailbox of 100,000 messages costs what one screen does: only the rows
// in the scrolled view, plus a margin, are in the DOM; the list's padding stands in for
// the rows above and below, so the scroll bar keeps the whole list's length. The scroll
// box is a wrapper, not the list: a box's padding is never cut by its own max-height. Each item
// says where it is in the whole (aria-setsize, aria-posinset), so a screen reader still
// announces "message 40,213 of 100,000". The keyboard moves by the list's order, not the
// DOM's: a move to a row not rendered yet scrolls it in first. `onShow` hears which rows
// are on screen or just below it — the demo reads headers for those only.
import { h, replace } from "./dom.ts"
import { octets, shortDate } from "./format.ts"

export interface Entry {
  readonly msg: number
  /** LIST's size; undefined until LIST reaches this row (the rows come from STAT's count). */
  size: number | undefined
  uid: string | undefined
  from: string | undefined
  fromAddress: string | undefined
  subject: string | undefined
  date: string | undefined
  loaded: boolean
  deleted: boolean
}

/** A row whose header is not read yet (its size and UID when already known). */
export const unloadedEntry = (msg: number, size?: number, uid?: string): Entry => ({
  msg,
  size,
  uid,
  from: undefined,
  fromAddress: undefined,
  subject: undefined,
  date: undefined,
  loaded: false,
  deleted: false
})

export interface MailboxList {
  readonly element: HTMLElement
  /** The whole list, in order (the array is read, not copied: push to it, then `set` it again). */
  readonly set: (entries: ReadonlyArray<Entry>) => void
  readonly update: (entry: Entry) => void
  readonly select: (msg: number | undefined) => void
}

/** Rows kept in the DOM above and below the view, so a short scroll shows no blank. */
const OVERSCAN = 8
/** Rows drawn before the list has a size (not laid out yet). */
const UNSIZED_ROWS = 40
/** A row's height until one is measured (the stylesheet's 44 px minimum and a border). */
const ROW_GUESS = 45

export const makeMailboxList = (
  onOpen: (msg: number) => void,
  onDelete: (msg: number) => void,
  /** The rows on screen and one screen below it, after each change of what is shown. */
  onShow?: (msgs: ReadonlyArray<number>) => void
): MailboxList => {
  const list = h("ul", { class: "message-rows", "aria-labelledby": "mailbox-title", "aria-describedby": "list-keys" })
  const scroller = h("div", { class: "messages" }, list)
  let entries: ReadonlyArray<Entry> = []
  const indexOf = new Map<number, number>()
  // The rendered rows, by message number.
  const rows = new Map<number, { readonly item: HTMLLIElement; readonly button: HTMLButtonElement }>()
  let selected: number | undefined
  // The row that holds the list's one Tab stop (the last focused or selected).
  let current: number | undefined
  let rowHeight = ROW_GUESS
  let frame: number | undefined

  const content = (e: Entry) => [
    h("span", { class: "c-from", title: e.fromAddress ?? "" }, e.loaded ? (e.from ?? "(unknown sender)") : "…"),
    h("span", { class: "c-subject" }, e.loaded ? (e.subject ?? "(no subject)") : "Reading header…"),
    h("span", { class: "c-date" }, e.loaded ? shortDate(e.date) : ""),
    h("span", { class: "c-size" }, e.size === undefined ? "…" : octets(e.size)),
    h("span", { class: "c-uid", title: e.uid ?? "" }, e.uid ?? "—"),
    e.deleted
      ? h(
          "span",
          { class: "badge", title: "DELE marked it; the server removes it only if you Quit" },
          "Deleted on QUIT"
        )
      : null,
    h("span", { class: "visually-hidden" }, `, message ${e.msg}${e.deleted ? ", marked for deletion" : ""}`)
  ]

  const paint = (b: HTMLButtonElement, e: Entry) => {
    replace(b, ...content(e))
    b.classList.toggle("deleted", e.deleted)
    b.classList.toggle("loading", !e.loaded)
  }

  /** Scrolls so that row `index` is in view, draws it, and focuses it. */
  const moveTo = (index: number) => {
    const e = entries[Math.max(0, Math.min(entries.length - 1, index))]
    if (e === undefined) return
    const top = indexOf.get(e.msg)! * rowHeight
    if (top < scroller.scrollTop) scroller.scrollTop = top
    else if (top + rowHeight > scroller.scrollTop + scroller.clientHeight)
      scroller.scrollTop = top + rowHeight - scroller.clientHeight
    current = e.msg
    render()
    rows.get(e.msg)?.button.focus()
  }

  const pageRows = () => Math.max(1, Math.floor(scroller.clientHeight / rowHeight) - 1)

  const row = (e: Entry) => {
    const button = h("button", { type: "button", class: "msg-row", "data-msg": e.msg, tabindex: -1 })
    button.addEventListener("click", () => onOpen(e.msg))
    button.addEventListener("focus", () => {
      if (current === e.msg) return
      current = e.msg
      for (const other of rows.values()) other.button.tabIndex = other.button === button ? 0 : -1
    })
    button.addEventListener("keydown", (event) => {
      const i = indexOf.get(e.msg) ?? 0
      const to =
        event.key === "ArrowDown"
          ? i + 1
          : event.key === "ArrowUp"
            ? i - 1
            : event.key === "PageDown"
              ? i + pageRows()
              : event.key === "PageUp"
                ? i - pageRows()
                : event.key === "Home"
                  ? 0
                  : event.key === "End"
                    ? entries.length - 1
                    : undefined
      if (to !== undefined) {
        event.preventDefault()
        moveTo(to)
      } else if (event.key === "Delete") {
        event.preventDefault()
        onDelete(e.msg)
      }
    })
    const item = h("li", {}, button)
    paint(button, e)
    return { item, button }
  }

  /** Draws the rows in view (and the margin), reusing those already drawn. */
  const render = () => {
    frame = undefined
    const count = entries.length
    const height = scroller.clientHeight
    const visible = height > 0 ? Math.ceil(height / rowHeight) : UNSIZED_ROWS
    const firstShown = Math.min(Math.floor(scroller.scrollTop / rowHeight), Math.max(0, count - 1))
    const first = Math.max(0, firstShown - OVERSCAN)
    const end = Math.min(count, firstShown + visible + OVERSCAN)
    const keep = new Set<number>()
    for (let i = first; i < end; i++) keep.add(entries[i]!.msg)
    for (const [msg, r] of rows) {
      if (keep.has(msg)) continue
      r.item.remove()
      rows.delete(msg)
    }
    const items: Array<HTMLLIElement> = []
    for (let i = first; i < end; i++) {
      const e = entries[i]!
      let r = rows.get(e.msg)
      if (r === undefined) {
        r = row(e)
        if (e.msg === selected) r.button.setAttribute("aria-current", "true")
        rows.set(e.msg, r)
      }
      r.item.setAttribute("aria-setsize", String(count))
      r.item.setAttribute("aria-posinset", String(i + 1))
      items.push(r.item)
    }
    // In order, moving only what is out of place.
    let at: ChildNode | null = list.firstChild
    for (const item of items) {
      if (item === at) at = at.nextSibling
      else list.insertBefore(item, at)
    }
    list.style.paddingTop = `${first * rowHeight}px`
    list.style.paddingBottom = `${Math.max(0, count - end) * rowHeight}px`
    const tabStop = current !== undefined && rows.has(current) ? current : entries[first]?.msg
    for (const [msg, r] of rows) r.button.tabIndex = msg === tabStop ? 0 : -1
    // An empty list's box had no height: with rows in it, it has one now (its max-height),
    // so draw again with what fits — else the first screen would ask for UNSIZED_ROWS' headers.
    if (height === 0 && count > 0 && scroller.clientHeight > 0) {
      render()
      return
    }
    // Measure once rows are laid out; draw again if the guess was off.
    if (items.length >= 2 && height > 0) {
      const a = items[0]!
      const b = items[items.length - 1]!
      const measured = (b.offsetTop + b.offsetHeight - a.offsetTop) / items.length
      if (measured > 0 && Math.abs(measured - rowHeight) > 0.5) {
        rowHeight = measured
        render()
        return
      }
    }
    if (onShow !== undefined && count > 0) {
      const shownEnd = Math.min(count, firstShown + 2 * visible)
      onShow(entries.slice(firstShown, shownEnd).map((e) => e.msg))
    }
  }

  // At most one draw per frame, however many scroll events come.
  const schedule = () => {
    if (frame === undefined) frame = requestAnimationFrame(render)
  }
  scroller.addEventListener("scroll", schedule)
  // A list laid out later (or resized) draws what now fits.
  new ResizeObserver(schedule).observe(scroller)

  return {
    element: h(
      "div",
      { class: "list-wrap" },
      h(
        "div",
        { class: "list-head", "aria-hidden": "true" },
        h("span", { class: "c-from" }, "From"),
        h("span", { class: "c-subject" }, "Subject"),
        h("span", { class: "c-date" }, "Date"),
        h("span", { class: "c-size" }, "Size"),
        h("span", { class: "c-uid" }, "UID")
      ),
      scroller,
      h("p", { class: "hint keys", id: "list-keys" }, "↑ ↓ move, Enter opens, Delete marks for deletion.")
    ),
    set: (next) => {
      if (next !== entries) {
        for (const r of rows.values()) r.item.remove()
        rows.clear()
        indexOf.clear()
      }
      entries = next
      // The same array grown (a listing still arriving): index only the new entries.
      for (let i = indexOf.size; i < entries.length; i++) indexOf.set(entries[i]!.msg, i)
      render()
    },
    update: (e) => {
      const r = rows.get(e.msg)
      if (r !== undefined) paint(r.button, e)
    },
    select: (msg) => {
      if (selected !== undefined) rows.get(selected)?.button.removeAttribute("aria-current")
      selected = msg
      if (msg === undefined) return
      current = msg
      const r = rows.get(msg)
      if (r === undefined) return
      r.button.setAttribute("aria-current", "true")
      for (const other of rows.values()) other.button.tabIndex = other === r ? 0 : -1
    }
  }
}
