// The connect form's defaults: from VITE_* variables (npm start sets them for the dev stack),
// otherwise a bridge on this machine and a mail server speaking implicit TLS on 995.
export interface Defaults {
  readonly bridgeUrl: string
  readonly host: string
  readonly port: number
  /** The same server's plain POP3 port (npm start: the dev server's STLS port), for Security "None". */
  readonly plainPort: number
  readonly tls: "implicit" | "none"
  readonly user: string
  readonly password: string
  /** A CA to trust for end-to-end TLS (npm start: the dev server's test certificate). */
  readonly ca?: string | undefined
}

// Each variable is read as `import.meta.env.NAME`: Vite replaces exactly that expression at
// build time, while `import.meta.env` as a whole becomes an object holding every VITE_*
// variable — including a password, in the public bundle.
const text = (value: string | undefined, fallback: string): string =>
  value !== undefined && value.trim() !== "" ? value.trim() : fallback
const port = (value: string | undefined, fallback: number): number => {
  const n = Number(value)
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback
}

export const defaults: Defaults = {
  bridgeUrl: text(import.meta.env.VITE_POP3_BRIDGE_URL, "ws://127.0.0.1:8110/pop3"),
  host: text(import.meta.env.VITE_POP3_HOST, "localhost"),
  port: port(import.meta.env.VITE_POP3_PORT, 995),
  plainPort: port(import.meta.env.VITE_POP3_PLAIN_PORT, 110),
  tls: import.meta.env.VITE_POP3_TLS === "none" ? "none" : "implicit",
  user: import.meta.env.VITE_POP3_USER ?? "",
  // Dev server only (npm start's sample mailbox): `vite build` runs in mode "production"
  // (whatever NODE_ENV says, unlike DEV), so the branch is dropped and a password set at
  // build time never reaches the public bundle.
  password: import.meta.env.MODE === "development" ? (import.meta.env.VITE_POP3_PASSWORD ?? "") : "",
  // Dev server only, like the password: a public build trusts no test certificate.
  ca: import.meta.env.MODE === "development" ? import.meta.env.VITE_POP3_CA : undefined
}
