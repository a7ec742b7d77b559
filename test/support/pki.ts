// A throwaway certificate authority for TLS tests, made with openssl in a temp directory:
// a root (CA:TRUE, keyCertSign) and server certificates it issues, valid now or expired.
// End-to-end TLS (subtls) verifies as browsers do — a chain to a CA, a serverAuth leaf —
// so unlike Node it cannot trust a self-signed server certificate passed as `ca`.
import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Issued {
  readonly cert: string
  readonly key: string
}

export interface Pki {
  /** The root's certificate (PEM): what a client passes as `ca`. */
  readonly ca: string
  /** A server certificate for `names` (DNS names; an IP address as `IP:…`). */
  issue(names: ReadonlyArray<string>, options?: { readonly expired?: boolean }): Promise<Issued>
  /** A self-signed server certificate for `names`, issued by no CA. */
  selfSigned(names: ReadonlyArray<string>): Promise<Issued>
  remove(): Promise<void>
}

const run = (args: ReadonlyArray<string>, cwd: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`openssl ${args[0]} failed (${code}): ${stderr.trim()}`))
    )
  })

// P-256 keys: fast to make, and the signature end-to-end TLS verifies best.
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

const serverExtensions = (names: ReadonlyArray<string>) =>
  [
    `subjectAltName=${names.map((n) => (n.startsWith("IP:") ? n : `DNS:${n}`)).join(",")}`,
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid"
  ].join("\n")

// `openssl ca` is the one way OpenSSL 3.0 sets arbitrary validity dates (`-not_before`
// came in 3.4): an expired certificate needs its own tiny CA database.
const caConfig = (dir: string) => `[ca]
default_ca = test
[test]
database = ${dir}/index.txt
new_certs_dir = ${dir}
serial = ${dir}/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
`

/** Makes a root CA in a fresh temp directory. */
export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), "pop3-pki-"))
  await run(
    [
      "req",
      "-x509",
      ...EC,
      "-days",
      "3650",
      "-subj",
      "/CN=pop3-everywhere test root",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem"
    ],
    dir
  )
  await writeFile(join(dir, "index.txt"), "")
  await writeFile(join(dir, "serial"), "1000\n")
  await writeFile(join(dir, "ca.cnf"), caConfig(dir))
  const ca = await readFile(join(dir, "ca.pem"), "utf8")
  let n = 0

  const request = async (names: ReadonlyArray<string>) => {
    const name = `server${++n}`
    await writeFile(join(dir, `${name}.ext`), serverExtensions(names))
    await run(["req", "-new", ...EC, "-subj", `/CN=${names[0]}`, "-keyout", `${name}.key`, "-out", `${name}.csr`], dir)
    return name
  }
  const read = async (name: string): Promise<Issued> => ({
    cert: await readFile(join(dir, `${name}.pem`), "utf8"),
    key: await readFile(join(dir, `${name}.key`), "utf8")
  })

  return {
    ca,
    async issue(names, options) {
      const name = await request(names)
      if (options?.expired === true) {
        await run(
          [
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-startdate",
            "20200101000000Z"
          ]
            .concat(["-enddate", "20210101000000Z", "-extfile", `${name}.ext`, "-notext"])
            .concat(["-in", `${name}.csr`, "-out", `${name}.pem`]),
          dir
        )
      } else {
        await run(
          [
            "x509",
            "-req",
            "-in",
            `${name}.csr`,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            String(2000 + n)
          ].concat(["-days", "30", "-extfile", `${name}.ext`, "-out", `${name}.pem`]),
          dir
        )
      }
      return read(name)
    },
    async selfSigned(names) {
      const name = `self${++n}`
      // `req -x509` takes a set of extensions from a config section.
      await writeFile(
        join(dir, `${name}.cnf`),
        `[req]\ndistinguished_name = dn\n[dn]\n[v3]\n${serverExtensions(names).replace("authorityKeyIdentifier=keyid", "")}\n`
      )
      await run(
        ["req", "-x509", ...EC, "-days", "30", "-subj", `/CN=${names[0]}`, "-keyout", `${name}.key`, "-out"].concat([
          `${name}.pem`,
          "-extensions",
          "v3",
          "-config",
          join(dir, `${name}.cnf`)
        ]),
        dir
      )
      return read(name)
    },
    remove: () => rm(dir, { recursive: true, force: true })
  }
}
