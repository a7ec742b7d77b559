import { defineConfig } from "vitest/config"

// One config for Vite (the web demo, later) and Vitest (the test projects).
// - unit: the protocol engine, client, CLI and dev server; no external services.
// - bridge: the WebSocket relay with real sockets on loopback.
// - interop: a real Dovecot started by the tests (fails under CI=true when missing).
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/core/**/*.test.ts", "test/dev-server/**/*.test.ts", "test/cli/**/*.test.ts"]
        }
      },
      {
        extends: true,
        test: { name: "bridge", include: ["test/bridge/**/*.test.ts"] }
      },
      {
        extends: true,
        test: {
          name: "interop",
          include: ["test/interop/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      }
    ]
  }
})
