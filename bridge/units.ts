/**
 * Parsing the units settings are written in (TIME, BYTES, counts), for the command line,
 * the config file and the Workers bridge's environment variables. Pure, no runtime imports.
 */

/** `500ms`, `10s`, `5m`, `1h`, `2d`, or a bare number of seconds → milliseconds. @category config */
export const parseDuration = (text: string | number): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(text).trim())
  if (m === null) throw new Error(`"${text}" is not a duration like 10s, 5m or 1h`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h" | "d"]
  return Math.round(Number(m[1]) * unit)
}

/** `65536`, `64k`, `1m` (powers of 1024) → bytes. @category config */
export const parseSize = (text: string | number): number => {
  const m = /^(\d+)\s*(k|m|kb|mb|kib|mib)?$/i.exec(String(text).trim())
  if (m === null) throw new Error(`"${text}" is not a size like 65536, 64k or 1m`)
  const unit = (m[2] ?? "").toLowerCase().startsWith("m") ? 1024 * 1024 : m[2] === undefined ? 1 : 1024
  return Number(m[1]) * unit
}

/** A whole number of things (connections). @category config */
export const parseCount = (text: string | number): number => {
  if (!/^\d+$/.test(String(text).trim())) throw new Error(`"${text}" is not a whole number`)
  return Number(text)
}

/** The value if it is a positive finite number; else a readable error. @category config */
export const positive = (name: string, value: number): number => {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${value}`)
  return value
}
