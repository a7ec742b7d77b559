// What CAPA answered, put beside its row in the trace. The trace keeps a body's size, not its
// text (a RETR body is someone's mail), but CAPA's lines are the server's own facts: they
// show what it offers, and whether an offer is one this page can take up.
import { type Capabilities, hasCapability } from "pop3-everywhere"
import { h } from "./dom.ts"

/** Names STLS when it is offered to a session whose TLS ends at the bridge. */
export const STLS_THROUGH_BRIDGE =
  "STLS is offered but unusable through the bridge unless End-to-end TLS is on: STLS turns the connection it is sent on into TLS (RFC 2595 §4), and here that connection is the bridge's own TCP link to the server, behind the page's WebSocket; the bridge does not switch it to TLS mid-session. For an encrypted link to the server, connect with Implicit TLS (port 995), where the bridge starts TLS before POP3 does and checks the server's certificate, or tick End-to-end TLS, where this page does STLS itself through the bridge."

/**
 * Whether STLS, if offered, is out of reach: only when the session runs through a bridge that
 * ends TLS itself. With End-to-end TLS the bridge relays bytes, and the library in the page
 * does STLS; the playground's memory transport has no TLS to switch to, and says so elsewhere.
 */
export const stlsUnusable = (route: { readonly viaBridge: boolean; readonly endToEnd: boolean }): boolean =>
  route.viaBridge && !route.endToEnd

export const capaNote = (caps: Capabilities, stlsOutOfReach: boolean): HTMLElement =>
  h(
    "span",
    { class: "gloss capa-lines" },
    caps.lines.length > 0 ? `CAPA listed: ${caps.lines.join(" · ")}.` : "CAPA listed nothing.",
    stlsOutOfReach && hasCapability(caps, "STLS") ? ` ${STLS_THROUGH_BRIDGE}` : null
  )
