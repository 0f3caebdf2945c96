/**
 * Text that crosses a boundary: what a program prints must be storable (PostgreSQL refuses NUL and
 * lone UTF-16 surrogates), cuttable without breaking a character, and printable on a terminal
 * without letting it drive the terminal. Pure functions, shared by the server, agents and the CLI.
 */

/** NUL, and UTF-16 surrogates that are not part of a pair. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g
const HAS_UNSTORABLE = /[\u0000\ud800-\udfff]/

/** Replaces NUL and lone surrogates with U+FFFD, so any text a program prints can be stored. */
export function storableText(text: string): string {
  return HAS_UNSTORABLE.test(text) ? text.replace(UNSTORABLE, '\ufffd') : text
}

/**
 * Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair (an emoji cut in
 * half is a lone surrogate, which the database refuses), appending `suffix` when it cut.
 */
export function cutText(text: string, max: number, suffix = ''): string {
  if (text.length <= max) return text
  let end = Math.max(0, max - suffix.length)
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end-- // do not keep the first half of a pair
  return text.slice(0, end) + suffix
}

/**
 * Terminal escape sequences (CSI, OSC, DCS and the like), other C0 and C1 controls, DEL, and the
 * bidirectional overrides that reorder what a reader sees. Tabs and newlines are kept.
 */
const TERMINAL_CONTROL =
  /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[\]PX^_][\s\S]*?(?:\u0007|\u001b\\|\u009c)|\u009b[0-?]*[ -/]*[@-~]|[\u009d\u0090\u0098\u009e\u009f][\s\S]*?(?:\u0007|\u001b\\|\u009c)|\u001b[@-Z\\-_ -/]?|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

/** Text from elsewhere (logs, names, messages) made safe to print on a terminal. */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROL, '')
}
