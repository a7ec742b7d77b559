// What the demo teaches beside the trace, from its pure parts, without a browser: the state
// diagram's model, arrow labels and the notes written under it (drawn from the library's own
// transition table), which states are RFC 1939's, when STLS is out of reach, the words step
// mode accepts, and the tour's reason for deletion waiting for QUIT. The playground test
// checks the same annotations in Chromium as a session draws them.
import { describe, expect, it } from "vitest"
import { STLS_THROUGH_BRIDGE, stlsUnusable } from "../../web-demo/src/capa-note.ts"
import { transitions } from "../../core/index.ts"
import { buildModel, diagramNotes, exitLabel, lostLabel, RFC_STATES, shortLabel } from "../../web-demo/src/diagram.ts"
import { commandNames, glossary, isTypedCommand } from "../../web-demo/src/glossary.ts"
import { steps } from "../../web-demo/src/tour.ts"

describe("the state diagram's teaching", () => {
  const model = buildModel()
  const label = (from: string, to: string) =>
    model.drawn.filter((e) => e.from === from && e.to === to).map((e) => shortLabel(e))

  it("marks exactly RFC 1939's three states apart, all of them drawn among the library's sub-states", () => {
    expect(RFC_STATES).toEqual(["AUTHORIZATION", "TRANSACTION", "UPDATE"])
    for (const s of RFC_STATES) expect(model.states).toContain(s)
    // The library's own moments between them are drawn too, and are not RFC states.
    for (const s of ["GREETING", "AUTHORIZATION_PASS", "SASL", "STLS"] as const) {
      expect(model.states).toContain(s)
      expect(RFC_STATES).not.toContain(s)
    }
  })

  it("labels the two arrows through UPDATE so they do not read as two QUITs", () => {
    expect(label("TRANSACTION", "UPDATE")).toEqual(["QUIT sent"])
    expect(label("UPDATE", "CLOSED")).toEqual(["QUIT answered"])
  })

  it("draws QUIT from AUTHORIZATION and a lost connection (nothing deleted) as arrows, from the table", () => {
    // The arrow round the left side is the table's AUTHORIZATION QUIT rows, both answers.
    expect(model.exits.map((e) => [e.from, e.to, exitLabel(e)])).toEqual([["AUTHORIZATION", "CLOSED", "QUIT"]])
    expect(model.exits[0]!.rows).toEqual(
      transitions.filter((t) => t.from === "AUTHORIZATION" && t.on === "QUIT" && t.to === "CLOSED")
    )
    expect(model.exits[0]!.rows.length).toBe(2)
    // One source of truth: a table without those rows draws no such arrow.
    const without = buildModel(transitions.filter((t) => !(t.from === "AUTHORIZATION" && t.on === "QUIT")))
    expect(without.exits).toEqual([])
    // The dotted arrow is the table's rule for a lost connection, held in every live state.
    expect(model.lost).toMatchObject({ on: "connection-lost", to: "CLOSED" })
    expect(lostLabel(model.lost!)).toEqual(["any state: connection lost", "→ CLOSED, nothing deleted"])
    expect(buildModel(transitions.filter((t) => t.on !== "connection-lost")).lost).toBeUndefined()
    // What is drawn is not written again under the drawing; the rest still is.
    const notes = diagramNotes(model)
    expect(notes.join(" ")).not.toMatch(/^AUTHORIZATION → CLOSED|connection lost/m)
    expect(notes).toContain("AUTHORIZATION_PASS → CLOSED on QUIT +OK/-ERR")
    expect(notes).toContain("any state → ERROR on the server breaks the protocol")
    // Learner text: no internal event names.
    expect([...notes, ...lostLabel(model.lost!)].join(" ")).not.toMatch(/connection-lost|SaslResponse/)
  })
})

describe("STLS through the bridge", () => {
  it("is out of reach only when TLS ends at the bridge, not with End-to-end TLS, not in the playground", () => {
    expect(stlsUnusable({ viaBridge: true, endToEnd: false })).toBe(true)
    expect(stlsUnusable({ viaBridge: true, endToEnd: true })).toBe(false)
    expect(stlsUnusable({ viaBridge: false, endToEnd: false })).toBe(false)
  })

  it("no text says STLS is impossible through a bridge: each names End-to-end TLS", () => {
    expect(STLS_THROUGH_BRIDGE).toContain("unless End-to-end TLS is on")
    expect(glossary.STLS.line).not.toMatch(/impossible/i)
    expect(glossary.STLS.line).toContain("End-to-end TLS")
  })
})

describe("step mode's words", () => {
  it("never takes the library's internal name SaslResponse as a command, in any case", () => {
    expect(isTypedCommand("SaslResponse")).toBe(false)
    expect(isTypedCommand("SASLRESPONSE")).toBe(false)
    expect(isTypedCommand("UIDL")).toBe(true)
    expect(commandNames.filter(isTypedCommand)).not.toContain("SaslResponse")
  })
})

describe("the guided tour", () => {
  it("says why deletion waits for QUIT, at DELE and at QUIT", () => {
    const all = steps(
      () => {
        throw new Error("not run")
      },
      () => {}
    )
    const dele = all.find((s) => /DELE/.test(s.title))
    expect(dele?.text).toMatch(/deletion waits for QUIT, so a dropped connection never loses mail/)
    const quit = all.find((s) => /QUIT/.test(s.title))
    expect(quit?.text).toMatch(/Without QUIT there is no UPDATE, and nothing is deleted/)
  })
})
