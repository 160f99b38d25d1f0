// Turns measurements into the ratio table (stdout), a Markdown report and one SVG chart per
// scenario, all written to the run's results directory.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Context, Measurement } from './context.js'
import { saturationCase } from '../scenarios/a-fanout.js'
import { chart } from './chart.js'
import { fmt, METRICS } from './metrics.js'
import { LABELS, type ServerKind } from './servers.js'

const SATURATED = saturationCase(10)

export interface Target {
  scenario: string
  case?: string
  metric: string
  /** against a peer's value (ratio ours / theirs; `best`: the best of the Yjs servers in that round), or absolute */
  peer?: Peer
  max?: number
  min?: number
  text: string
}

/** The targets of issue 13 (docs/design.md §6), as ratios measured in the same run where a peer is named. */
export const TARGETS: Target[] = [
  { scenario: 'A. write fan-out', case: 'N=1000', metric: 'p50', peer: 'best', max: 1.2, text: 'A: p50 ≤ 1.2× the best peer (N=1000)' },
  { scenario: 'A. write fan-out', case: 'N=1000', metric: 'p99', peer: 'best', max: 1, text: 'A: p99 ≤ the best peer (N=1000)' },
  { scenario: 'A. write fan-out', case: 'N=1000', metric: 'cpuPerMessageUs', peer: 'yws', max: 0.8, text: 'A: CPU/msg ≤ 0.8× the reference (N=1000)' },
  { scenario: 'A. write fan-out', case: SATURATED, metric: 'delivered', min: 0.999, text: 'A saturation: every update delivered' },
  { scenario: 'A. write fan-out', case: SATURATED, metric: 'p99', peer: 'hocuspocus4', max: 0.5, text: 'A saturation: p99 ≤ 1/2 of Hocuspocus 4' },
  { scenario: 'A. write fan-out', case: SATURATED, metric: 'cpuUtilization', peer: 'hocuspocus4', max: 0.5, text: 'A saturation: CPU ≤ 1/2 of Hocuspocus 4' },
  { scenario: 'A. write fan-out', case: 'N=10000', metric: 'delivered', min: 0.999, text: 'A: every message delivered (N=10000)' },
  { scenario: 'A. write fan-out', case: 'N=10000', metric: 'p99', peer: 'best', max: 1, text: 'A: p99 ≤ the best peer (N=10000)' },
  { scenario: 'A. write fan-out', case: 'N=10000', metric: 'cpuPerMessageUs', peer: 'best', max: 0.5, text: 'A: CPU/msg ≤ 1/2 of the best peer (N=10000)' },
  {
    scenario: 'A. write fan-out',
    case: 'N=10000',
    metric: 'rssPerConnectionKb',
    peer: 'best',
    max: 1,
    text: 'A: RSS per connection below the peers (N=10000)',
  },
  { scenario: 'B. connect storm', metric: 'allSyncedMs', peer: 'yws', max: 0.2, text: 'B: ≥ 5× faster than reference' },
  { scenario: 'C. presence churn', metric: 'p99', peer: 'yws', max: 1, text: 'C: p99 no worse than reference' },
  { scenario: 'C. presence churn', metric: 'cpuPerMoveUs', peer: 'yws', max: 0.5, text: 'C: CPU ≤ 1/2 of reference' },
  { scenario: 'D. locks', case: 'uncontended', metric: 'rttP50', max: 1, text: 'D: uncontended p50 ≤ 1 ms' },
  { scenario: 'D. locks', case: '100 contenders, 1 resource', metric: 'grantsPerSecond', min: 1000, text: 'D: ≥ 1,000 grants/s (100 contenders)' },
  { scenario: 'D. locks', case: '100 contenders, 1 resource', metric: 'handoffP99', max: 10, text: 'D: handoff p99 ≤ 10 ms (100 contenders)' },
  { scenario: 'D. locks', case: '100 agents, 1000 resources', metric: 'grantsPerSecond', min: 2000, text: 'D: ≥ 2,000 grants/s (100 agents, 1,000 resources)' },
  { scenario: 'D. locks', case: '100 agents, 1000 resources', metric: 'rttP99', max: 50, text: 'D: acquire→grant p99 ≤ 50 ms (100 agents, 1,000 resources)' },
  { scenario: 'D. locks', case: 'uncontended (lock-only)', metric: 'rttP50', max: 1, text: 'D lock-only: uncontended p50 ≤ 1 ms' },
  {
    scenario: 'D. locks',
    case: '100 contenders, 1 resource (lock-only)',
    metric: 'grantsPerSecond',
    min: 1000,
    text: 'D lock-only: ≥ 1,000 grants/s (100 contenders)',
  },
  {
    scenario: 'D. locks',
    case: '100 contenders, 1 resource (lock-only)',
    metric: 'handoffP99',
    max: 10,
    text: 'D lock-only: handoff p99 ≤ 10 ms (100 contenders)',
  },
  {
    scenario: 'D. locks',
    case: '100 agents, 1000 resources (lock-only)',
    metric: 'grantsPerSecond',
    min: 2000,
    text: 'D lock-only: ≥ 2,000 grants/s (100 agents, 1,000 resources)',
  },
  {
    scenario: 'D. locks',
    case: '100 agents, 1000 resources (lock-only)',
    metric: 'rttP99',
    max: 50,
    text: 'D lock-only: acquire→grant p99 ≤ 50 ms (100 agents, 1,000 resources)',
  },
  { scenario: 'E. persistence', case: 'sustained, os', metric: 'cpuPerUpdateUs', peer: 'yws', max: 1, text: 'E: CPU per persisted update ≤ the reference' },
  { scenario: 'E. persistence', case: 'sustained, os', metric: 'updatesPerSecond', min: 30_000, text: 'E: ≥ 30,000 acknowledged updates/s (os)' },
  { scenario: 'H. history', case: 'on / off', metric: 'historyCpuRatio', max: 1.1, text: 'H: history costs ≤ 10 % server CPU per update' },
]

const OURS: ServerKind = 'huddle'
const PEERS: ServerKind[] = ['yws', 'hocuspocus', 'hocuspocus4', 'etcd', 'huddle-base', 'huddle-mem']
/** the other Yjs servers: `best` is, per round, the best value among them */
const YJS_PEERS: ServerKind[] = ['yws', 'hocuspocus', 'hocuspocus4']
type Peer = ServerKind | 'best'
const LATENCIES = new Set(['p50', 'p95', 'p99'])

export function median(values: number[]): number {
  const list = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (list.length === 0) return Number.NaN
  const mid = Math.floor(list.length / 2)
  return list.length % 2 ? list[mid]! : (list[mid - 1]! + list[mid]!) / 2
}

export interface Row {
  scenario: string
  case: string
  metric: string
  values: Partial<Record<ServerKind, number>>
  /** median of the per-round ratios ours / peer */
  ratios: Partial<Record<Peer, number>>
  rounds: number
}

export function rows(results: Measurement[]): Row[] {
  const out: Row[] = []
  const keys = new Map<string, Measurement[]>()
  for (const m of results) {
    const key = `${m.scenario}\u0000${m.case}`
    keys.set(key, [...(keys.get(key) ?? []), m])
  }
  for (const [key, list] of keys) {
    const [scenario, kase] = key.split('\u0000') as [string, string]
    const metrics = new Set(list.flatMap((m) => Object.keys(m.metrics)))
    for (const metric of metrics) {
      const values: Partial<Record<ServerKind, number>> = {}
      const ratios: Partial<Record<Peer, number>> = {}
      const servers = new Set(list.map((m) => m.server))
      for (const server of servers) values[server] = median(list.filter((m) => m.server === server).map((m) => m.metrics[metric] ?? Number.NaN))
      for (const peer of PEERS) {
        const paired: number[] = []
        for (const m of list.filter((one) => one.server === OURS)) {
          const theirs = list.find((one) => one.server === peer && one.round === m.round)
          if (theirs) paired.push((m.metrics[metric] ?? Number.NaN) / (theirs.metrics[metric] ?? Number.NaN))
        }
        if (paired.length) ratios[peer] = median(paired)
      }
      const best = bestPaired(list, metric)
      if (best.length) ratios.best = median(best)
      out.push({ scenario, case: kase, metric, values, ratios, rounds: Math.max(...[...servers].map((s) => list.filter((m) => m.server === s).length)) })
    }
  }
  return out
}

/**
 * Per round, ours / the best Yjs peer's value in that round (lowest, or highest where higher is
 * better). For latencies a peer that left messages undelivered (under 99.9 % within the drain) is
 * not a candidate: its percentiles are those of the messages that did arrive.
 */
function bestPaired(list: Measurement[], metric: string): number[] {
  const pick = METRICS[metric]?.higher ? Math.max : Math.min
  const paired: number[] = []
  for (const ours of list.filter((one) => one.server === OURS)) {
    const theirs = list
      .filter((one) => YJS_PEERS.includes(one.server) && one.round === ours.round && (!LATENCIES.has(metric) || (one.metrics.delivered ?? 1) >= 0.999))
      .map((one) => one.metrics[metric] ?? Number.NaN)
      .filter(Number.isFinite)
    if (theirs.length) paired.push((ours.metrics[metric] ?? Number.NaN) / pick(...theirs))
  }
  return paired
}

function ratioText(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(2)
}

export interface Verdict {
  target: Target
  value: number
  met: boolean | null
}

/** One verdict per target and case (a target without a case is judged in every case measured). */
export function verdicts(all: Row[]): Verdict[] {
  const out: Verdict[] = []
  for (const target of TARGETS) {
    const candidates = all.filter(
      (r) =>
        r.scenario === target.scenario &&
        r.metric === target.metric &&
        (!target.case || r.case === target.case) &&
        (target.peer ? r.ratios[target.peer] !== undefined : r.values[OURS] !== undefined),
    )
    if (candidates.length === 0) {
      out.push({ target, value: Number.NaN, met: null })
      continue
    }
    for (const row of candidates) {
      const value = target.peer ? row.ratios[target.peer]! : row.values[OURS]!
      const met = Number.isFinite(value) ? (target.max === undefined || value <= target.max) && (target.min === undefined || value >= target.min) : null
      out.push({ target: target.case ? target : { ...target, case: row.case, text: `${target.text} (${row.case})` }, value, met })
    }
  }
  return out
}

const SERVERS: ServerKind[] = ['huddle', 'huddle-mem', 'huddle-base', 'yws', 'hocuspocus', 'hocuspocus4', 'etcd']
const SHORT: Partial<Record<Peer, string>> = { yws: 'ref', hocuspocus: 'hocus3', hocuspocus4: 'hocus4', 'huddle-base': 'base', 'huddle-mem': 'mem' }

/** the ratio columns: every peer present, and the best of the Yjs peers when two or more ran */
function ratioColumns(present: ServerKind[]): Peer[] {
  const columns: Peer[] = PEERS.filter((p) => present.includes(p))
  return YJS_PEERS.filter((p) => present.includes(p)).length > 1 ? [...columns, 'best'] : columns
}

export function report(ctx: Context, info: { dir: string; command: string; seconds: number; loadAverage: number }): string {
  const all = rows(ctx.results)
  const present = SERVERS.filter((server) => ctx.results.some((m) => m.server === server))
  // ---- the ratio table (stdout) ----
  const header = ['scenario', 'case', 'metric', ...present.map((s) => LABELS[s]), ...ratioColumns(present).map((p) => `ours/${SHORT[p] ?? p}`)]
  const table: string[][] = [header]
  for (const row of all) {
    const meta = METRICS[row.metric]
    if (!meta?.key) continue
    table.push([
      row.scenario.slice(0, 2).trim(),
      row.case,
      meta.label,
      ...present.map((s) => fmt(row.values[s], meta.digits)),
      ...ratioColumns(present).map((p) => ratioText(row.ratios[p])),
    ])
  }
  const widths = header.map((_, i) => Math.max(...table.map((line) => line[i]!.length)))
  const lines = table.map((line) => line.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
  const judged = verdicts(all).filter((v) => v.met !== null)
  const targetLines = judged.map((v) => `${v.met ? 'MET   ' : 'MISSED'} ${v.target.text}: ${v.target.peer ? `ratio ${v.value.toFixed(2)}` : fmt(v.value, 2)}`)
  const text = [
    '',
    `Ratio table (medians over ${ctx.settings.rounds} round(s); ratios are medians of per-round paired ratios ours/theirs, lower is better except grants/s and updates/s):`,
    '',
    ...lines,
    '',
    ...(targetLines.length ? ['Targets:', ...targetLines, ''] : []),
    ...ctx.notes.map((note) => `note (${note.scenario}): ${note.text}`),
    `raw results: ${info.dir}  (${info.seconds.toFixed(0)} s, load average at the end ${info.loadAverage})`,
    '',
  ].join('\n')
  // ---- Markdown + charts ----
  const md: string[] = [
    `Command: \`${info.command}\` — ${info.seconds.toFixed(0)} s, ${ctx.settings.rounds} round(s), load average at the end ${info.loadAverage}`,
    '',
  ]
  for (const scenario of [...new Set(all.map((row) => row.scenario))]) {
    md.push(`### ${scenario}`, '')
    const scenarioRows = all.filter((row) => row.scenario === scenario)
    const servers = present.filter((server) => scenarioRows.some((row) => row.values[server] !== undefined))
    const peers = ratioColumns(servers)
    md.push(
      `| case | metric | ${servers.map((s) => LABELS[s]).join(' | ')} | ${peers.map((p) => `ours/${p === 'best' ? 'best peer' : LABELS[p]}`).join(' | ')} |`,
    )
    md.push(`|---|---|${servers.map(() => '---:').join('|')}|${peers.map(() => '---:').join('|')}|`)
    for (const row of scenarioRows) {
      const meta = METRICS[row.metric] ?? { label: row.metric, digits: 2 }
      md.push(
        `| ${row.case} | ${meta.label} | ${servers.map((s) => fmt(row.values[s], meta.digits)).join(' | ')} | ${peers.map((p) => ratioText(row.ratios[p])).join(' | ')} |`,
      )
    }
    for (const note of ctx.notes.filter((n) => n.scenario === scenario)) md.push('', `Note: ${note.text}`)
    md.push('')
    const chartName = `${scenario[0]!.toLowerCase()}.svg`
    const svg = chart(scenario, scenarioRows, servers)
    if (svg) {
      writeFileSync(join(info.dir, chartName), svg)
      md.push(`![${scenario}](${chartName})`, '')
    }
  }
  md.push(
    '### Targets',
    '',
    ...verdicts(all).map(
      (v) =>
        `- ${v.met === null ? 'not measured' : v.met ? '**met**' : '**missed**'} — ${v.target.text}: ${v.met === null ? '' : v.target.peer ? `ratio ${v.value.toFixed(2)}` : fmt(v.value, 2)}`,
    ),
    '',
  )
  writeFileSync(join(info.dir, 'report.md'), md.join('\n'))
  writeFileSync(join(info.dir, 'ratios.txt'), text)
  return text
}
