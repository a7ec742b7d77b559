/**
 * USER/PASS (RFC 1939 §7): the password in the clear, so only over TLS unless allowed.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { hasCapability } from "../protocol/parse.ts"
import type { MechanismOf } from "./mechanism.ts"

/**
 * The USER/PASS mechanism.
 * @category mechanisms
 */
export const userPass: MechanismOf<"password"> = {
  name: "USER",
  rank: 10,
  plaintext: true,
  auto: true,
  credential: "password",
  // Servers without CAPA are assumed to support USER, the RFC 1939 baseline.
  offered: (ex) => ex.capabilities.entries.size === 0 || hasCapability(ex.capabilities, "USER"),
  notOffered: () => "the server does not announce USER in its capabilities (some servers allow it only after STLS)",
  authenticate: (ex, credentials) =>
    Effect.gen(function* () {
      const user = yield* ex.send({ name: "USER", user: credentials.user })
      if (user.kind !== "ok") return user
      return yield* ex.send({ name: "PASS", password: Redacted.value(credentials.password) })
    })
}
