/**
 * SASLprep (RFC 4013) for user names and passwords in SCRAM and UTF-8 logins: non-ASCII
 * spaces become U+0020, "commonly mapped to nothing" characters are removed, the result
 * is NFKC-normalized, and prohibited characters (controls, private use, surrogates,
 * non-characters) are refused. Bidirectional rules are not checked; no real password
 * has been seen to need them, and refusing would lock users out.
 *
 * @module
 */

// RFC 3454 C.1.2 (non-ASCII space characters).
const SPACES = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g
// RFC 3454 B.1 (commonly mapped to nothing).
// biome-ignore lint/suspicious/noMisleadingCharacterClass: single code points (variation selectors among them), matched one by one
const NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g
// RFC 3454 C.2–C.9 (what B.1 and NFKC leave of them): controls, private use, non-characters,
// surrogates, unsuitable for plain text, ideographic description, change display, tags.
// Matched by code point (the `u` flag): a surrogate *pair* is a character like any other
// (an emoji in a password is fine); only a lone surrogate is prohibited.
const PROHIBITED =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: code points matched one by one (the `u` flag); combining marks are prohibited on their own
  /[\u0000-\u001F\u007F-\u009F\u0340\u0341\u06DD\u070F\u180E\u200E\u200F\u2028-\u202E\u2061-\u2063\u206A-\u206F\u2FF0-\u2FFB\uD800-\uDFFF\uE000-\uF8FF\uFDD0-\uFDEF\uFFF9-\uFFFF\u{1D173}-\u{1D17A}\u{E0001}\u{E0020}-\u{E007F}\u{F0000}-\u{10FFFF}]/u

// C.4 also holds U+nFFFE and U+nFFFF of every plane.
const hasNonCharacter = (s: string): boolean => {
  for (const ch of s) if ((ch.codePointAt(0)! & 0xfffe) === 0xfffe) return true
  return false
}

/**
 * Prepares a string, or returns `undefined` when it contains a prohibited character.
 * @category saslprep
 */
export const saslprep = (input: string): string | undefined => {
  const out = input.replace(SPACES, " ").replace(NOTHING, "").normalize("NFKC")
  return PROHIBITED.test(out) || hasNonCharacter(out) ? undefined : out
}
