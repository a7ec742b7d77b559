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
const NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g
// RFC 3454 C.2–C.9, simplified: controls, private use, surrogates, non-characters, tags.
const PROHIBITED = /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200E\u200F\u2028-\u202E\u206A-\u206F\uD800-\uDFFF\uE000-\uF8FF\uFFF9-\uFFFF]/

/**
 * Prepares a string, or returns `undefined` when it contains a prohibited character.
 * @category saslprep
 */
export const saslprep = (input: string): string | undefined => {
  const out = input.replace(SPACES, " ").replace(NOTHING, "").normalize("NFKC")
  return PROHIBITED.test(out) ? undefined : out
}
