// A workaround for a Chromium bug, installed before anything decodes mail.
//
// The Encoding Standard gives every decode() call that is not streaming a fresh decoder,
// but Chromium's iso-2022-jp TextDecoder keeps its escape state from the previous call.
// postal-mime reuses one TextDecoder per charset, so after decoding a Japanese display name
// the subject decoded next began with "�" (checked on Chromium 156; Node decodes it right).
// For iso-2022-jp only, a call that does not continue a stream gets a new native decoder.
const Native = globalThis.TextDecoder

class SpecTextDecoder extends Native {
  #streaming = false
  override decode(input?: AllowSharedBufferSource, options?: TextDecodeOptions): string {
    const continuing = this.#streaming
    this.#streaming = options?.stream === true
    if (this.encoding !== "iso-2022-jp" || continuing || this.#streaming) return super.decode(input, options)
    return new Native(this.encoding, { fatal: this.fatal, ignoreBOM: this.ignoreBOM }).decode(input)
  }
}

globalThis.TextDecoder = SpecTextDecoder
