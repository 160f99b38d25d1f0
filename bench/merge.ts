// `node dist/bench/merge.js <out-dir> <results.json>...`: one report (ratio table, Markdown,
// charts) from several runs. A later file replaces an earlier one's measurements of the same
// scenario and case, e.g. a full run with one scenario re-run after a change.
import { mkdirSync, readFileSync } from 'node:fs'
import type { Context, Measurement } from './lib/context.js'
import { report } from './lib/report.js'

const [out, ...files] = process.argv.slice(2)
if (!out || files.length === 0) {
  process.stderr.write('usage: node dist/bench/merge.js <out-dir> <results.json>...\n')
  process.exit(2)
}
let results: Measurement[] = []
const notes: Context['notes'] = []
const commands: string[] = []
let settings: Context['settings'] | null = null
for (const file of files) {
  const run = JSON.parse(readFileSync(file, 'utf8')) as { command: string; settings: Context['settings']; results: Measurement[]; notes: Context['notes'] }
  const replaced = new Set(run.results.map((m) => `${m.scenario}\u0000${m.case}`))
  results = [...results.filter((m) => !replaced.has(`${m.scenario}\u0000${m.case}`)), ...run.results]
  notes.push(...run.notes)
  commands.push(run.command)
  settings ??= run.settings
}
mkdirSync(out, { recursive: true })
const ctx = { pool: null as never, settings: settings!, results, notes }
process.stdout.write(report(ctx, { dir: out, command: commands.join('` + `'), seconds: 0, loadAverage: Number.NaN }))
