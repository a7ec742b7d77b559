import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { playwright } from "@vitest/browser-playwright"
import { defaultClientConditions, defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"
import { isCI } from "./test/support/ci.ts"

// One config for Vite (the web demo in web-demo/) and Vitest (the test projects, rooted at
// the repository).
// - unit: the protocol engine, client, CLI and dev server; no external services.
// - browser: the same engine and client tests inside Debian's Chromium (vitest browser
//   mode), proving core/ is browser-clean.
// - bridge: the WebSocket relay with real sockets on loopback.
// - interop: a real Dovecot started by the tests (fails under CI when missing),
//   including the same scenario on Deno, Bun and a Worker in miniflare.
// - e2e: the web demo in Chromium through playwright-core, against the `npm start` stack
//   and against Dovecot.
// - package: `npm pack`, installed into a fresh project and used with plain node, tsc,
//   vite, Deno and Bun.
const repo = fileURLToPath(new URL(".", import.meta.url))

// Without Chromium the browser project cannot start. Under CI (any non-empty CI) that is a
// failure (the project stays, and fails to launch); elsewhere it is left out, saying why.
const CHROMIUM = "/usr/bin/chromium"
const haveChromium = existsSync(CHROMIUM)
const ci = isCI()
if (!haveChromium && !ci) {
  process.stderr.write(
    `skipping the browser project (core tests in Chromium): ${CHROMIUM} not found (apt-get install chromium)\n`
  )
}

/** Debian's Chromium; flags from the platform notes (the machine's network is closed). */
export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/**
 * The package imports itself by name (the demo imports `pop3-everywhere`, the Promise API
 * loads `pop3-everywhere/transport`); in this repository those resolve to the TypeScript
 * sources through this export condition rather than to the compiled `dist/lib/`.
 */
export const SOURCE_CONDITION = "@pop3-everywhere/source"

export default defineConfig({
  root: "web-demo",
  // Relative URLs: the static site works from any directory of any static file server.
  base: "./",
  worker: { format: "es" },
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: {
    resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions], externalConditions: [SOURCE_CONDITION] }
  },
  build: { outDir: "../dist/web-demo", emptyOutDir: true, target: "es2022" },
  test: {
    root: repo,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          // Some tests spawn the CLI or run property tests; on a loaded 2-core machine they
          // passed vitest's 5 s default only sometimes. The limit bounds a hang, not speed.
          testTimeout: 30_000,
          include: [
            "test/core/**/*.test.ts",
            "test/dev-server/**/*.test.ts",
            "test/cli/**/*.test.ts",
            "test/support/**/*.test.ts",
            "test/ci/**/*.test.ts"
          ],
          // IndexedDB: only in the browser project.
          exclude: ["test/core/sync/indexeddb.test.ts"]
        }
      },
      ...(haveChromium || ci
        ? [
            {
              extends: true,
              test: {
                name: "browser",
                // Every test of the engine, the auth mechanisms, the client and the Promise API
                // that needs no Node API. Left out, because they need Node: hostile.test.ts and
                // tls.test.ts (node:net/node:tls sockets), auth/registry.test.ts (reads the README
                // and the CLI's argument parser).
                include: [
                  "test/core/protocol/**/*.test.ts",
                  "test/core/auth/*.test.ts",
                  "test/core/client/{auth,client,connection,pipeline,secrets,trace}.test.ts",
                  "test/core/promise.test.ts",
                  "test/core/promise-lifecycle.test.ts",
                  "test/core/transport/{memory,bridge-rules}.test.ts",
                  // The sync engine and the browser's store, against the dev server over the memory transport.
                  "test/core/sync/{engine,indexeddb}.test.ts"
                ],
                exclude: ["test/core/auth/registry.test.ts"],
                browser: {
                  enabled: true,
                  headless: true,
                  screenshotFailures: false,
                  provider: playwright({
                    launchOptions: { executablePath: CHROMIUM, args: chromiumFlags }
                  }),
                  instances: [{ browser: "chromium" as const }]
                }
              }
            }
          ]
        : []),
      {
        extends: true,
        test: { name: "bridge", include: ["test/bridge/**/*.test.ts"], testTimeout: 30_000 }
      },
      {
        extends: true,
        test: {
          name: "interop",
          include: ["test/interop/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      },
      {
        extends: true,
        test: {
          // The package as users get it: npm pack, installed in a fresh project.
          name: "package",
          include: ["test/package/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 240_000
        }
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/web-demo/**/*.test.ts"],
          testTimeout: 90_000,
          hookTimeout: 90_000
        }
      }
    ]
  }
})
