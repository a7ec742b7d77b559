// HTML mail, shown safely: in an <iframe sandbox> (no scripts, a unique origin) whose srcdoc
// starts with a strict Content-Security-Policy. Remote images are blocked until the user
// asks: their addresses are taken out before the frame sees them (so nothing is requested,
// not even to be refused), and the policy stays `img-src data:` as a second lock. Inline
// images (cid:) become data: URLs from the message's own parts.
import type { Attachment } from "postal-mime"

export interface Prepared {
  readonly srcdoc: string
  /** Remote images and backgrounds that were (or, when allowed, would be) blocked. */
  readonly remote: number
}

const REMOTE = /^\s*(https?:)?\/\//i
const SAFE_LINK = /^\s*(https?:|mailto:|#)/i
const CSS_URL = /url\(\s*(['"]?)(?:https?:)?\/\/[^)'"]*\1\s*\)/gi

const base64 = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

export const bytesOf = (content: Attachment["content"]): Uint8Array =>
  typeof content === "string"
    ? new TextEncoder().encode(content)
    : content instanceof Uint8Array
      ? content
      : new Uint8Array(content)

/** The policy for the frame: nothing but inline styles and data: images, plus https: images once allowed. */
export const policy = (remote: boolean): string =>
  `default-src 'none'; img-src data:${remote ? " https:" : ""}; style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'`

export const prepareHtml = (html: string, attachments: ReadonlyArray<Attachment>, allowRemote: boolean): Prepared => {
  const doc = new DOMParser().parseFromString(html, "text/html")
  // Nothing here may run, redirect, re-base links or pull in other resources.
  for (const el of doc.querySelectorAll("script, base, link, meta[http-equiv], iframe, frame, object, embed"))
    el.remove()

  const cids = new Map<string, Attachment>()
  for (const a of attachments)
    if (a.contentId !== undefined) cids.set(a.contentId.replace(/^<|>$/g, "").toLowerCase(), a)

  let remote = 0
  for (const img of doc.querySelectorAll<HTMLImageElement>("img, input[type=image]")) {
    const src = img.getAttribute("src") ?? ""
    if (/^cid:/i.test(src)) {
      const part = cids.get(decodeURIComponent(src.slice(4)).toLowerCase())
      if (part !== undefined) img.setAttribute("src", `data:${part.mimeType};base64,${base64(bytesOf(part.content))}`)
      else img.removeAttribute("src")
    } else if (REMOTE.test(src)) {
      remote++
      if (!allowRemote || /^\s*(http:)?\/\//i.test(src)) {
        img.removeAttribute("src")
        img.setAttribute("data-blocked", "remote image")
      }
    }
  }
  for (const el of doc.querySelectorAll("[srcset]")) {
    remote++
    if (!allowRemote) el.removeAttribute("srcset")
  }
  for (const el of doc.querySelectorAll("[background]")) {
    remote++
    if (!allowRemote) el.removeAttribute("background")
  }
  const scrub = (css: string) =>
    css.replace(CSS_URL, (match) => {
      remote++
      return allowRemote && /url\(\s*['"]?https:/i.test(match) ? match : "none"
    })
  for (const el of doc.querySelectorAll<HTMLElement>("[style]"))
    el.setAttribute("style", scrub(el.getAttribute("style") ?? ""))
  for (const el of doc.querySelectorAll("style")) el.textContent = scrub(el.textContent ?? "")
  // Links open in a new tab, outside the sandbox, telling the site nothing about us; only
  // web and mail addresses stay links (a javascript:, data: or blob: page would open with
  // its own rules, outside the frame's policy).
  for (const a of doc.querySelectorAll("a[href], area[href]")) {
    if (!SAFE_LINK.test(a.getAttribute("href") ?? "")) {
      a.removeAttribute("href")
      a.setAttribute("data-blocked", "link")
      continue
    }
    a.setAttribute("target", "_blank")
    a.setAttribute("rel", "noopener noreferrer")
  }
  // Event handlers could never run here (no allow-scripts, script-src 'none'), but they
  // need not reach the frame at all; nor may SVG links (xlink:href) point anywhere.
  for (const el of doc.querySelectorAll("*")) {
    for (const name of el.getAttributeNames()) {
      if (
        /^on/i.test(name) ||
        (/(^|:)href$/i.test(name) && name !== "href" && !SAFE_LINK.test(el.getAttribute(name) ?? ""))
      )
        el.removeAttribute(name)
    }
  }
  // Forms could still be submitted by hand (form-action 'none' refuses that too).
  for (const form of doc.querySelectorAll("form")) form.removeAttribute("action")

  const head = doc.head
  const csp = doc.createElement("meta")
  csp.setAttribute("http-equiv", "Content-Security-Policy")
  csp.setAttribute("content", policy(allowRemote))
  const referrer = doc.createElement("meta")
  referrer.setAttribute("name", "referrer")
  referrer.setAttribute("content", "no-referrer")
  const style = doc.createElement("style")
  style.textContent =
    "html{color-scheme:light}body{margin:16px;font:15px/1.5 system-ui,sans-serif;color:#1d232b;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}img[data-blocked]{display:inline-block;min-width:2em;min-height:1.5em;background:#eef1f5;outline:1px dashed #9aa4b1}"
  head.prepend(csp, referrer, style)
  return { srcdoc: `<!doctype html>\n${doc.documentElement.outerHTML}`, remote }
}

/** The frame element: no allow-scripts, no allow-same-origin; links may open new tabs. */
export const makeFrame = (title: string): HTMLIFrameElement => {
  const frame = document.createElement("iframe")
  frame.setAttribute("sandbox", "allow-popups allow-popups-to-escape-sandbox")
  frame.setAttribute("referrerpolicy", "no-referrer")
  frame.setAttribute("title", title)
  frame.className = "html-frame"
  return frame
}
