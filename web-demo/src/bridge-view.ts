// "What the bridge sees": beside the protocol trace, the bytes the page's WebSocket carries,
// read as the bridge's operator can read them (bridge-wire.ts). With TLS at the bridge that
// is the whole session in the clear — this view hides the password, and says that the
// bridge did not; with end-to-end TLS, TLS records it cannot decrypt.
import * as Layer from "effect/Layer"
import * as Socket from "effect/socket/Socket"
import type { TraceEvent, Transport } from "pop3-everywhere"
import * as WebSocketTransport from "pop3-everywhere/websocket"
import type { WebSocketStreamConstructor } from "pop3-everywhere/websocket"
import {
  contentType,
  type Frame,
  makeBridgeWire,
  type Piece,
  type RecordHeader,
  tappingWebSocket,
  tappingWebSocketStream
} from "./bridge-wire.ts"
import { hexDump } from "./bytes-view.ts"
import { h, replace } from "./dom.ts"
import "./bridge-view.css"

export interface BridgeView {
  readonly element: HTMLElement
  /**
   * The WebSocket transport to the bridge at `bridgeUrl` (with the library's end-to-end TLS
   * when asked), every frame tapped into this view (cleared first).
   */
  readonly transport: (settings: {
    readonly bridgeUrl: string
    readonly endToEnd?: boolean | undefined
  }) => Layer.Layer<Transport>
  /** A session without a bridge (the playground): nothing crosses one. */
  readonly noBridge: () => void
  /** The trace, for the redacted form of each client line. */
  readonly trace: (event: TraceEvent) => void
}

/** Pieces drawn: the first ones (the login is there) and the latest; the middle is counted. */
const HEAD = 40
const TAIL = 160

const recordText = (r: RecordHeader): string =>
  `${contentType(r.type)} (${r.length} B${r.type === 22 && r.version === 0x0301 ? ", first hello" : ""})`

const row = (piece: Piece): HTMLElement => {
  const who = h("span", { class: `who ${piece.from === "C" ? "client" : "server"}` }, `${piece.from}:`)
  switch (piece.kind) {
    case "line":
      return h("li", { class: "bridge-line" }, who, " ", piece.text)
    case "secret":
      return h(
        "li",
        { class: "bridge-line secret" },
        who,
        " ",
        piece.shown,
        h("span", { class: "bridge-note" }, " — the bridge read this line in the clear; its secret is hidden here only")
      )
    case "more":
      return h(
        "li",
        { class: "bridge-line more" },
        who,
        ` … ${piece.lines.toLocaleString("en")} more lines (${piece.bytes.toLocaleString("en")} bytes), readable by the bridge`
      )
    case "tls": {
      const listed = piece.records.map(recordText).join(", ")
      const rest = piece.count - piece.records.length
      return h(
        "li",
        { class: "bridge-line tls" },
        who,
        ` ${piece.count} TLS record${piece.count === 1 ? "" : "s"}, ${piece.bytes.toLocaleString("en")} bytes: `,
        listed,
        rest > 0 ? `, and ${rest} more` : "",
        h("pre", { class: "bridge-hex", "aria-label": "The first bytes (hex)" }, hexDump(piece.sample))
      )
    }
  }
}

export const makeBridgeView = (): BridgeView => {
  const wire = makeBridgeWire()
  const title = h("h3", { id: "bridge-view-title" }, "What the bridge sees")
  const verdict = h("p", { class: "bridge-verdict", "data-verdict": "idle" })
  const totals = h("p", { class: "muted bridge-totals" })
  // It scrolls: focusable, so the keyboard can scroll it too (axe: scrollable-region-focusable).
  const list = h("ol", { class: "bridge-lines", "aria-label": "Bytes through the bridge", tabindex: 0 })
  const element = h(
    "section",
    { class: "bridge-view", "aria-labelledby": "bridge-view-title" },
    title,
    verdict,
    totals,
    list
  )
  let mode: "idle" | "bridge" | "none" = "idle"
  let scheduled = false

  const render = () => {
    scheduled = false
    const pieces = wire.pieces()
    const t = wire.totals()
    if (mode === "none") {
      verdict.dataset["verdict"] = "none"
      verdict.textContent = "This session runs in the page: no bridge carries it."
    } else if (mode === "idle") {
      verdict.dataset["verdict"] = "idle"
      verdict.textContent =
        "Connect through a bridge to see the bytes its WebSocket carries — everything the bridge's operator can read."
    } else if (t.encrypted) {
      verdict.dataset["verdict"] = "ciphertext"
      verdict.textContent =
        "End-to-end TLS: the bridge relays TLS records it cannot decrypt. It sees no command, no password and no message — only which server, when, and how many bytes."
    } else if (pieces.length > 0) {
      verdict.dataset["verdict"] = "plaintext"
      verdict.textContent =
        "TLS ends at the bridge: it reads this whole session in the clear — every command, every message and the password. This view hides the password; the bridge did not."
    }
    totals.textContent =
      mode === "bridge"
        ? `${t.up.toLocaleString("en")} bytes to the bridge, ${t.down.toLocaleString("en")} from it.`
        : ""
    const shown =
      pieces.length <= HEAD + TAIL
        ? pieces.map(row)
        : [
            ...pieces.slice(0, HEAD).map(row),
            h("li", { class: "bridge-line more" }, `… ${pieces.length - HEAD - TAIL} more exchanges …`),
            ...pieces.slice(-TAIL).map(row)
          ]
    replace(list, ...shown)
  }
  // Frames come by the hundred during a large RETR: draw once per turn of the event loop.
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setTimeout(render, 0)
  }
  render()

  return {
    element,
    transport: ({ bridgeUrl, endToEnd }) => {
      wire.clear()
      mode = "bridge"
      schedule()
      const onFrame = (frame: Frame) => {
        wire.frame(frame)
        schedule()
      }
      const options = { endToEnd: endToEnd === true }
      // The transport layerGlobal would pick, tapped: WebSocketStream where the browser has it.
      const WebSocketStream = (globalThis as { WebSocketStream?: WebSocketStreamConstructor }).WebSocketStream
      return typeof WebSocketStream === "function"
        ? WebSocketTransport.layerStream(bridgeUrl, options, tappingWebSocketStream(onFrame, WebSocketStream))
        : WebSocketTransport.layer(bridgeUrl, options).pipe(
            Layer.provide(Layer.succeed(Socket.WebSocketConstructor)(tappingWebSocket(onFrame)))
          )
    },
    noBridge: () => {
      wire.clear()
      mode = "none"
      schedule()
    },
    trace: (event) => {
      if (mode === "bridge") wire.trace(event)
    }
  }
}
