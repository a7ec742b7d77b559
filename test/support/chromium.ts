// Debian's Chromium driven by playwright-core, for the web demo's end-to-end tests. The
// flags are the ones the platform notes list (the machine's network is closed); each
// launch gets a fresh profile directory, removed again by `close`.
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrowserContext, chromium } from "playwright-core"
import { chromiumFlags } from "../../vite.config.ts"
import type { ServiceCheck } from "./require-service.ts"

export const CHROMIUM = "/usr/bin/chromium"

/** Whether Chromium can be launched here, and if not, why (for requireService). */
export function chromiumAvailable(): ServiceCheck {
  if (!existsSync(CHROMIUM))
    return { ok: false, why: `${CHROMIUM} not found (apt-get install -y --no-install-recommends chromium)` }
  return { ok: true }
}

export interface LaunchedChromium {
  /** The browser's one context (a persistent context owns the profile directory). */
  readonly context: BrowserContext
  /** Closes the browser and removes its profile directory. */
  readonly close: () => Promise<void>
}

/**
 * Launches headless Chromium with a fresh profile directory. Playwright passes the directory
 * as --user-data-dir itself (it refuses that flag in `args`), through a persistent context.
 */
export async function launchChromium(
  options: { readonly viewport?: { width: number; height: number } } = {}
): Promise<LaunchedChromium> {
  const profile = await mkdtemp(join(tmpdir(), "pop3-chromium-"))
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...chromiumFlags],
      acceptDownloads: true,
      viewport: options.viewport ?? { width: 1440, height: 900 }
    })
    return {
      context,
      close: async () => {
        await context.close().catch(() => {})
        await rm(profile, { recursive: true, force: true })
      }
    }
  } catch (error) {
    await rm(profile, { recursive: true, force: true })
    throw error
  }
}
