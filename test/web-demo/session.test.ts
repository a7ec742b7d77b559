// The demo's session (web-demo/src/session.ts) over the memory transport, without a
// browser: what it reports of the server's capabilities when the login had to reconnect.
import { describe, expect, it } from "vitest"
import type { TraceEvent } from "../../core/index.ts"
import * as Memory from "../../core/transport/memory.ts"
import { type CommandTable, serveConnection } from "../../dev-server/server.ts"
import { makeSampleStore } from "../../dev-server/sample-mailbox.ts"
import { open } from "../../web-demo/src/session.ts"

describe("open", () => {
  // With PIPELINING the CAPA after login rides with the next command; without, login reads it.
  it.each([
    ["with PIPELINING", ["PIPELINING"]],
    ["without", []]
  ])(
    "after a login that reconnected, capabilities are the new connection's answer from before login (%s)",
    async (_, extra) => {
      // free.fr and others hang up on a refused login (MailKit #856): APOP is refused here
      // (with no [AUTH] code, which would end the login), the library connects again and logs
      // in with USER/PASS. Each connection's CAPA names it.
      const refuseApop: CommandTable = {
        APOP: {
          states: ["AUTHORIZATION"],
          run: (s) => {
            s.err("not now")
            s.close()
          }
        }
      }
      const store = makeSampleStore()
      let connections = 0
      const layer = Memory.layer((server) => {
        const n = ++connections
        void serveConnection(
          store,
          server,
          { capa: ["USER", "UIDL", "TOP", ...extra, `X-CONNECTION ${n}`] },
          { commands: refuseApop }
        )
      })
      const events: Array<TraceEvent> = []
      const heard: Array<ReadonlyArray<string>> = []
      const session = await open(
        {
          bridgeUrl: "ws://unused.invalid/pop3",
          host: "playground",
          port: 110,
          tls: "implicit",
          user: "demo",
          password: "demo",
          mechanism: "auto",
          allowPlaintext: false,
          timeout: 10
        },
        (event) => events.push(event),
        layer,
        (capabilities) => heard.push(capabilities.lines)
      )
      try {
        expect(connections).toBe(2)
        expect(events.filter((e) => e._tag === "Sent").map((e) => (e._tag === "Sent" ? e.line : ""))).toEqual(
          expect.arrayContaining(["APOP demo ****", "USER demo", "PASS ****"])
        )
        // Told as soon as the first connection answered; the session keeps the second's.
        expect(heard).toEqual([expect.arrayContaining(["X-CONNECTION 1"])])
        expect(session.capabilities.lines).toContain("X-CONNECTION 2")
        expect(session.capabilities.lines).not.toContain("X-CONNECTION 1")
      } finally {
        await session.quit()
      }
    }
  )
})
