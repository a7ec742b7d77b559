// The message list: one button per message (From, Subject, Date, size, UID), navigable
// with the arrow keys (one Tab stop for the whole list), Enter to open, Delete to mark.
import { h, replace } from "./dom.ts"
import { octets, shortDate } from "./format.ts"

export interface Entry {
  readonly msg: number
  readonly size: number
  uid: string | undefined
  from: string | undefined
  fromAddress: string | undefined
  subject: string | undefined
  date: string | undefined
  loaded: boolean
  deleted: boolean
}

export interface MailboxList {
  readonly element: HTMLElement
  readonly set: (entries: ReadonlyArray<Entry>) => void
  readonly update: (entry: Entry) => void
  readonly select: (msg: number | undefined) => void
}

export const makeMailboxList = (onOpen: (msg: number) => void, onDelete: (msg: number) => void): MailboxList => {
  const list = h("ul", { class: "messages", "aria-labelledby": "mailbox-title", "aria-describedby": "list-keys" })
  const rows = new Map<number, HTMLButtonElement>()
  let selected: number | undefined

  const content = (e: Entry) => [
    h("span", { class: "c-from", title: e.fromAddress ?? "" }, e.loaded ? (e.from ?? "(unknown sender)") : "…"),
    h("span", { class: "c-subject" }, e.loaded ? (e.subject ?? "(no subject)") : "Reading header…"),
    h("span", { class: "c-date" }, e.loaded ? shortDate(e.date) : ""),
    h("span", { class: "c-size" }, octets(e.size)),
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

  const buttons = () => [...rows.values()]
  const move = (from: HTMLButtonElement, to: HTMLButtonElement | undefined) => {
    if (to === undefined) return
    from.tabIndex = -1
    to.tabIndex = 0
    to.focus()
  }

  const row = (e: Entry) => {
    const b = h("button", { type: "button", class: "msg-row", "data-msg": e.msg, tabindex: -1 }, ...content(e))
    b.addEventListener("click", () => onOpen(e.msg))
    b.addEventListener("keydown", (event) => {
      const all = buttons()
      const i = all.indexOf(b)
      const to =
        event.key === "ArrowDown"
          ? all[i + 1]
          : event.key === "ArrowUp"
            ? all[i - 1]
            : event.key === "Home"
              ? all[0]
              : event.key === "End"
                ? all[all.length - 1]
                : undefined
      if (to !== undefined) {
        event.preventDefault()
        move(b, to)
      } else if (event.key === "Delete") {
        event.preventDefault()
        onDelete(e.msg)
      }
    })
    rows.set(e.msg, b)
    return h("li", {}, b)
  }

  const paint = (b: HTMLButtonElement, e: Entry) => {
    replace(b, ...content(e))
    b.classList.toggle("deleted", e.deleted)
    b.classList.toggle("loading", !e.loaded)
  }

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
      list,
      h("p", { class: "hint keys", id: "list-keys" }, "↑ ↓ move, Enter opens, Delete marks for deletion.")
    ),
    set: (entries) => {
      rows.clear()
      replace(list, ...entries.map(row))
      for (const e of entries) paint(rows.get(e.msg)!, e)
      const first = buttons()[0]
      if (first !== undefined) first.tabIndex = 0
    },
    update: (e) => {
      const b = rows.get(e.msg)
      if (b !== undefined) paint(b, e)
    },
    select: (msg) => {
      if (selected !== undefined) rows.get(selected)?.removeAttribute("aria-current")
      selected = msg
      const b = msg === undefined ? undefined : rows.get(msg)
      if (b === undefined) return
      b.setAttribute("aria-current", "true")
      for (const other of buttons()) other.tabIndex = other === b ? 0 : -1
    }
  }
}
