// A tiny element builder: the demo uses no UI framework, so the bundle stays small.
type Attr = string | number | boolean | undefined | ((event: never) => void)
export type Child = Node | string | number | null | undefined | false

/** `h("button", { class: "primary", onclick: go }, "Connect")`. `true` sets an empty attribute; `false`/undefined omit it. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, Attr>> = {},
  ...children: ReadonlyArray<Child>
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === "function") el.addEventListener(name.slice(2), value as EventListener)
    else el.setAttribute(name, value === true ? "" : String(value))
  }
  append(el, children)
  return el
}

export const append = (parent: Node, children: ReadonlyArray<Child>): void => {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(
      typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child
    )
  }
}

/** Replaces every child of `parent`. */
export const replace = (parent: Node, ...children: ReadonlyArray<Child>): void => {
  while (parent.firstChild !== null) parent.removeChild(parent.firstChild)
  append(parent, children)
}

const SVG = "http://www.w3.org/2000/svg"

/** An SVG element with attributes. */
export const svg = <K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number>> = {},
  ...children: ReadonlyArray<Node | string>
): SVGElementTagNameMap[K] => {
  const el = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value))
  for (const child of children) el.appendChild(typeof child === "string" ? document.createTextNode(child) : child)
  return el
}

/** Offers bytes as a file download. */
export const download = (name: string, data: BlobPart, type: string): void => {
  const url = URL.createObjectURL(new Blob([data], { type }))
  const a = h("a", { href: url, download: name, hidden: true })
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

// Buttons that had keyboard focus when they were disabled (see `disableKeepingFocus`).
const focusedWhenDisabled = new WeakSet<HTMLButtonElement>()

/**
 * Disables or enables `button` without losing the keyboard user's place: a disabled button
 * that had focus drops it to <body>, so when it is enabled again it takes focus back —
 * unless the outcome put focus somewhere else meanwhile (a mailbox heading, a notice).
 */
export const disableKeepingFocus = (button: HTMLButtonElement, disabled: boolean): void => {
  if (disabled) {
    if (document.activeElement === button) focusedWhenDisabled.add(button)
    button.disabled = true
    return
  }
  button.disabled = false
  const lost = document.activeElement === null || document.activeElement === document.body
  if (focusedWhenDisabled.delete(button) && lost) button.focus()
}
