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
    /Ran out of certificates|did not end in a trusted root|basicConstraints do not indicate a CA|certificate verify failed|keyUsage does not include/,
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
  ]
]

/**
 * A failure of the handshake or of a record as a `TlsError` for `host`. `alert` is the
 * description of a plaintext alert the server sent instead of its hello, if it did.
 * @category errors
 */
export const tlsFailure = (host: string, cause: unknown, alert?: number): TlsError => {
  if (cause instanceof TlsError) return cause
  const known = alert === undefined ? undefined : ALERTS[alert]
  if (known !== undefined) return new TlsError({ host, reason: known.reason, problem: known.problem })
  // WebCrypto's AES-GCM says only "OperationError" when a tag does not verify.
  if (typeof cause === "object" && cause !== null && (cause as { name?: unknown }).name === "OperationError") {
    return new TlsError({
      host,
      reason: "a TLS record failed its integrity check (AES-GCM): bytes were altered on the way",
      problem: "bad-record-mac"
    })
  }
  const text = cause instanceof Error ? cause.message : String(cause)
  for (const [pattern, problem, reason] of RULES) {
    if (pattern.test(text)) return new TlsError({ host, reason: `${reason} (${text})`, problem })
  }
  if (alert !== undefined || /Fatal alert/.test(text)) {
    return new TlsError({
      host,
      reason: `the server ended the handshake${alert !== undefined ? ` (alert ${alert})` : ""}`,
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
