// Measured figures of the fault tests. Each test writes what it ran and what it counted to
// test-output/reliability/<name>.json (test-output/ is gitignored); the last test file of the run
// (zz-report.fault.ts) assembles RELIABILITY.md from those files. Nothing in RELIABILITY.md is typed
// by hand: every number comes from a run.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../helpers/server.js'

export const RELIABILITY_DIR = join(ROOT, 'test-output', 'reliability')
export const RELIABILITY_MD = join(ROOT, 'RELIABILITY.md')

/** One id for every test file of one run (scripts/test.mjs runs each file in its own process and
 * sets HUDDLE_TEST_RUN), so the report can tell stale files apart. */
export const RUN_ID = process.env.HUDDLE_TEST_RUN ?? `${process.pid}-${Math.round(performance.timeOrigin)}`
export const RUN_STARTED_AT = Number(process.env.HUDDLE_TEST_RUN_STARTED ?? performance.timeOrigin)

export type Count = number | string

export interface Figures {
  /** file name stem, e.g. 'server-crash' */
  name: string
  /** the test's title in the table */
  title: string
  file: string
  /** what load it ran */
  load: string
  /** what faults it injected */
  faults: string
  /** what it counted; "lost"/"violations" style counts must be 0 for a pass */
  counts: Record<string, Count>
  /** the counts shown in the table (all of them are in the details) */
  headline: string[]
  /** what the test asserts, one line each */
  checks: string[]
  passed: boolean
  failure?: string
  durationMs: number
  startedAt: string
  runId: string
  seed?: number
}

/** Collects the counts of one test and writes them whether the test passes or fails. */
export class Recorder {
  readonly counts: Record<string, Count> = {}
  /** time spent inside run() (a file may call it for several tests) */
  private spentMs = 0
  private started: number | null = null
  load = ''
  faults = ''
  seed: number | undefined
  /** failures of every test that used this recorder (a file may run several) */
  readonly failures: string[] = []
  /** names of the counts for the table */
  readonly headline: string[] = []

  constructor(
    readonly name: string,
    readonly title: string,
    readonly checks: string[],
  ) {}

  /** Sets a count; `headline` puts it in the table too. */
  set(name: string, value: Count, headline = false): void {
    this.counts[name] = value
    if (headline && !this.headline.includes(name)) this.headline.push(name)
  }

  add(name: string, by = 1, headline = false): void {
    const current = this.counts[name]
    this.set(name, (typeof current === 'number' ? current : 0) + by, headline)
  }

  /** Marks counts (set now or later) for the table. */
  headlines(...names: string[]): void {
    for (const name of names) if (!this.headline.includes(name)) this.headline.push(name)
  }

  get(name: string): number {
    const value = this.counts[name]
    return typeof value === 'number' ? value : 0
  }

  /** Runs the test body, then writes the figures (also when the body throws, which it re-throws). */
  async run(body: (recorder: Recorder) => Promise<void>): Promise<void> {
    let failure: unknown = null
    const began = Date.now()
    this.started ??= began
    try {
      await body(this)
    } catch (error) {
      failure = error
      this.failures.push(String((error as Error).message ?? error).slice(0, 2000))
    }
    this.spentMs += Date.now() - began
    this.write()
    if (failure) throw failure
  }

  private write(): void {
    const figures: Figures = {
      name: this.name,
      title: this.title,
      file: `tests/faults/${this.name}.fault.ts`,
      load: this.load,
      faults: this.faults,
      counts: this.counts,
      headline: this.headline,
      checks: this.checks,
      passed: this.failures.length === 0,
      ...(this.failures.length ? { failure: this.failures.join('\n---\n').slice(0, 4000) } : {}),
      durationMs: this.spentMs,
      startedAt: new Date(this.started ?? Date.now()).toISOString(),
      runId: RUN_ID,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
    }
    mkdirSync(RELIABILITY_DIR, { recursive: true })
    writeFileSync(join(RELIABILITY_DIR, `${this.name}.json`), `${JSON.stringify(figures, null, 2)}\n`)
  }
}

export function readFigures(): Figures[] {
  let files: string[] = []
  try {
    files = readdirSync(RELIABILITY_DIR).filter((file) => file.endsWith('.json'))
  } catch {
    return []
  }
  return files
    .map((file) => JSON.parse(readFileSync(join(RELIABILITY_DIR, file), 'utf8')) as Figures)
    .sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name) || a.name.localeCompare(b.name))
}

/** The order of the table: the issue's order. */
export const ORDER = [
  'server-crash',
  'client-crash',
  'graceful-restart',
  'protocol-fuzz',
  'auth-attacks',
  'slow-consumer',
  'floods',
  'soak',
  'storage',
  'changeset-crash',
]

const fmt = (value: Count): string => (typeof value === 'number' ? (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2)) : value)
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** Writes RELIABILITY.md from the figures of this run (others are listed as stale). */
export function assembleReport(expected: string[] = ORDER): { path: string; missing: string[]; stale: string[]; failed: string[] } {
  const all = readFigures()
  const current = all.filter((figures) => figures.runId === RUN_ID)
  const stale = all.filter((figures) => figures.runId !== RUN_ID)
  const missing = expected.filter((name) => !current.some((figures) => figures.name === name))
  const failed = current.filter((figures) => !figures.passed).map((figures) => figures.name)
  const totalMs = Date.now() - RUN_STARTED_AT
  const lines: string[] = []
  lines.push('# Reliability')
  lines.push('')
  lines.push('What the fault and abuse tests (`tests/faults/`, issue 7) measured in their last full run. This file is')
  lines.push('written by the last test of `npm run test:faults` from the JSON each test leaves in')
  lines.push('`test-output/reliability/`; no number here is typed by hand. Re-run the suite to refresh it.')
  lines.push('')
  lines.push(
    `- Run: ${new Date(RUN_STARTED_AT).toISOString()}, ${(totalMs / 60_000).toFixed(1)} min in total (build excluded), on ${cpus().length} cores / ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
  )
  lines.push(
    `- Result: ${current.length - failed.length} of ${current.length} fault tests passed${failed.length ? ` (failed: ${failed.join(', ')})` : ''}${missing.length ? `; not run: ${missing.join(', ')}` : ''}.`,
  )
  if (process.env.HUDDLE_SOAK_MINUTES) lines.push(`- HUDDLE_SOAK_MINUTES=${process.env.HUDDLE_SOAK_MINUTES} (the long soak).`)
  lines.push(
    '- Every load goes to 127.0.0.1 only; every loop is bounded in count and time. Latency is only ever compared as a ratio to a baseline measured in the same run.',
  )
  lines.push('')
  lines.push('| test | load | faults injected | observed | result |')
  lines.push('|---|---|---|---|---|')
  for (const figures of current) {
    const names = figures.headline?.length ? figures.headline.filter((name) => name in figures.counts) : Object.keys(figures.counts).slice(0, 6)
    const observed = names.map((name) => `${name}: **${fmt(figures.counts[name]!)}**`).join('<br>')
    lines.push(
      `| [${figures.title}](${figures.file}) | ${cell(figures.load)} | ${cell(figures.faults)} | ${observed} | ${figures.passed ? 'pass' : `**FAIL**`} (${(figures.durationMs / 1000).toFixed(0)} s) |`,
    )
  }
  lines.push('')
  lines.push('## What each test checks')
  lines.push('')
  for (const figures of current) {
    lines.push(`### ${figures.title} (\`${figures.file}\`)`)
    lines.push('')
    for (const check of figures.checks) lines.push(`- ${check}`)
    if (figures.seed !== undefined) lines.push(`- Seed ${figures.seed} (set it again to replay the same run).`)
    lines.push('')
    lines.push(`Measured (${(figures.durationMs / 1000).toFixed(0)} s):`)
    lines.push('')
    for (const [name, value] of Object.entries(figures.counts)) lines.push(`- ${name}: ${fmt(value)}`)
    if (!figures.passed && figures.failure) {
      lines.push('')
      lines.push('Failure in this run:')
      lines.push('')
      lines.push('```')
      lines.push(figures.failure)
      lines.push('```')
    }
    lines.push('')
  }
  if (stale.length > 0) {
    lines.push('## Not from this run')
    lines.push('')
    for (const figures of stale) lines.push(`- ${figures.title}: figures from ${figures.startedAt}, ignored above.`)
    lines.push('')
  }
  lines.push('## Running')
  lines.push('')
  lines.push('```sh')
  lines.push('npm run test:faults                                   # the whole fault suite (about 10 minutes on 2 cores)')
  lines.push('npx tsc -p . && npx uvu dist/tests/faults soak.fault  # one file')
  lines.push('HUDDLE_SOAK_MINUTES=30 npm run test:faults            # the long soak')
  lines.push('```')
  lines.push('')
  writeFileSync(RELIABILITY_MD, `${lines.join('\n')}`)
  return { path: RELIABILITY_MD, missing, stale: stale.map((figures) => figures.name), failed }
}

/** Fails with every problem found, one per line (uvu's diff of arrays is unreadable here). */
export function assertNone(problems: string[], what: string): void {
  if (problems.length > 0) throw new Error(`${what}: ${problems.length} problem(s)\n  ${problems.slice(0, 20).join('\n  ')}`)
}
