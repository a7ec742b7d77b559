// What the page says when a session is ended (web-demo/src/ending.ts): a failed Quit is a
// failure, not a success, and says what was (or was not) marked and removed.
import { describe, expect, it } from "vitest"
import { endingText } from "../../web-demo/src/ending.ts"

const broken = {
  title: "Nothing was sent",
  detail: 'QUIT: the connection already failed (expected +OK, -ERR or a + continuation: "..").',
  technical: "ProtocolError"
}

describe("the text at the end of a session", () => {
  it("a failed Quit with nothing marked: a failure, and nothing was to be removed", () => {
    const ending = endingText({ how: "quit", marked: 0, sent: [], failure: broken })
    expect(ending.failed).toBe(true)
    expect(ending.text).toBe(
      'Quit failed: Nothing was sent. QUIT: the connection already failed (expected +OK, -ERR or a + continuation: ".."). Nothing was marked, so nothing was to be removed.'
    )
  })

  it("a failed Quit with marks, QUIT never sent: nothing was removed", () => {
    const ending = endingText({ how: "quit", marked: 2, sent: [], failure: broken })
    expect(ending.failed).toBe(true)
    expect(ending.text).toContain(
      "QUIT never reached the server, so it did not enter UPDATE: the 2 marked messages were not removed (the marks are forgotten)."
    )
    expect(endingText({ how: "quit", marked: 1, sent: [], failure: broken }).text).toContain(
      "the 1 marked message was not removed"
    )
  })

  it("a failed Quit after QUIT went out: the server may or may not have removed them", () => {
    const ending = endingText({ how: "quit", marked: 3, sent: ["QUIT"], failure: broken })
    expect(ending.failed).toBe(true)
    expect(ending.text).toContain(
      "QUIT went out but its answer did not come back: the server may or may not have removed the 3 marked messages"
    )
  })

  it("a Quit or Disconnect that went through is a success, as before", () => {
    expect(endingText({ how: "quit", marked: 2, sent: ["QUIT"] })).toEqual({
      text: "Session ended with QUIT: the server removed 2 messages.",
      failed: false
    })
    expect(endingText({ how: "quit", marked: 0, sent: ["QUIT"] })).toEqual({
      text: "Session ended with QUIT. Nothing was marked, so nothing was removed.",
      failed: false
    })
    expect(endingText({ how: "disconnect", marked: 1, sent: ["RSET", "QUIT"] })).toEqual({
      text: "Disconnected: the library sent RSET and QUIT, so nothing was removed (1 marked message was kept).",
      failed: false
    })
    expect(endingText({ how: "disconnect", marked: 0, sent: [] })).toEqual({
      text: "Disconnected without QUIT: the server never entered UPDATE, so nothing was removed.",
      failed: false
    })
  })
})
