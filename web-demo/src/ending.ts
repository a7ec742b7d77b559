// What the page says when the learner ends a session (Quit or Disconnect): what reached the
// server, and so what it removed. A failure says so in the error style, and never claims
// marked messages that were not there.
import type { Explanation } from "./explain.ts"

export interface Ending {
  readonly how: "quit" | "disconnect"
  /** Messages marked for deletion (DELE) when the learner ended the session. */
  readonly marked: number
  /** The command lines the library sent while ending it. */
  readonly sent: ReadonlyArray<string>
  /** Why ending failed, explained; undefined when it went through. */
  readonly failure?: Explanation | undefined
}

export interface EndingText {
  readonly text: string
  /** The session did not end as asked: shown in the error style, not as a success. */
  readonly failed: boolean
}

const messages = (n: number) => `${n} marked message${n === 1 ? "" : "s"}`

export const endingText = ({ how, marked, sent, failure }: Ending): EndingText => {
  if (failure !== undefined) {
    const what = `${how === "quit" ? "Quit" : "Disconnect"} failed: ${failure.title}. ${failure.detail}`
    const quitSent = sent.some((line) => line.toUpperCase() === "QUIT")
    const removed =
      marked === 0
        ? "Nothing was marked, so nothing was to be removed."
        : quitSent
          ? `QUIT went out but its answer did not come back: the server may or may not have removed the ${messages(marked)} — connect again to see.`
          : `QUIT never reached the server, so it did not enter UPDATE: the ${messages(marked)} ${marked === 1 ? "was" : "were"} not removed (the marks are forgotten).`
    return { text: `${what} ${removed}`, failed: true }
  }
  if (how === "quit")
    return {
      text:
        marked > 0
          ? `Session ended with QUIT: the server removed ${marked} message${marked === 1 ? "" : "s"}.`
          : "Session ended with QUIT. Nothing was marked, so nothing was removed.",
      failed: false
    }
  if (sent.length > 0)
    return {
      text: `Disconnected: the library sent ${sent.join(" and ")}, so nothing was removed${marked > 0 ? ` (${marked} marked message${marked === 1 ? " was" : "s were"} kept)` : ""}.`,
      failed: false
    }
  return { text: "Disconnected without QUIT: the server never entered UPDATE, so nothing was removed.", failed: false }
}
