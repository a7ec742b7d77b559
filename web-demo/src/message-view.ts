// One message: header, body (plain text, or HTML in the sandboxed frame), attachments as
// downloads, and the raw source exactly as RETR returned it. The header is drawn as soon as
// the MIME Worker has read it (mime/parse.ts); the rest follows when the body is parsed.
import type { Attachment } from "postal-mime"
import { h, replace } from "./dom.ts"
import { exactOctets, fullAddress, longDate, octets } from "./format.ts"
import { makeFrame, prepareHtml } from "./html-frame.ts"
import { blobSource, lazyText, stringSource, FIRST_PART } from "./lazy-text.ts"
import type { Body, Head, Part } from "./mime/protocol.ts"

export interface Shown {
  readonly msg: number
  readonly uid: string | undefined
  /** The message's size in octets, as RETR returned it. */
  readonly size: number
  /**
   * What LIST gave as the message's size, and the body's size counted as LIST counts it (each
   * line end as CR LF): a body shorter than LIST said ended early, and the page says so.
   */
  readonly listed?: { readonly listed: number; readonly received: number } | undefined
  readonly head: Head
  /** Settles when the MIME Worker has parsed the whole message. */
  readonly body: Promise<Body>
  readonly deleted: boolean
}

export interface MessageActions {
  /** Absent for a message kept in this browser: there is no server to mark it on. */
  readonly dele?: ((msg: number) => void) | undefined
}

const urls: Array<string> = []
// The Blobs are always application/octet-stream (made so in mime/mime-worker.ts), whatever the
// sender declared: a blob URL opened as a document (a new tab, a copied link) would
// otherwise render a text/html or SVG attachment with the demo's origin and run its script.
// As octet-stream the browser only downloads it. The URLs live as long as the message view.
const objectUrl = (blob: Blob): string => {
  const url = URL.createObjectURL(blob)
  urls.push(url)
  return url
}
/** Ends the open message view: its download links stop working. */
export const closeMessage = (): void => {
  generation++
  for (const u of urls.splice(0)) URL.revokeObjectURL(u)
}
/** Counts a body's octets as LIST does: a bare LF (which the client keeps as it is) as CR LF. */
export const listOctets = (bytes: Uint8Array): number => {
  let n = bytes.length
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) if (bytes[i - 1] !== 0x0d) n++
  return n
}

/** A body shorter than LIST said: where it went, told with both sizes. */
const cutShort = (shown: Shown) => {
  const sizes = shown.listed
  if (sizes === undefined || sizes.received >= sizes.listed) return null
  return h(
    "div",
    { class: "cut-short" },
    h(
      "p",
      {},
      h("strong", {}, "This message arrived cut short. "),
      `LIST said ${exactOctets(sizes.listed)}, but the body the client got is ${exactOctets(sizes.received)}.`
    ),
    h(
      "p",
      {},
      "A line that is just “.” ends a body, so the server must double the dot of every message line that starts with one (dot-stuffing, RFC 1939 §3). This server did not: the client took the message's own “.” line for the end, and the rest of the message stays in the connection, where the answer to the next command should be. “Bytes” on the RETR body line of the trace shows the line."
    )
  )
}

/** Counts the views drawn: a body parsed after its view was replaced is not drawn. */
let generation = 0

const headerRow = (name: string, value: string | undefined) =>
  value === undefined || value === "" ? null : h("div", { class: "hdr" }, h("dt", {}, name), h("dd", {}, value))

const attachmentItem = (a: Part, i: number) => {
  const name = a.filename ?? `part-${i + 1}.${a.mimeType.split("/")[1] ?? "bin"}`
  return h(
    "li",
    {},
    h("span", { class: "att-name" }, name),
    h(
      "span",
      { class: "muted" },
      ` ${a.mimeType} · ${octets(a.size)}${a.disposition === "inline" || a.related ? " · inline" : ""}`
    ),
    h(
      "a",
      {
        class: "button small",
        href: objectUrl(a.blob),
        download: name,
        "aria-label": `Download ${name}`,
        "data-size": a.size
      },
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

/** The parts the HTML frame may inline (cid: images), in postal-mime's shape. */
const inlineParts = (body: Body): Array<Attachment> =>
  body.attachments.flatMap((a) =>
    a.content === undefined
      ? []
      : [
          {
            filename: a.filename,
            mimeType: a.mimeType,
            disposition: a.disposition,
            contentId: a.contentId,
            content: a.content
          }
        ]
  )

const htmlPane = (email: Body) => {
  let allowRemote = false
  const frame = makeFrame("Message content (HTML, sandboxed: no scripts)")
  const note = h("p", { class: "remote-note", role: "status" })
  const toggle = h("button", { type: "button", class: "small" }, "Load remote images")
  const draw = () => {
    const prepared = prepareHtml(email.html ?? "", inlineParts(email), allowRemote)
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

/** The panes and attachments, once the body is parsed. */
const renderBody = (shown: Shown, email: Body): Array<Node> => {
  const attachments = email.attachments.filter((a) => !(a.related && email.html !== undefined))
  const panes: Array<{ id: string; title: string; render: () => Node }> = []
  if (email.html !== undefined) panes.push({ id: "html", title: "HTML", render: () => htmlPane(email) })
  if (email.text !== undefined) {
    const text = email.text
    panes.push({
      id: "text",
      title: email.html !== undefined ? "Plain text" : "Text",
      // A short text (nearly every one) as it is; a huge one a part at a time.
      render: () =>
        text.length <= FIRST_PART
          ? h("pre", { class: "text-body" }, text)
          : lazyText("text-body", stringSource(text, "the text"))
    })
  }
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
          `Exactly what RETR ${shown.msg} returned: ${exactOctets(email.raw.size)}, dot-unstuffed, CRLF line ends. `,
          h("a", { href: objectUrl(email.raw), download: `message-${shown.msg}.eml` }, "Save as .eml")
        ),
        lazyText("source", blobSource(email.raw, "the source"), { scrolls: true })
      )
  })
  const [tablist, panel] = tabs("Message views", panes)
  return [
    ...(attachments.length > 0
      ? [
          h(
            "section",
            { class: "attachments", "aria-label": "Attachments" },
            h("h3", {}, `Attachments (${attachments.length})`),
            h("ul", {}, ...attachments.map(attachmentItem))
          )
        ]
      : []),
    tablist,
    panel
  ]
}

export const renderMessage = (target: HTMLElement, shown: Shown, actions: MessageActions): void => {
  closeMessage()
  const drawn = generation
  const { head } = shown
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
  const about = h(
    "dd",
    {},
    `${shown.msg}${shown.uid !== undefined ? ` · UID ${shown.uid}` : ""} · ${octets(shown.size)}`
  )
  const rest = h(
    "div",
    { class: "message-rest", "aria-busy": "true" },
    h(
      "p",
      { class: "muted parsing" },
      "Reading the body, attachments and source (in a Worker, off this page's main thread)…"
    )
  )
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
          h("h2", { id: "message-subject", tabindex: -1 }, head.subject ?? "(no subject)"),
          dele
        ),
        h(
          "dl",
          { class: "headers" },
          headerRow("From", head.from !== undefined ? fullAddress(head.from) : undefined),
          headerRow("To", head.to?.map(fullAddress).join(", ")),
          headerRow("Cc", head.cc?.map(fullAddress).join(", ")),
          headerRow("Date", longDate(head.date)),
          h("div", { class: "hdr" }, h("dt", {}, "Message"), about)
        ),
        cutShort(shown)
      ),
      rest
    )
  )
  shown.body.then(
    (email) => {
      if (generation !== drawn) return
      const inline = email.attachments.filter((a) => a.related && email.html !== undefined).length
      if (inline > 0) about.append(` · ${inline} inline image${inline === 1 ? "" : "s"}`)
      replace(rest, ...renderBody(shown, email))
      rest.setAttribute("aria-busy", "false")
    },
    (error: unknown) => {
      if (generation !== drawn) return
      replace(
        rest,
        h("p", { class: "error-box", role: "alert" }, error instanceof Error ? error.message : String(error))
      )
      rest.setAttribute("aria-busy", "false")
    }
  )
}

export const renderPlaceholder = (target: HTMLElement, ...content: ReadonlyArray<Node | string>): void => {
  closeMessage()
  replace(target, h("div", { class: "message-placeholder" }, ...content))
}
