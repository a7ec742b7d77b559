/**
 * Bundles a Worker entry (TypeScript, importing core/ or bridge/) into one ES module for
 * workerd, with Vite's build API (Rolldown underneath). `cloudflare:*` modules stay
 * imports: the runtime provides them.
 */
import { fileURLToPath } from "node:url"
import { build, type Rolldown } from "vite"

const repo = fileURLToPath(new URL("../..", import.meta.url))

/** The bundled module's source text. */
export const bundleWorker = async (entry: string): Promise<string> => {
  const result = await build({
    configFile: false, // the repository's vite.config.ts is for the web demo and the tests
    root: repo,
    logLevel: "silent",
    build: {
      write: false,
      minify: false,
      target: "es2022",
      lib: { entry: fileURLToPath(new URL(entry, `file://${repo}/`)), formats: ["es"], fileName: "worker" },
      // One module for workerd: code a worker loads with import() (end-to-end TLS's
      // subtls and roots) is inlined rather than split into a chunk of its own.
      rolldownOptions: { external: [/^cloudflare:/], output: { inlineDynamicImports: true } }
    }
  })
  const outputs = (Array.isArray(result) ? result : [result]) as ReadonlyArray<Rolldown.RolldownOutput>
  const chunks = outputs.flatMap((o) => o.output).filter((o): o is Rolldown.OutputChunk => o.type === "chunk")
  const [only, ...more] = chunks
  if (only === undefined || more.length > 0) throw new Error(`expected one chunk from ${entry}, got ${chunks.length}`)
  return only.code
}
