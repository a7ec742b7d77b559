// `npm run subtls`: writes core/tls/vendor/subtls.js, the copy of subtls (the TLS 1.3 client
// of end-to-end TLS, see docs/end-to-end-tls.md) that the library ships, from the pinned
// devDependency in node_modules/subtls. The changes are made, and checked, here: subtls
// falls back to `import("crypto")` (Node's module) when `globalThis.crypto` is missing; a
// bundler then puts a Node built-in into every browser bundle that might use end-to-end
// TLS, which this package never does (test/package/). Every runtime we support has
// `globalThis.crypto`, so the fallback becomes an error that says so. And FIXES below
// correct its certificate checks and record handling where they let through what a
// browser or node:tls refuses. To update subtls:
// bump the exact version in package.json, `npm install`, `npm run subtls`, review the
// diff, and run the tests of core/tls.
import { readFileSync, writeFileSync } from "node:fs"

const PINNED = "0.5.0"
const source = new URL("../node_modules/subtls/", import.meta.url)
const target = new URL("../core/tls/vendor/subtls.js", import.meta.url)

const FALLBACK = /import\("crypto"\)\.then\(\(c\) => c\.webcrypto(\.subtle)?\)/g

/**
 * Fixes to subtls's certificate checks and record handling, each a replacement of text that
 * must occur exactly once (a new subtls version that moved it fails here, for review).
 * Found by a review that compared end-to-end TLS with node:tls on certificates made for
 * each rule (test/core/tls/verdicts.test.ts runs the same comparison).
 */
export const FIXES: ReadonlyArray<{ readonly why: string; readonly find: string; readonly replace: string }> = [
  {
    why: "key usage bits: bit 0 (digitalSignature) is the first byte's most significant bit (RFC 5280 §4.2.1.3); subtls read the bit string shifted by its padding and mirrored, so a CA's keyCertSign read as nonRepudiation",
    find: `          const keyUsageBitStr = await cb.readASN1BitString();
          const keyUsageBitmask = intFromBitString(keyUsageBitStr);
          const keyUsageNames = new Set(allKeyUsages.filter((u, i) => keyUsageBitmask & 1 << i));`,
    replace: `          const [endKeyUsageBits, keyUsageBitsRemaining] = await cb.expectASN1TypeAndLength(universalTypeBitString, "key usage");
          await cb.readUint8(0);
          const keyUsageBytes = await cb.readBytes(keyUsageBitsRemaining());
          endKeyUsageBits();
          const keyUsageNames = new Set(allKeyUsages.filter((u, i) => ((keyUsageBytes[i >> 3] ?? 0) & 128 >> (i & 7)) !== 0));`
  },
  {
    why: "extended key usage: anyExtendedKeyUsage counts for every purpose",
    find: `            if (extKeyUsageOID === "1.3.6.1.5.5.7.3.2") cert.extKeyUsage.clientTls = true;`,
    replace: `            if (extKeyUsageOID === "1.3.6.1.5.5.7.3.2") cert.extKeyUsage.clientTls = true;
            if (extKeyUsageOID === "2.5.29.37.0") cert.extKeyUsage.any = true;`
  },
  {
    why: "an extension subtls does not check may not be critical (RFC 5280 §4.2), and name constraints, which it never checks, are refused whether marked critical or not: unchecked, they let a constrained CA vouch for any host",
    find: `        } else {
          await cb.skipRead(extRemaining(), 0);
        }
        endExt();`,
    replace: `        } else {
          const criticalType = await cb.readUint8();
          cb.offset--;
          const critical = criticalType === universalTypeBoolean && await cb.readASN1Boolean(0);
          if (critical || extOID === "2.5.29.30") (cert.uncheckedExtensions ??= []).push(extOID);
          await cb.skipRead(extRemaining(), 0);
        }
        endExt();`
  },
  {
    why: "host names: DNS names compare without case and without a final dot (RFC 6125 §6.4.1), and an IP address never matches a DNS name",
    find: `    return (this.subjectAltNames ?? []).find((cert) => {
      let certName = cert;
      let hostName = host;`,
    replace: `    if (/^[0-9.]+$/.test(host) || host.includes(":")) return void 0;
    return (this.subjectAltNames ?? []).find((cert) => {
      let certName = cert.toLowerCase().replace(/[.]$/, "");
      let hostName = host.toLowerCase().replace(/[.]$/, "");`
  },
  {
    why: "the server's certificate signs the handshake (TLS 1.3 CertificateVerify): its key usage, when it has one, must allow digital signatures; and it may carry no extension left unchecked",
    find: `    if (!userCert.extKeyUsage?.serverTls) throw new Error("End-user certificate has no TLS server extKeyUsage");
  }`,
    replace: `    if (!userCert.extKeyUsage?.serverTls) throw new Error("End-user certificate has no TLS server extKeyUsage");
  }
  if (userCert.keyUsage !== void 0 && !userCert.keyUsage.usages.has("digitalSignature")) throw new Error("End-user certificate keyUsage does not include digital signatures");
  if (userCert.uncheckedExtensions !== void 0) throw new Error(\`End-user certificate has extensions this client cannot check (\${userCert.uncheckedExtensions.join(", ")})\`);`
  },
  {
    why: "an issuer's key usage, when it has one, must allow signing certificates (keyCertSign, RFC 5280 §4.2.1.3; subtls wanted digitalSignature, and read the bits wrong); an intermediate's extended key usage, when it has one, must allow TLS servers (as browsers and OpenSSL require); an issuer may carry no extension left unchecked",
    find: `    if (requireDigitalSigKeyUsage) {
      if (signingCert.keyUsage?.usages.has("digitalSignature") !== true) throw new Error("Signing certificate \\
keyUsage does not include digital signatures");
    }`,
    replace: `    if (signingCert.keyUsage !== void 0 && !signingCert.keyUsage.usages.has("keyCertSign")) throw new Error("Signing certificate keyUsage does not include certificate signing");
    if (!signingCertIsTrustedRoot && signingCert.extKeyUsage !== void 0 && !signingCert.extKeyUsage.serverTls && !signingCert.extKeyUsage.any) throw new Error("Signing certificate extKeyUsage does not include TLS servers");
    if (signingCert.uncheckedExtensions !== void 0) throw new Error(\`Signing certificate has extensions this client cannot check (\${signingCert.uncheckedExtensions.join(", ")})\`);`
  },
  {
    why: "TLS 1.3 treats every alert as fatal, whatever its level (RFC 8446 §6.2); subtls skipped warning-level alerts by reading on, so a peer sending them without end grew the client's memory until its time limit",
    find: `  let alertLevel;
  if (type === 21 /* Alert */) {
    alertLevel = await record.readUint8(0);
    const desc = await record.readUint8(0);
  }
  if (alertLevel === 2) throw new Error("Fatal alert message received");
  else if (alertLevel === 1) return readTlsRecord(read, expectedType, maxLength);`,
    replace: `  if (type === 21 /* Alert */) {
    await record.readUint8(0);
    const desc = await record.readUint8(0);
    throw new Error(\`Alert \${desc} received in plaintext\`);
  }`
  },
  {
    why: "an encrypted alert other than close_notify ends the connection with its reason (bad_record_mac: bytes altered on the way); subtls handed it on as application data, which the POP3 decoder then waited on until the time limit",
    find: `    if (closeNotify) return void 0;
  }`,
    replace: `    if (closeNotify) return void 0;
    throw new Error(\`Alert \${record[1]} received\`);
  }`
  },
  {
    why: "after the handshake only application data is data: a KeyUpdate (which subtls cannot follow) or any other record type is an error, not bytes for the POP3 decoder",
    find: `    return readEncryptedTlsRecord(networkRead, applicationDecrypter);`,
    replace: `    return readEncryptedTlsRecord(networkRead, applicationDecrypter, 23 /* Application */);`
  }
]

/** The text of core/tls/vendor/subtls.js, made from node_modules/subtls. */
export const vendoredSubtls = (): string => {
  const { version } = JSON.parse(readFileSync(new URL("package.json", source), "utf8")) as { version: string }
  if (version !== PINNED) throw new Error(`node_modules/subtls is ${version}; this script vendors ${PINNED}`)
  const code = readFileSync(new URL("index.js", source), "utf8")
  const fallbacks = code.match(FALLBACK)?.length ?? 0
  if (fallbacks !== 2) throw new Error(`expected subtls's 2 import("crypto") fallbacks, found ${fallbacks}`)
  let fixed = code
  for (const fix of FIXES) {
    const count = fixed.split(fix.find).length - 1
    if (count !== 1)
      throw new Error(`subtls fix (${fix.why.slice(0, 60)}…): expected its text once, found it ${count} times`)
    fixed = fixed.replace(fix.find, () => fix.replace)
  }
  const patched = fixed.replace(
    FALLBACK,
    'Promise.reject(new Error("end-to-end TLS needs WebCrypto (globalThis.crypto)"))'
  )
  if (/import\(|require\(|from\s*["']/.test(patched)) throw new Error("subtls imports something: review it")
  const license = readFileSync(new URL("LICENSE", source), "utf8")
    .trim()
    .split("\n")
    .map((line) => ` * ${line}`.trimEnd())
    .join("\n")
  return `/*
 * subtls ${PINNED} (https://github.com/jawj/subtls), with hextreme bundled in, as published
 * on npm; written by \`npm run subtls\` (scripts/vendor-subtls.ts), do not edit. The changes:
 * the two \`import("crypto")\` fallbacks for runtimes without globalThis.crypto reject
 * instead, so that no bundle holds a Node built-in; and ${FIXES.length} fixes to its certificate
 * checks and record handling, each explained in scripts/vendor-subtls.ts.
 *
${license}
 */
${patched}`
}

if (import.meta.main) {
  writeFileSync(target, vendoredSubtls())
  process.stdout.write(`wrote ${target.pathname} (subtls ${PINNED}, ${FIXES.length} fixes)\n`)
}
