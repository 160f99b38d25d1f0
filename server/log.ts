// Operational log lines on stderr (stdout is kept for what a person asked for: banners, tokens).
// HUDDLE_LOG=quiet silences them, e.g. under load tests.
const quiet = process.env.HUDDLE_LOG === 'quiet'

export function log(message: string, fields: Record<string, unknown> = {}): void {
  if (quiet) return
  const extra = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
    .join(' ')
  process.stderr.write(`${new Date().toISOString()} ${message}${extra ? ` ${extra}` : ''}\n`)
}
