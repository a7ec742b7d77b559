// One message: header, body (plain text, or HTML in the sandboxed frame), attachments as
// downloads, and the raw source exactly as RETR returned it.
import type { Attachment, Email } from "postal-mime"
import { h, replace } from "./dom.ts"
import { exactOctets, fullAddress, longDate, octets } from "./format.ts"
import { bytesOf, makeFrame, prepareHtml } from "./html-frame.ts"

export interface Shown {
  readonly msg: number
  readonly uid: string | undefined
  readonly raw: Uint8Array
  readonly email: Email
  readonly deleted: boolean
}

export interface MessageActions {
  /** Absent for a message kept in this browser: there is no server to mark it on. */
  readonly dele?: ((msg: number) => void) | undefined
}

const urls: Array<string> = []
// Always application/octet-stream, whatever the sender declared: a blob URL opened as a
// document (a new tab, a copied link) would otherwise render a text/html or SVG attachment
// with the demo's origin and run its script. As octet-stream the browser only downloads it.
const objectUrl = (bytes: Uint8Array): string => {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" }))
  urls.push(url)
  return url
}
const revokeAll = () => {
  for (const u of urls.splice(0)) URL.revokeObjectURL(u)
}

const headerRow = (name: string, value: string | undefined) =>
  value === undefined || value === "" ? null : h("div", { class: "hdr" }, h("dt", {}, name), h("dd", {}, value))

const attachmentItem = (a: Attachment, i: number) => {
  const bytes = bytesOf(a.content)
  const name = a.filename ?? `part-${i + 1}.${a.mimeType.split("/")[1] ?? "bin"}`
  return h(
    "li",
    {},
    h("span", { class: "att-name" }, name),
    h(
      "span",
      { class: "muted" },
      ` ${a.mimeType} · ${octets(bytes.length)}${a.disposition === "inline" || a.related === true ? " · inline" : ""}`
    ),
    h(
      "a",
      { class: "button small", href: objectUrl(bytes), download: name, "aria-label": `Download ${name}` },
      "Download"
    )
  )
}

/** Tabs with arrow-key movement (WAI-ARIA tabs pattern). */
const tabs = (label: string, panes: ReadonlyArray<{ id: string; title: string; render: () => Node }>) => {
  const list = h("div", { role: "tablist", "aria-label": label, class: "tabs" })
  const panel = h("div", { role: "tabpanel", class: "tab-panel", tabindex: 0 })
  const buttons = panes.map((p, i) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${p.id}`,
        "aria-controls": "message-panel",
        "aria-selected": i === 0 ? "true" : "false",
        tabindex: i === 0 ? 0 : -1
      },
      p.title
    )
  )
  panel.id = "message-panel"
  const select = (i: number, focus: boolean) => {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", String(i === j))
      b.tabIndex = i === j ? 0 : -1
    })
    panel.setAttribute("aria-labelledby", buttons[i]!.id)
    replace(panel, panes[i]!.render())
    if (focus) buttons[i]!.focus()
  }
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => select(i, false))
    b.addEventListener("keydown", (e) => {
      const next =
        e.key === "ArrowRight"
          ? i + 1
          : e.key === "ArrowLeft"
            ? i - 1
            : e.key === "Home"
              ? 0
              : e.key === "End"
                ? buttons.length - 1
                : undefined
      if (next === undefined) return
      e.preventDefault()
      select((next + buttons.length) % buttons.length, true)
    })
  })
  list.append(...buttons)
  select(0, false)
  return [list, panel] as const
}

const htmlPane = (email: Email) => {
  let allowRemote = false
  const frame = makeFrame("Message content (HTML, sandboxed: no scripts)")
  const note = h("p", { class: "remote-note", role: "status" })
  const toggle = h("button", { type: "button", class: "small" }, "Load remote images")
  const draw = () => {
    const prepared = prepareHtml(email.html ?? "", email.attachments, allowRemote)
    frame.srcdoc = prepared.srcdoc
    note.replaceChildren()
    if (prepared.remote === 0) {
      note.append("No remote content: everything shown comes from the message itself.")
      toggle.hidden = true
    } else if (!allowRemote) {
      note.append(
        `${prepared.remote} remote image${prepared.remote === 1 ? "" : "s"} blocked. Loading them tells the sender that, and when, you read this.`
      )
      toggle.hidden = false
    } else {
      note.append("Remote images over https are loaded (http ones stay blocked).")
      toggle.hidden = true
    }
  }
  toggle.addEventListener("click", () => {
    allowRemote = true
    draw()
  })
  draw()
  return h("div", { class: "html-pane" }, h("div", { class: "remote-bar" }, note, toggle), frame)
}

export const renderMessage = (target: HTMLElement, shown: Shown, actions: MessageActions): void => {
  revokeAll()
  const { email, raw } = shown
  const attachments = email.attachments.filter((a) => !(a.related === true && email.html !== undefined))
  const inline = email.attachments.length - attachments.length
  const panes: Array<{ id: string; title: string; render: () => Node }> = []
  if (email.html !== undefined) panes.push({ id: "html", title: "HTML", render: () => htmlPane(email) })
  if (email.text !== undefined)
    panes.push({
      id: "text",
      title: email.html !== undefined ? "Plain text" : "Text",
      render: () => h("pre", { class: "text-body" }, email.text ?? "")
    })
  panes.push({
    id: "source",
    title: "Source",
    render: () =>
      h(
        "div",
        {},
        h(
          "p",
          { class: "muted small" },
          `Exactly what RETR ${shown.msg} returned: ${exactOctets(raw.length)}, dot-unstuffed, CRLF line ends. `,
          h("a", { href: objectUrl(raw), download: `message-${shown.msg}.eml` }, "Save as .eml")
        ),
        h("pre", { class: "source" }, new TextDecoder("utf-8", { fatal: false }).decode(raw))
      )
  })
  const [tablist, panel] = tabs("Message views", panes)
  const onDele = actions.dele
  const dele =
    onDele === undefined
      ? null
      : h(
          "button",
          { type: "button", class: "danger small", disabled: shown.deleted },
          shown.deleted ? "Marked for deletion" : `Mark for deletion (DELE ${shown.msg})`
        )
  dele?.addEventListener("click", () => onDele!(shown.msg))

  replace(
    target,
    h(
      "article",
      { class: `message${shown.deleted ? " deleted" : ""}`, "aria-labelledby": "message-subject" },
      h(
        "header",
        { class: "message-head" },
        h(
          "div",
          { class: "message-title" },
          h("h2", { id: "message-subject", tabindex: -1 }, email.subject ?? "(no subject)"),
          dele
        ),
        h(
          "dl",
          { class: "headers" },
          headerRow("From", email.from !== undefined ? fullAddress(email.from) : undefined),
          headerRow("To", email.to?.map(fullAddress).join(", ")),
          headerRow("Cc", email.cc?.map(fullAddress).join(", ")),
          headerRow("Date", longDate(email.date)),
          headerRow(
            "Message",
            `${shown.msg}${shown.uid !== undefined ? ` · UID ${shown.uid}` : ""} · ${octets(raw.length)}${inline > 0 ? ` · ${inline} inline image${inline === 1 ? "" : "s"}` : ""}`
          )
        )
      ),
      attachments.length > 0
        ? h(
            "section",
            { class: "attachments", "aria-label": "Attachments" },
            h("h3", {}, `Attachments (${attachments.length})`),
            h("ul", {}, ...attachments.map(attachmentItem))
          )
        : null,
      tablist,
      panel
    )
  )
}

export const renderPlaceholder = (target: HTMLElement, ...content: ReadonlyArray<Node | string>): void => {
  revokeAll()
  replace(target, h("div", { class: "message-placeholder" }, ...content))
}
