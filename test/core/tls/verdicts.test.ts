// End-to-end TLS against node:tls, certificate rule by certificate rule: a real TLS 1.3
// server (node:tls) serves each chain (test/support/cert-cases.ts, made by openssl), and
// both clients say whether they would go on. They must agree, but where end-to-end TLS is
// deliberately as strict as a browser (listed below, each with its reason). Found by a
// review that compared the two: subtls let through name-constrained intermediates, unknown
// critical extensions, intermediates whose extended key usage excludes TLS servers, issuers
// without keyCertSign and leaves without digitalSignature, and refused CAs without key
// usage — scripts/vendor-subtls.ts fixes it.
import tls from "node:tls"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../../../core/index.ts"
import { TlsError } from "../../../core/errors.ts"
import * as EndToEnd from "../../../core/tls/index.ts"
import * as NodeTransport from "../../../core/transport/node.ts"
import { type CertCases, makeCertCases } from "../../support/cert-cases.ts"

type Problem = NonNullable<TlsError["problem"]>

interface Case {
  readonly name: string
  /** The server's chain, leaf first. */
  readonly chain: ReadonlyArray<string>
  readonly host: string
  readonly ca?: ReadonlyArray<string>
  /** What end-to-end TLS must do: go on, or fail with this problem. */
  readonly endToEnd: "accept" | Problem
  /** What node:tls does (checked too: the reference must be what this table says). */
  readonly node: "accept" | "reject"
  /** Why they differ, where they do. */
  readonly why?: string
}

const ROOT = ["root"]
const CASES: ReadonlyArray<Case> = [
  { name: "a good chain", chain: ["good"], host: "localhost", ca: ROOT, endToEnd: "accept", node: "accept" },
  {
    name: "with an intermediate",
    chain: ["viaint", "int"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  {
    name: "the wrong host",
    chain: ["good"],
    host: "pop.example.com",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "reject"
  },
  {
    name: "an expired leaf",
    chain: ["expired"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "not-valid-now",
    node: "reject"
  },
  {
    name: "a leaf not valid yet",
    chain: ["future"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "not-valid-now",
    node: "reject"
  },
  {
    name: "an expired intermediate",
    chain: ["viaintexp", "intexp"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "not-valid-now",
    node: "reject"
  },
  {
    name: "a private CA not given",
    chain: ["good"],
    host: "localhost",
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a self-signed leaf, nothing given",
    chain: ["self"],
    host: "localhost",
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "the intermediate not sent",
    chain: ["viaint"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "an issuer that is not a CA",
    chain: ["vianotca", "notca"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a path longer than pathlen allows",
    chain: ["viapl0", "int2", "intpl0"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a leaf for TLS clients only",
    chain: ["clienteku"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a CA certificate as the leaf (serverAuth, digitalSignature)",
    chain: ["caleaf"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  // What subtls let through before scripts/vendor-subtls.ts's fixes:
  {
    name: "a name-constrained intermediate (critical), the leaf outside it",
    chain: ["vianc", "intnc"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a name-constrained intermediate (not critical), the leaf outside it",
    chain: ["viancsoft", "intncsoft"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "an unknown critical extension on the leaf",
    chain: ["critext"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "an intermediate for TLS clients only",
    chain: ["viaintclient", "intclient"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "an issuer without keyCertSign",
    chain: ["viadsonly", "intdsonly"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a leaf without digitalSignature",
    chain: ["leafcertsign"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "reject"
  },
  {
    name: "a DNS name that is an IP address, the host that address",
    chain: ["dnsip"],
    host: "127.0.0.1",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "reject"
  },
  // ... and what it refused:
  {
    name: "an issuer without key usage",
    chain: ["vianoku", "intnoku"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  {
    name: "a CA from plain `openssl req -x509` (no key usage)",
    chain: ["viaplain"],
    host: "localhost",
    ca: ["plainca"],
    endToEnd: "accept",
    node: "accept"
  },
  {
    name: "a SAN in capitals",
    chain: ["upper"],
    host: "mail.example.com",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  {
    name: "the host with a final dot",
    chain: ["good"],
    host: "localhost.",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  // Wildcards.
  {
    name: "*.example.com for a.example.com",
    chain: ["wild"],
    host: "a.example.com",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  {
    name: "*.example.com for example.com",
    chain: ["wild"],
    host: "example.com",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "reject"
  },
  {
    name: "*.example.com for a.b.example.com",
    chain: ["wild"],
    host: "a.b.example.com",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "reject"
  },
  {
    name: "*.com for x.com",
    chain: ["wildtld"],
    host: "x.com",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "reject"
  },
  {
    name: "a leaf without an authority key identifier",
    chain: ["noaki"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "accept",
    node: "accept"
  },
  // Where end-to-end TLS is stricter, as browsers are.
  {
    name: "a self-signed leaf given as the CA",
    chain: ["self"],
    host: "localhost",
    ca: ["self"],
    endToEnd: "untrusted-certificate",
    node: "accept",
    why: "a self-signed leaf is no CA: pass the CA that issued it"
  },
  {
    name: "a leaf without extended key usage",
    chain: ["noeku"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "untrusted-certificate",
    node: "accept",
    why: "as the CA/Browser Forum requires: serverAuth"
  },
  {
    name: "an IP address SAN",
    chain: ["ipsan"],
    host: "127.0.0.1",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "accept",
    why: "IP address SANs are not supported (documented)"
  },
  {
    name: "a partial wildcard f*.example.com",
    chain: ["partial"],
    host: "foo.example.com",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "accept",
    why: "as browsers: only a whole leftmost label"
  },
  {
    name: "the name in the CN only",
    chain: ["cnonly"],
    host: "localhost",
    ca: ROOT,
    endToEnd: "host-name-mismatch",
    node: "accept",
    why: "as browsers: subjectAltName only"
  },
  {
    name: "an intermediate given as the only CA",
    chain: ["viaint"],
    host: "localhost",
    ca: ["int"],
    endToEnd: "accept",
    node: "reject",
    why: "as browsers: a CA given is a trust anchor, root or not"
  }
]

describe("end-to-end TLS against node:tls, certificate rule by rule", () => {
  let certs: CertCases | undefined
  beforeAll(() => {
    certs = makeCertCases()
  })
  afterAll(() => certs?.remove())

  /** A TLS 1.3 server for `chain` that answers CAPA and QUIT. */
  const serve = (chain: ReadonlyArray<string>): Promise<tls.Server> =>
    new Promise((resolve) => {
      const server = tls.createServer(
        { cert: chain.map((n) => certs!.pem(n)).join("\n"), key: certs!.key(chain[0]!), minVersion: "TLSv1.3" },
        (socket) => {
          socket.on("error", () => {})
          socket.write("+OK ready\r\n")
          socket.on("data", (data: Buffer) => {
            for (const line of data.toString("latin1").split("\r\n").filter(Boolean))
              if (line === "QUIT") socket.end("+OK bye\r\n")
              else if (line === "CAPA") socket.write("+OK\r\nUSER\r\n.\r\n")
              else socket.write("-ERR no\r\n")
          })
        }
      )
      server.on("tlsClientError", () => {})
      server.listen(0, "127.0.0.1", () => resolve(server))
    })

  const endToEnd = async (c: Case, port: number): Promise<"accept" | string> => {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        connect({
          host: "127.0.0.1",
          port,
          servername: c.host,
          tls: "implicit",
          ...(c.ca !== undefined ? { ca: c.ca.map((n) => certs!.pem(n)) } : {}),
          timeout: 10_000
        })
      ).pipe(Effect.provide(EndToEnd.layer(NodeTransport.layer)))
    )
    if (Exit.isSuccess(exit)) return "accept"
    const error = exit.cause.reasons.map((r) => (r._tag === "Fail" ? r.error : undefined)).find((e) => e !== undefined)
    return error instanceof TlsError ? (error.problem ?? `TlsError without a problem: ${error.message}`) : String(error)
  }

  const viaNode = (c: Case, port: number): Promise<"accept" | "reject"> =>
    new Promise((resolve) => {
      const socket = tls.connect({
        host: "127.0.0.1",
        port,
        ...(/^[0-9.]+$/.test(c.host) ? {} : { servername: c.host.replace(/[.]$/, "") }),
        ...(c.ca !== undefined ? { ca: c.ca.map((n) => certs!.pem(n)) } : {}),
        checkServerIdentity: (_, cert) => tls.checkServerIdentity(c.host, cert)
      })
      socket.on("secureConnect", () => {
        socket.destroy()
        resolve("accept")
      })
      socket.on("error", () => resolve("reject"))
    })

  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const server = await serve(c.chain)
    try {
      const { port } = server.address() as AddressInfo
      expect({ endToEnd: await endToEnd(c, port), node: await viaNode(c, port) }).toEqual({
        endToEnd: c.endToEnd,
        node: c.node
      })
    } finally {
      server.close()
    }
  })
})
