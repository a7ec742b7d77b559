// The canary of the secrets tests (test/core/client/secrets.test.ts for the client,
// test/cli/secrets.test.ts for the CLI): a recognisable password and token, every form in
// which they could leak (plain, base64 at each alignment, escaped), and servers that take
// them or refuse them.

import { b64 } from "../auth/fake-exchange.ts"
import type { SaslOptions } from "../../../dev-server/sasl.ts"
import type { Behaviour, CommandTable } from "../../../dev-server/server.ts"
import { type AuthServer, authServer, makeStore, NAMED, OAUTH, PLAINTEXT, USER } from "./auth-harness.ts"

/** The password. */
export const CANARY = "CANARY-s3cr3t-Pw"
/** An OAuth token with the canary inside, for XOAUTH2 and OAUTHBEARER. */
export const CANARY_TOKEN = `ya29.${CANARY}-token`

/**
 * The base64 characters that encode `s` wherever it sits in a longer message: for each of
 * the three alignments, the characters determined by `s` alone.
 */
export const base64Inside = (s: string): Array<string> =>
  [0, 1, 2].map((offset) => {
    const encoded = b64("\u0000".repeat(offset) + s)
    const skip = Math.ceil((offset * 4) / 3)
    return encoded.slice(skip, encoded.length - 4)
  })

/** Every form in which the canary could leak. */
export const FORMS: ReadonlyArray<string> = [
  CANARY,
  b64(CANARY),
  ...base64Inside(CANARY),
  // PLAIN's initial response, with and without an authorization identity.
  b64(`\u0000${USER}\u0000${CANARY}`),
  b64(`${USER}\u0000${USER}\u0000${CANARY}`),
  // The OAuth initial responses.
  b64(`user=${USER}\u0001auth=Bearer ${CANARY_TOKEN}\u0001\u0001`),
  ...base64Inside(`auth=Bearer ${CANARY_TOKEN}`),
  // Percent- and JSON-escaped forms (a URL, a JSON dump).
  encodeURIComponent(CANARY),
  JSON.stringify(CANARY).slice(1, -1)
]

/** The forms of the canary found in `text`. */
export const leaksIn = (text: string): Array<string> => FORMS.filter((form) => text.includes(form))

/** Whether the secret crossed the wire in a form the search finds. */
export const crossedTheWire = (server: AuthServer): boolean => leaksIn(server.commands.join("\n")).length > 0

/**
 * Mechanisms that put the secret itself (plain or base64) on the wire; the others send a
 * digest or proof, from which the search cannot find it.
 */
export const sendsSecret = (mechanism: string): boolean => PLAINTEXT.has(mechanism as never)

/** A server where alice's password and token are the canary. */
export const canaryServer = (
  options: {
    readonly sasl?: SaslOptions
    readonly behaviour?: Behaviour
    readonly commands?: CommandTable
    readonly offer?: ReadonlyArray<string>
  } = {}
) =>
  authServer({
    store: makeStore({ password: CANARY }),
    sasl: { oauthTokens: { [USER]: CANARY_TOKEN }, ...options.sasl },
    ...(options.behaviour !== undefined ? { behaviour: options.behaviour } : {}),
    ...(options.commands !== undefined ? { commands: options.commands } : {}),
    ...(options.offer !== undefined ? { offer: options.offer } : {})
  })

/** A server where the canary is wrong (alice has another password and token). */
export const otherServer = (sasl: SaslOptions = {}) =>
  authServer({ sasl: { oauthTokens: { [USER]: "the-right-token" }, ...sasl } })

/** The canary as the secret a mechanism takes (a token for OAuth). */
export const secret = (mechanism: string) => (OAUTH.has(mechanism) ? CANARY_TOKEN : CANARY)

/** Every mechanism by name, and auto. */
export const ALL = [...NAMED, "auto"] as const
