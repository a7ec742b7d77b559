// The connect form: where the bridge is, which mail server, how to secure and log in.
import { mechanisms } from "pop3-everywhere"
import type { Defaults } from "./config.ts"
import { disableKeepingFocus, h } from "./dom.ts"
import { makeEndToEndField } from "./end-to-end-field.ts"
import type { Explanation } from "./explain.ts"
import type { Settings } from "./session.ts"

export interface ConnectForm {
  readonly element: HTMLElement
  readonly busy: (busy: boolean) => void
  readonly showError: (error: Explanation | undefined) => void
  /** The values as the user last submitted them (for error messages). */
  readonly values: () => Settings
}

const field = (id: string, label: string, input: HTMLElement, hint?: string) =>
  h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint !== undefined ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null
  )

export const makeConnectForm = (defaults: Defaults, onSubmit: (settings: Settings) => void): ConnectForm => {
  const bridge = h("input", {
    id: "bridge-url",
    name: "bridge",
    type: "url",
    required: true,
    value: defaults.bridgeUrl,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "bridge-url-hint"
  })
  const host = h("input", {
    id: "host",
    name: "host",
    required: true,
    value: defaults.host,
    autocomplete: "off",
    spellcheck: "false"
  })
  const port = h("input", {
    id: "port",
    name: "port",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: 65535,
    required: true,
    value: defaults.port
  })
  const implicit = h("input", {
    type: "radio",
    name: "security",
    id: "security-implicit",
    value: "implicit",
    checked: defaults.tls === "implicit"
  })
  const none = h("input", {
    type: "radio",
    name: "security",
    id: "security-none",
    value: "none",
    checked: defaults.tls === "none"
  })
  const user = h("input", {
    id: "user",
    name: "user",
    required: true,
    value: defaults.user,
    autocomplete: "username",
    spellcheck: "false"
  })
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    value: defaults.password,
    autocomplete: "current-password"
  })
  const auth = h(
    "select",
    { id: "auth", name: "auth", "aria-describedby": "auth-hint" },
    h("option", { value: "auto" }, "auto — the strongest the server offers"),
    ...mechanisms.map((m) =>
      h(
        "option",
        { value: m.name.toLowerCase() },
        m.credential === "token"
          ? `${m.name} — OAuth token in the password field`
          : m.name === "USER"
            ? "USER — USER/PASS, password sent as is"
            : m.plaintext
              ? `${m.name} — password sent as is (base64)`
              : m.name
      )
    )
  )
  const plaintext = h("input", {
    type: "checkbox",
    id: "allow-plaintext",
    name: "allowPlaintext",
    "aria-describedby": "allow-plaintext-hint"
  })
  const plaintextBox = h(
    "div",
    { class: "plaintext-box" },
    h("label", { class: "check" }, plaintext, h("span", {}, "Allow password over an unencrypted connection")),
    h(
      "p",
      { class: "hint", id: "allow-plaintext-hint" },
      "Without TLS anyone on the path can read what USER/PASS, PLAIN and LOGIN send. The library refuses those unless you tick this. APOP, CRAM-MD5 and SCRAM never send the password itself, and “auto” prefers them."
    )
  )
  const timeout = h("input", {
    id: "timeout",
    name: "timeout",
    type: "number",
    min: 1,
    max: 600,
    value: 30,
    inputmode: "numeric"
  })
  const endToEnd = makeEndToEndField(defaults.ca)
  const submit = h("button", { type: "submit", class: "primary" }, "Connect")
  const error = h("div", { class: "error-box", role: "alert", hidden: true })
  let last: Settings | undefined
  let revealPlaintext = false

  const security = () => (none.checked ? "none" : "implicit")
  const syncPlaintext = () => {
    plaintextBox.hidden = security() !== "none" && !revealPlaintext
  }
  for (const r of [implicit, none]) r.addEventListener("change", syncPlaintext)
  // The usual ports follow the security choice: a TLS port does not speak plain POP3 (and
  // a plain one no TLS), and the mismatch shows only as a wait until the timeout. The
  // standard pair, and the configured server's own (npm start: 1995 and 1110).
  const pairs: ReadonlyArray<readonly [tls: number, plain: number]> = [
    [995, 110],
    defaults.tls === "implicit" ? [defaults.port, defaults.plainPort] : [995, defaults.port]
  ]
  const suggestPort = () => {
    const now = Number(port.value)
    const pair = pairs.find(([tls, plain]) => (none.checked ? tls : plain) === now)
    if (pair !== undefined) port.value = String(none.checked ? pair[1] : pair[0])
  }
  for (const r of [implicit, none]) r.addEventListener("change", suggestPort)

  const read = (): Settings => ({
    bridgeUrl: bridge.value.trim(),
    host: host.value.trim(),
    port: Number(port.value),
    tls: security(),
    user: user.value,
    password: password.value,
    mechanism: auth.value,
    allowPlaintext: plaintext.checked && !plaintextBox.hidden,
    endToEnd: endToEnd.endToEnd(),
    ca: endToEnd.ca(),
    timeout: Math.min(600, Math.max(1, Number(timeout.value) || 30))
  })

  const form = h("form", { class: "connect-form card", novalidate: true, "aria-labelledby": "connect-title" })
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const settings = read()
    const problem = !/^wss?:\/\//i.test(settings.bridgeUrl)
      ? { input: bridge, text: "The bridge URL must start with ws:// or wss://." }
      : settings.host === ""
        ? { input: host, text: "Enter the mail server's host name." }
        : !Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535
          ? { input: port, text: "The port is a number from 1 to 65535 (995 for implicit TLS, 110 for plain POP3)." }
          : settings.user === ""
            ? { input: user, text: "Enter the user name." }
            : undefined
    if (problem !== undefined) {
      showError({ title: "Check the form", detail: problem.text, technical: "" })
      problem.input.setAttribute("aria-invalid", "true")
      problem.input.focus()
      return
    }
    for (const el of [bridge, host, port, user]) el.removeAttribute("aria-invalid")
    last = settings
    onSubmit(settings)
  })

  const showError = (e: Explanation | undefined) => {
    error.hidden = e === undefined
    error.replaceChildren()
    if (e === undefined) return
    error.append(h("p", { class: "error-title" }, e.title), h("p", {}, e.detail))
    if (e.technical !== "")
      error.append(
        h("p", { class: "technical" }, h("span", { class: "muted" }, "Library error: "), h("code", {}, e.technical))
      )
    if (e.plaintextRefused === true) {
      revealPlaintext = true
      syncPlaintext()
      error.append(
        h(
          "p",
          {},
          "If you accept an unencrypted path, tick “Allow password over an unencrypted connection” above (under Authentication)."
        )
      )
    }
  }

  form.append(
    h("h2", { id: "connect-title" }, "Connect to a POP3 server"),
    h(
      "p",
      { class: "lead" },
      "Browsers cannot open TCP connections, so the client speaks POP3 over a WebSocket to a small bridge, which relays the bytes to the mail server — with TLS from the bridge to the server."
    ),
    h(
      "p",
      { class: "hint bridge-sees" },
      "TLS ends at the bridge: it can read every command, every message and a plaintext password. The **** in the trace is what this page shows, not what the bridge sees (“What the bridge sees”, beside the trace, shows what it reads). Run the bridge yourself, tick End-to-end TLS below, or use the Playground, which needs none."
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Server"),
      field(
        "bridge-url",
        "Bridge URL",
        bridge,
        "The pop3-bridge's WebSocket address. It relays only to servers on its allowlist."
      ),
      h(
        "div",
        { class: "row" },
        h("div", { class: "grow" }, field("host", "Host", host)),
        h("div", { class: "port" }, field("port", "Port", port))
      ),
      h(
        "fieldset",
        { class: "radios" },
        h("legend", {}, "Security"),
        h(
          "label",
          { class: "check" },
          implicit,
          h(
            "span",
            {},
            "Implicit TLS",
            h(
              "span",
              { class: "hint block" },
              "The bridge opens TLS to the server and verifies its certificate. Usually port 995."
            )
          )
        ),
        h(
          "label",
          { class: "check" },
          none,
          h(
            "span",
            {},
            "None",
            h(
              "span",
              { class: "hint block" },
              "Plain POP3, readable on the way from the bridge to the server. Usually port 110."
            )
          )
        ),
        endToEnd.element
      )
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Login"),
      h(
        "div",
        { class: "row" },
        h("div", { class: "grow" }, field("user", "Username", user)),
        h("div", { class: "grow" }, field("password", "Password", password))
      ),
      field(
        "auth",
        "Authentication",
        auth,
        "Mechanisms come from the library's list, strongest first. “auto” tries those the server offers, in that order."
      ),
      plaintextBox,
      h(
        "details",
        { class: "more" },
        h("summary", {}, "More options"),
        field("timeout", "Timeout per answer (seconds)", timeout)
      )
    ),
    error,
    h("div", { class: "actions" }, submit)
  )
  syncPlaintext()

  return {
    element: form,
    busy: (busy) => {
      disableKeepingFocus(submit, busy)
      submit.textContent = busy ? "Connecting…" : "Connect"
      form.setAttribute("aria-busy", String(busy))
    },
    showError,
    values: () => last ?? read()
  }
}
