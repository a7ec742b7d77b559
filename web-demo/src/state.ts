// The demo's session state in one place: main.ts decides what to show from it, and nothing
// else keeps a copy. (The views keep only their own display state.)
import type { TraceEvent } from "pop3-everywhere"
import type { Session, Settings } from "./session.ts"

export interface DemoState {
  /** The open session, if any. */
  session: Session | undefined
  /** The settings of the latest connection: the step panel's context. */
  settings: Settings | undefined
  /** While QUIT or Disconnect runs: the trace events of the farewell, to say what was sent. */
  ending: Array<TraceEvent> | undefined
  /** Whether the current session has ended, by us or by the server. */
  ended: boolean
}

export const makeState = (): DemoState => ({ session: undefined, settings: undefined, ending: undefined, ended: false })
