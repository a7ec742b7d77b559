// What the page and the playground's Worker say to each other. The page posts one
// `Connect` per POP3 connection, handing over a MessagePort; over that port bytes flow both
// ways as Uint8Array messages, and `null` means "this side closed".
import type { Behaviour } from "../../../dev-server/server.ts"

/** The misbehaviours the page offers; a subset of the dev server's Behaviour options. */
export type Switches = Pick<
  Behaviour,
  "noDotStuffing" | "lfOnly" | "stallAtCommand" | "inUse" | "loginDelay" | "closeMidBody" | "wrongListSizes"
>

export interface Connect {
  readonly kind: "connect"
  readonly behaviour: Switches
  readonly port: MessagePort
}

/** Resets the Worker's mailbox to the sample as it was at first (deletions undone). */
export interface Reset {
  readonly kind: "reset"
}

export type ToWorker = Connect | Reset

/** One chunk of bytes, or null: the sender closed its side. */
export type Chunk = Uint8Array | null
