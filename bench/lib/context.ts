// What every scenario gets: the client processes, the run's settings, and the results it adds to.
import { Histogram } from './hist.js'
import type { Pool } from './pool.js'
import type { GroupStats } from './rpc.js'
import type { ServerKind } from './servers.js'

export interface Settings {
  quick: boolean
  /** measurement windows per server, interleaved */
  rounds: number
  /** run the servers under `node --cpu-prof` */
  profile: boolean
  /** only these servers (default: all) */
  servers: ServerKind[]
  /** --sizes: overrides the N of scenarios A and C */
  sizes: number[] | null
}

/** One measured window: a server in a case of a scenario, in one round. */
export interface Measurement {
  scenario: string
  case: string
  server: ServerKind
  round: number
  metrics: Record<string, number>
  notes?: string[]
}

export interface Context {
  pool: Pool
  settings: Settings
  results: Measurement[]
  /** free-form notes for the report (e.g. a peer that did not cope) */
  notes: Array<{ scenario: string; text: string }>
}

export function progress(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rotates `list` by `round` so every server gets every position across rounds. */
export function rotate<T>(list: T[], round: number): T[] {
  const shift = round % Math.max(1, list.length)
  return [...list.slice(shift), ...list.slice(0, shift)]
}

export interface Merged {
  hist: Histogram
  deliveries: number
  writes: number
  acks: number
  closed: number
  lastReceiveUs: number
}

export function mergeStats(all: GroupStats[]): Merged {
  const merged: Merged = { hist: new Histogram(), deliveries: 0, writes: 0, acks: 0, closed: 0, lastReceiveUs: 0 }
  for (const stats of all) {
    merged.hist.merge(stats.hist)
    merged.deliveries += stats.deliveries
    merged.writes += stats.writes
    merged.acks += stats.acks
    merged.closed += stats.closed
    merged.lastReceiveUs = Math.max(merged.lastReceiveUs, stats.lastReceiveUs)
  }
  return merged
}

export const ms = (us: number) => us / 1000
