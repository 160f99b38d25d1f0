// Human durations for flags: `1500ms`, `30s`, `10m`, `1h`, `30d`, or a bare number of milliseconds.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds, or throws an Error whose message says how to write a duration. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  if (!match) throw new Error(`bad duration ${JSON.stringify(text)}: write a number with a unit, e.g. 500ms, 30s, 10m, 1h, 30d`)
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!)
}
