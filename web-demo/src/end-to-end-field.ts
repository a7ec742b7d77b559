// The connect form's end-to-end TLS choice: the library does TLS itself in the page and
// the bridge only relays ciphertext (`tls=passthrough`, which the bridge's allowlist must
// permit), with an extra trusted CA for a server whose certificate no public root signs
// (npm start's dev server: its test certificate is prefilled in development only).
import { h } from "./dom.ts"

export interface EndToEndField {
  readonly element: HTMLElement
  readonly endToEnd: () => boolean
  /** The PEM text to trust besides Mozilla's roots, if any. */
  readonly ca: () => string | undefined
}

export const makeEndToEndField = (defaultCa: string | undefined): EndToEndField => {
  const box = h("input", {
    type: "checkbox",
    id: "end-to-end",
    name: "endToEnd",
    "aria-describedby": "end-to-end-hint"
  })
  const ca = h("textarea", {
    id: "end-to-end-ca",
    name: "ca",
    rows: 3,
    spellcheck: "false",
    placeholder: "-----BEGIN CERTIFICATE-----"
  })
  ca.value = defaultCa ?? ""
  const caField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { for: "end-to-end-ca" }, "Extra trusted CA certificate (PEM, optional)"),
    ca
  )
  box.addEventListener("change", () => {
    caField.hidden = !box.checked
  })
  const element = h(
    "div",
    { class: "end-to-end" },
    h(
      "label",
      { class: "check" },
      box,
      h(
        "span",
        {},
        "End-to-end TLS (experimental)",
        h(
          "span",
          { class: "hint block", id: "end-to-end-hint" },
          "The page does TLS 1.3 itself and the bridge only relays ciphertext: it cannot read your password or mail. With Implicit TLS from the first byte; with None, plain POP3 upgraded by STLS (usually port 110). The bridge must allow passthrough for this server."
        )
      )
    ),
    caField
  )
  return {
    element,
    endToEnd: () => box.checked,
    ca: () => (box.checked && ca.value.trim() !== "" ? ca.value.trim() : undefined)
  }
}
