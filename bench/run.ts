// `npm run bench [-- --quick] [--only A,B,H] [--servers huddle,yws] [--rounds n] [--sizes 1000,10000] [--clients 4] [--profile]`
// Runs the scenarios of issue 6 against Huddle and its peers, each server in its own process and
// the clients in separate client processes, interleaving the servers window by window, and prints
// the paired ratios. Raw results go to bench/results/<time>/.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Context, progress, type Settings } from './lib/context.js'
import { loadAverage } from './lib/proc.js'
import { Pool } from './lib/pool.js'
import { BASELINE, RESULTS, type ServerKind } from './lib/servers.js'
import { fanout } from './scenarios/a-fanout.js'
import { storm } from './scenarios/b-storm.js'
import { presence } from './scenarios/c-presence.js'
import { locks } from './scenarios/d-locks.js'
import { persistence } from './scenarios/e-persistence.js'
import { cluster } from './scenarios/f-cluster.js'
import { history } from './scenarios/h-history.js'
import { report } from './lib/report.js'

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(name)
const value = (name: string) => {
  const at = argv.indexOf(name)
  return at >= 0 ? argv[at + 1] : undefined
}
const quick = flag('--quick')
const only = (value('--only') ?? 'A,B,C,D,E,F,H').toUpperCase().split(',')
const settings: Settings = {
  quick,
  rounds: Number(value('--rounds') ?? (quick ? 1 : 3)),
  profile: flag('--profile'),
  sizes: value('--sizes')?.split(',').map(Number) ?? null,
  servers: (value('--servers')?.split(',') ?? [
    'huddle',
    'huddle-mem',
    'yws',
    'hocuspocus',
    'hocuspocus4',
    'etcd',
    ...(BASELINE ? ['huddle-base'] : []),
  ]) as ServerKind[],
}
const workers = Number(value('--clients') ?? 4)

const scenarios: Record<string, (ctx: Context) => Promise<void>> = {
  A: fanout,
  B: storm,
  C: presence,
  D: locks,
  E: persistence,
  F: cluster,
  H: history,
}

const started = Date.now()
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const dir = join(RESULTS, `${stamp}${quick ? '-quick' : ''}`)
mkdirSync(dir, { recursive: true })
const pool = new Pool(workers)
const ctx: Context = { pool, settings, results: [], notes: [] }
const command = `npm run bench --${argv.length ? ` ${argv.join(' ')}` : ''}`
progress(`${command}: ${quick ? 'quick' : 'full'} mode, ${settings.rounds} round(s), ${workers} client processes, load average ${loadAverage()}`)
try {
  for (const [name, run] of Object.entries(scenarios)) {
    if (!only.includes(name)) continue
    try {
      await run(ctx)
    } catch (error) {
      progress(`scenario ${name} failed: ${(error as Error).stack}`)
      ctx.notes.push({ scenario: name, text: `failed: ${(error as Error).message}` })
    }
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ command, settings, results: ctx.results, notes: ctx.notes }, null, 2))
  }
} finally {
  pool.close()
}
const text = report(ctx, { dir, command, seconds: (Date.now() - started) / 1000, loadAverage: loadAverage() })
process.stdout.write(text)
process.exit(0)
