/**
 * Every size limit the engine enforces, in one place, each with the reason for its number.
 *
 * @module
 */

/**
 * RFC 2449 §4: a command line, including its CRLF, may be at most 255 octets.
 * Servers may reject longer lines, so the encoder refuses them before anything is sent.
 * @category limits
 */
export const MAX_COMMAND_LINE = 255

/**
 * RFC 2449 §4 allows 512 octets for a response status line, but real servers send long
 * `-ERR` texts and CAPA `IMPLEMENTATION` strings. 8 KiB is generous for any honest
 * server and still stops a hostile one from growing our memory with an endless line.
 * @category limits
 */
export const MAX_STATUS_LINE = 8 * 1024

/**
 * Lines of a LIST / UIDL / CAPA listing are parsed one by one. RFC 1939 limits a UID to
 * 70 characters; getmail6 saw longer ones, so allow the same as a status line.
 * Message body lines are deliberately NOT limited (real mail has 100 KB lines).
 * @category limits
 */
export const MAX_LISTING_LINE = MAX_STATUS_LINE

/**
 * A SASL continuation line (RFC 5034 §4): "clients MUST be able to send at least 255
 * octets" is the floor, not a ceiling; OAuth tokens are several KiB. We cap a single
 * client response line at 64 KiB, far above any real token.
 * @category limits
 */
export const MAX_SASL_LINE = 64 * 1024

/**
 * A CAPA answer may have at most this many lines, and MAX_CAPA_OCTETS octets. Servers send
 * a dozen or two (RFC 2449's capabilities, a SASL line, an IMPLEMENTATION); CAPA is read
 * before the login and again after it, on every connection, so the listing limits below
 * (sized for two million messages) let a hostile server make `pop3 stat` hold over a
 * gigabyte, twice.
 * @category limits
 */
export const MAX_CAPA_LINES = 1_000

/**
 * See MAX_CAPA_LINES.
 * @category limits
 */
export const MAX_CAPA_OCTETS = 256 * 1024

/**
 * A LIST or UIDL listing may have at most this many lines. The lines are kept in
 * memory (about 150 bytes each once parsed), so a hostile server streaming an endless
 * listing could otherwise exhaust it. Two million is 100 times the 20k-message mailboxes
 * that troubled other clients (MailKit #872); a larger mailbox needs a raised limit
 * (`ListingLimits`).
 * @category limits
 */
export const MAX_LISTING_LINES = 2_000_000

/**
 * A listing may have at most this many octets: with lines of up to MAX_LISTING_LINE, a
 * line count alone would still allow gigabytes. 128 MiB holds two million UIDL lines of
 * the longest UIDs RFC 1939 allows (70 characters).
 * @category limits
 */
export const MAX_LISTING_OCTETS = 128 * 1024 * 1024

/**
 * The largest body collected into memory (`collect`, the Promise API's `retr` and `top`,
 * `retrMany`/`topMany`): past it the client gives up with `ProtocolError` rather than
 * grow without end on a server that never ends a body. 512 MiB is several times the
 * largest message big providers accept (Outlook 150 MB, Gmail 50 MB received); a body
 * streamed (`mailbox.retr` as a Stream, `retrStream`, `pop3 fetch`) is not held, so not
 * bounded. Raise it with `BodyLimits`.
 * @category limits
 */
export const MAX_COLLECTED_OCTETS = 512 * 1024 * 1024
