// Certificates for each rule of certificate checking, made with openssl in a temp
// directory (P-256 keys, SHA-256): a root and intermediates, leaves valid and not, key usage
// and extended key usage right and wrong, name constraints, an unknown critical extension,
// host names by SAN. test/core/tls/verdicts.test.ts serves each chain and compares the
// verdict of end-to-end TLS with node:tls's.
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface CertCases {
  /** A certificate's PEM by name (see `make` below). */
  readonly pem: (name: string) => string
  /** A private key's PEM by the certificate's name. */
  readonly key: (name: string) => string
  readonly remove: () => void
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
const NOW = "20250101000000Z"
const LATER = "20351231000000Z"
const LEAF = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=serverAuth",
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid"
]
const CA = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid"
]
const san = (names: string, ...rest: ReadonlyArray<string>) => [`subjectAltName=${names}`, ...LEAF, ...rest]

export const makeCertCases = (): CertCases => {
  const dir = mkdtempSync(join(tmpdir(), "pop3-cert-cases-"))
  const openssl = (args: ReadonlyArray<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })
  writeFileSync(
    join(dir, "ca.cnf"),
    "[ca]\ndefault_ca = t\n[t]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = none\nunique_subject = no\n[any]\ncommonName = supplied\n"
  )
  writeFileSync(join(dir, "index.txt"), "")
  writeFileSync(join(dir, "serial"), "1000\n")
  const selfSigned = (name: string, cn: string, extensions: ReadonlyArray<string>) =>
    openssl([
      "req",
      "-x509",
      ...EC,
      "-days",
      "3650",
      "-subj",
      `/CN=${cn}`,
      ...extensions.flatMap((e) => ["-addext", e]),
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`
    ])
  const sign = (
    name: string,
    issuer: string,
    extensions: ReadonlyArray<string>,
    cn = name,
    [start, end] = [NOW, LATER]
  ) => {
    openssl(["req", "-new", ...EC, "-subj", `/CN=${cn}`, "-keyout", `${name}.key`, "-out", `${name}.csr`])
    writeFileSync(join(dir, `${name}.ext`), `${extensions.join("\n")}\n`)
    openssl([
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      `${issuer}.pem`,
      "-keyfile",
      `${issuer}.key`,
      "-startdate",
      start!,
      "-enddate",
      end!,
      "-extfile",
      `${name}.ext`,
      "-notext",
      "-in",
      `${name}.csr`,
      "-out",
      `${name}.pem`
    ])
  }

  selfSigned("root", "cases root", ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"])
  sign("good", "root", san("DNS:localhost"), "localhost")
  sign("expired", "root", san("DNS:localhost"), "localhost", ["20200101000000Z", "20210101000000Z"])
  sign("future", "root", san("DNS:localhost"), "localhost", ["20340101000000Z", "20350101000000Z"])
  selfSigned("self", "localhost", ["subjectAltName=DNS:localhost", ...LEAF.slice(0, 3)])
  sign("int", "root", CA, "cases intermediate")
  sign("viaint", "int", san("DNS:localhost"), "localhost")
  sign("noeku", "root", ["subjectAltName=DNS:localhost", ...LEAF.slice(0, 2)], "localhost")
  sign(
    "clienteku",
    "root",
    ["subjectAltName=DNS:localhost", ...LEAF.slice(0, 2), "extendedKeyUsage=clientAuth"],
    "localhost"
  )
  sign(
    "leafcertsign",
    "root",
    [
      "subjectAltName=DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,keyCertSign",
      "extendedKeyUsage=serverAuth"
    ],
    "localhost"
  )
  sign(
    "caleaf",
    "root",
    [
      "subjectAltName=DNS:localhost",
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign,digitalSignature",
      "extendedKeyUsage=serverAuth"
    ],
    "localhost"
  )
  sign("notca", "root", san("DNS:notca.invalid"), "not a ca")
  sign("vianotca", "notca", san("DNS:localhost"), "localhost")
  sign(
    "intnoku",
    "root",
    ["basicConstraints=critical,CA:TRUE", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"],
    "int no ku"
  )
  sign("vianoku", "intnoku", san("DNS:localhost"), "localhost")
  sign(
    "intdsonly",
    "root",
    ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature", "subjectKeyIdentifier=hash"],
    "int ds only"
  )
  sign("viadsonly", "intdsonly", san("DNS:localhost"), "localhost")
  sign("intnc", "root", [...CA, "nameConstraints=critical,permitted;DNS:.example.org"], "int nc")
  sign("vianc", "intnc", san("DNS:localhost"), "localhost")
  sign("intncsoft", "root", [...CA, "nameConstraints=permitted;DNS:.example.org"], "int nc not critical")
  sign("viancsoft", "intncsoft", san("DNS:localhost"), "localhost")
  sign("intclient", "root", [...CA, "extendedKeyUsage=clientAuth"], "int client")
  sign("viaintclient", "intclient", san("DNS:localhost"), "localhost")
  sign(
    "intpl0",
    "root",
    [
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "keyUsage=critical,keyCertSign,cRLSign",
      "subjectKeyIdentifier=hash"
    ],
    "int pl0"
  )
  sign("int2", "intpl0", CA, "int2 under pl0")
  sign("viapl0", "int2", san("DNS:localhost"), "localhost")
  sign("intexp", "root", CA, "int expired", ["20200101000000Z", "20210101000000Z"])
  sign("viaintexp", "intexp", san("DNS:localhost"), "localhost")
  sign("critext", "root", san("DNS:localhost", "1.2.3.4.5.6.7=critical,ASN1:UTF8String:hello"), "localhost")
  sign("ipsan", "root", san("IP:127.0.0.1"), "127.0.0.1")
  sign("dnsip", "root", san("DNS:127.0.0.1"), "127.0.0.1")
  sign("wild", "root", san("DNS:*.example.com"), "wild")
  sign("partial", "root", san("DNS:f*.example.com"), "partial")
  sign("wildtld", "root", san("DNS:*.com"), "wildtld")
  sign("upper", "root", san("DNS:Mail.Example.COM"), "upper")
  sign("cnonly", "root", LEAF, "localhost")
  sign(
    "noaki",
    "root",
    [
      "subjectAltName=DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth"
    ],
    "localhost"
  )
  // A CA as `openssl req -x509` makes one by default: basicConstraints only, no key usage.
  selfSigned("plainca", "plain ca", ["basicConstraints=critical,CA:TRUE"])
  sign("viaplain", "plainca", san("DNS:localhost"), "localhost")

  return {
    pem: (name) => readFileSync(join(dir, `${name}.pem`), "utf8"),
    key: (name) => readFileSync(join(dir, `${name}.key`), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}
