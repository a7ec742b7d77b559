/**
 * What went wrong in end-to-end TLS, as a `TlsError` a caller can act on. subtls throws
 * plain `Error`s whose messages are its only account of the failure, and WebCrypto throws
 * an `OperationError` when AES-GCM rejects a record; both are read here, once, so the rest
 * of the layer deals in `TlsError`s. None of the texts read holds a secret (they name
 * certificates, record types and the host), and no key or plaintext is ever put in one.
 *
 * @module
 */
import { TlsError } from "../errors.ts"

type Problem = NonNullable<TlsError["problem"]>

/** TLS alert descriptions (RFC 8446 §6) a server sends when it will not go on. */
const ALERTS: Record<number, { readonly problem: Problem; readonly reason: string }> = {
  40: {
    problem: "unsupported",
    reason:
      "the server refused the handshake (handshake_failure alert): it wants a cipher suite, group or signature algorithm that end-to-end TLS does not offer (TLS_AES_128_GCM_SHA256 with P-256)"
  },
  70: {
    problem: "protocol-version",
    reason:
      "the server does not speak TLS 1.3 (protocol_version alert); end-to-end TLS offers TLS 1.3 only and never falls back"
  },
  71: { problem: "unsupported", reason: "the server refused the handshake (insufficient_security alert)" },
  20: {
    problem: "bad-record-mac",
    reason: "the server could not authenticate a record (bad_record_mac alert): bytes were altered on the way"
  },
  51: {
    problem: "bad-record-mac",
    reason: "the server could not decrypt the handshake (decrypt_error alert): bytes were altered on the way"
  }
}

// subtls's messages, most specific first.
const RULES: ReadonlyArray<readonly [RegExp, Problem, string]> = [
  [/No matching subjectAltName/, "host-name-mismatch", "the server's certificate is not for this host name"],
  [/is not valid now/, "not-valid-now", "a certificate of the server's chain has expired or is not valid yet"],
  [
    /extensions this client cannot check/,
    "untrusted-certificate",
    "a certificate of the server's chain has an extension end-to-end TLS does not check (name constraints, or one marked critical): refused rather than trusted unchecked"
  ],
  [
    /keyUsage does not include|extKeyUsage does not include/,
    "untrusted-certificate",
    "a certificate of the server's chain is not for this use (its key usage or extended key usage)"
  ],
  [
    /Exceeded certificate pathLength/,
    "untrusted-certificate",
    "the server's chain is longer than one of its CAs allows (pathLength)"
  ],
  [
    /Ran out of certificates|did not end in a trusted root|basicConstraints do not indicate a CA|certificate verify failed/,
    "untrusted-certificate",
    "the server's certificate is not signed by a trusted CA (a private CA or a self-signed certificate: pass the CA as `ca`)"
  ],
  [
    /has no TLS server extKeyUsage/,
    "untrusted-certificate",
    "the server's certificate is not for TLS servers (no serverAuth extended key usage)"
  ],
  [
    /Illegal TLS record type|TLS record version/,
    "not-tls",
    "the server did not answer with TLS (is this a plaintext port?)"
  ],
  [
    /No TLS version provided|^Expected 772,/,
    "protocol-version",
    "the server does not speak TLS 1.3; end-to-end TLS offers TLS 1.3 only and never falls back"
  ],
  [
    /HelloRetryRequest|Unsupported|Expected 65 bytes of key share/,
    "unsupported",
    "the server wants a cipher suite, group or signature algorithm that end-to-end TLS does not offer (TLS_AES_128_GCM_SHA256 with P-256)"
  ],
  [
    /Invalid server verify hash/,
    "bad-record-mac",
    "the handshake failed its integrity check: bytes were altered on the way"
  ],
  [
    /^Unexpected TLS record type/,
    "unsupported",
    "the server sent a TLS message end-to-end TLS does not handle after the handshake (a KeyUpdate, say)"
  ]
]

/**
 * A failure of the handshake or of a record as a `TlsError` for `host`. `alert` is the
 * description of a plaintext alert the server sent instead of its hello, if it did.
 * @category errors
 */
export const tlsFailure = (host: string, cause: unknown, alert?: number): TlsError => {
  if (cause instanceof TlsError) return cause
  const text = cause instanceof Error ? cause.message : String(cause)
  // subtls, as patched (scripts/vendor-subtls.ts), names every alert it receives:
  // "Alert N received", or "… in plaintext" for one outside the encryption.
  const received = /^Alert (\d+) received( in plaintext)?$/.exec(text)
  const number = alert ?? (received === null ? undefined : Number(received[1]))
  const known = number === undefined ? undefined : ALERTS[number]
  if (known !== undefined) return new TlsError({ host, reason: known.reason, problem: known.problem })
  // WebCrypto's AES-GCM says only "OperationError" when a tag does not verify.
  if (typeof cause === "object" && cause !== null && (cause as { name?: unknown }).name === "OperationError") {
    return new TlsError({
      host,
      reason: "a TLS record failed its integrity check (AES-GCM): bytes were altered on the way",
      problem: "bad-record-mac"
    })
  }
  for (const [pattern, problem, reason] of RULES) {
    if (pattern.test(text)) return new TlsError({ host, reason: `${reason} (${text})`, problem })
  }
  if (number !== undefined) {
    const unencrypted = received?.[2] !== undefined || alert !== undefined
    return new TlsError({
      host,
      reason: `the TLS session was ended by alert ${number}${unencrypted ? " (unencrypted: the server's before its hello, or one put in on the way)" : ""}`,
      problem: "handshake-aborted"
    })
  }
  return new TlsError({ host, reason: text })
}

/**
 * The server hung up before the handshake was over.
 * @category errors
 */
export const handshakeClosed = (host: string): TlsError =>
  new TlsError({
    host,
    reason: "the server closed the connection during the TLS handshake",
    problem: "handshake-aborted"
  })
