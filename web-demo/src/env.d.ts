/// <reference types="vite/client" />

// The connect form's defaults, set by scripts/stack.ts (npm start) or by whoever builds the demo.
interface ImportMetaEnv {
  readonly VITE_POP3_BRIDGE_URL?: string
  readonly VITE_POP3_HOST?: string
  readonly VITE_POP3_PORT?: string
  readonly VITE_POP3_PLAIN_PORT?: string
  readonly VITE_POP3_TLS?: string
  readonly VITE_POP3_USER?: string
  readonly VITE_POP3_PASSWORD?: string
  /** PEM of a CA the end-to-end TLS option trusts (npm start: the dev server's certificate). */
  readonly VITE_POP3_CA?: string
}
