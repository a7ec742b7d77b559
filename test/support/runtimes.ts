// Deno and Bun (and the project's Node 24) are devDependencies: npm installs them into
// node_modules/.bin. The tests that run code under them find them here, and say which one
// is missing when one is.
import { accessSync, constants } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { ServiceCheck } from "./require-service.ts"

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

/** The path of a runtime's executable from the devDependencies. */
export const runtimeBin = (name: string): string => join(ROOT, "node_modules", ".bin", name)

/** Whether each of `names` is installed and executable, and if not, why. */
export function runtimesAvailable(names: ReadonlyArray<string> = ["deno", "bun"]): ServiceCheck {
  for (const name of names) {
    try {
      accessSync(runtimeBin(name), constants.X_OK)
    } catch {
      return { ok: false, why: `${runtimeBin(name)} is missing (npm install puts deno and bun there)` }
    }
  }
  return { ok: true }
}
