// Node from the project's devDependency in a child process, as a user's shell would run it:
// only PATH and what a test gives in its environment, stdout as bytes (a RETR is bytes),
// stderr as text, the exit code (null when the timeout killed it).
import { execFile } from "node:child_process"

/** The project's Node (the devDependency), whatever runs the tests. */
export const NODE = new URL("../../node_modules/.bin/node", import.meta.url).pathname
/** The `pop3` executable's source entry. */
export const BIN = new URL("../../core/cli/bin.ts", import.meta.url).pathname

/** How a child process ended. */
export interface Exited {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

/** Runs `node args…` with PATH and `env` only; never rejects. */
export const runNode = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly timeout?: number } = {}
): Promise<Exited> =>
  new Promise((resolve) => {
    execFile(
      NODE,
      args,
      {
        env: { PATH: process.env["PATH"] ?? "", ...options.env },
        encoding: "buffer",
        timeout: options.timeout ?? 10_000
      },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
          stdout,
          stderr: stderr.toString("utf8")
        })
    )
  })
