// The certificate must match the host we asked for, for an IP host too, with implicit TLS
// and with STLS. A regression once dropped `servername` for IP hosts; Node then checked an
// upgraded socket against nothing and accepted 127.0.0.1's certificate from 127.0.0.2.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../../../core/promise.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import { makeSampleStore } from "../../../dev-server/sample-mailbox.ts"
import { listenTcp, type TcpListener } from "../../../dev-server/tcp.ts"
import { testCert, testTls } from "../../../dev-server/tls-fixture.ts"

// The fixture certificate names localhost and 127.0.0.1, not 127.0.0.2 (also loopback on Linux).
const listeners: Array<TcpListener> = []
const serve = async (host: string, implicitTls: boolean) => {
  const l = await listenTcp(makeSampleStore(), { host, port: 0, tls: testTls, implicitTls })
  listeners.push(l)
  return l.port
}
afterAll(async () => {
  for (const l of listeners) await l.close()
})

const attempt = async (host: string, port: number, tls: "starttls" | "implicit") => {
  try {
    const session = await connect({ host, port, tls, ca: testCert, timeout: 5000, transport: NodeTransport.layer })
    await session.close()
    return "accepted"
  } catch (error) {
    return (error as { _tag?: string })._tag ?? String(error)
  }
}

describe("certificate identity for IP hosts", () => {
  let ports: Record<string, number> = {}
  beforeAll(async () => {
    ports = {
      stls1: await serve("127.0.0.1", false),
      stls2: await serve("127.0.0.2", false),
      tls1: await serve("127.0.0.1", true),
      tls2: await serve("127.0.0.2", true)
    }
  })
  it("STLS: accepted when the certificate names the IP, refused when it does not", async () => {
    expect(await attempt("127.0.0.1", ports["stls1"]!, "starttls")).toBe("accepted")
    expect(await attempt("127.0.0.2", ports["stls2"]!, "starttls")).toBe("TlsError")
  })
  it("implicit TLS: accepted when the certificate names the IP, refused when it does not", async () => {
    expect(await attempt("127.0.0.1", ports["tls1"]!, "implicit")).toBe("accepted")
    expect(await attempt("127.0.0.2", ports["tls2"]!, "implicit")).toBe("TlsError")
  })
})
