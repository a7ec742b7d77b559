// A workaround for a Chromium bug, installed before anything decodes mail.
//
// The Encoding Standard gives every decode() call that is not streaming a fresh decoder,
// but Chromium's iso-2022-jp TextDecoder keeps its escape state from the previous call.
// postal-mime reuses one TextDecoder per charset, so after decoding a Japanese display name
// the subject decoded next began with "�" (checked on Chromium 156; Node decodes it right).
// For iso-2022-jp only, a call that does not continue a stream decodes with a new decoder.
//
// The patch is on the prototype's decode, not a subclass put in place of the global, so
// decoders made before it (postal-mime makes some when its module loads) are fixed too.
let installed = false

/**
 * Installs the fix (once). Called, not imported for its effect: the package declares
 * `"sideEffects": false`, so a bundler drops a bare `import "./text-decoder-fix.ts"` — the
 * built demo ran without the fix.
 */
export const fixTextDecoder = (): void => {
  if (installed) return
  installed = true
  const proto = globalThis.TextDecoder.prototype
  const nativeDecode = proto.decode
  /** Decoders whose last call was streaming: their next call continues that stream. */
  const streaming = new WeakSet<TextDecoder>()
  proto.decode = function decode(this: TextDecoder, input?: AllowSharedBufferSource, options?: TextDecodeOptions) {
    if (this.encoding !== "iso-2022-jp") return nativeDecode.call(this, input, options)
    const continuing = streaming.has(this)
    if (options?.stream === true) streaming.add(this)
    else streaming.delete(this)
    if (continuing || options?.stream === true) return nativeDecode.call(this, input, options)
    const fresh = new globalThis.TextDecoder(this.encoding, { fatal: this.fatal, ignoreBOM: this.ignoreBOM })
    return nativeDecode.call(fresh, input)
  }
}
