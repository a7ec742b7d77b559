/**
 * APOP (RFC 1939 §7): MD5 of the greeting's timestamp and the shared secret, so the
 * password itself never crosses the wire. MD5 is weak today, but APOP remains the only
 * non-plaintext login many old servers offer.
 *
 * @module
 */
import { md5 } from "@noble/hashes/legacy.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { AuthError } from "../errors.ts"
import type { MechanismOf } from "./mechanism.ts"

/**
 * The APOP digest: lower-case hex MD5 of timestamp + secret.
 * RFC 1939's example: `<1896.697170952@dbc.mtview.ca.us>` + `tanstaaf` →
 * `c4c9334bac560ecc979e58001b3e22fb`.
 * @category crypto
 */
export const apopDigest = (timestamp: string, secret: string): string =>
  bytesToHex(md5(utf8ToBytes(timestamp + secret)))

/**
 * The APOP mechanism; offered when the greeting carries a timestamp.
 * @category mechanisms
 */
export const apop: MechanismOf<"password"> = {
  name: "APOP",
  rank: 40,
  plaintext: false,
  auto: true,
  credential: "password",
  offered: (ex) => ex.apopTimestamp !== undefined,
  notOffered: () => "the server's greeting has no APOP timestamp",
  authenticate: (ex, credentials) =>
    Effect.suspend(() =>
      // Without the greeting's timestamp the "digest" would be an unsalted MD5 of the password.
      ex.apopTimestamp === undefined
        ? Effect.fail(
            new AuthError({
              attempts: [],
              reason: "APOP needs the timestamp of the server's greeting, and this greeting has none; nothing was sent",
              notOffered: true
            })
          )
        : ex.send({
            name: "APOP",
            user: credentials.user,
            digest: apopDigest(ex.apopTimestamp, Redacted.value(credentials.password))
          })
    )
}
