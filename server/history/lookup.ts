// Who wrote (or deleted) the positions of a text or array, through the attribution index.
import type { Attribution, IdIndex, Segment } from './attribution.js'
import type { IdRun } from './content.js'

/** The attributed pieces of positions [start, end) of a list type, in order. */
export function segmentsIn(runs: IdRun[], index: IdIndex, start: number, end: number): Segment[] {
  const out: Segment[] = []
  for (let i = firstRunAtOrAfter(runs, start); i < runs.length && runs[i]!.start < end; i++) {
    const run = runs[i]!
    const from = Math.max(start, run.start)
    const to = Math.min(end, run.start + run.length)
    if (to > from) out.push(...index.segments(run.client, run.clock + (from - run.start), to - from))
  }
  return out
}

/** Actors behind positions [start, end), sorted. */
export function actorsIn(runs: IdRun[], index: IdIndex, start: number, end: number): string[] {
  const actors = new Set<string>()
  for (const segment of segmentsIn(runs, index, start, end)) if (segment.record) actors.add(segment.record.actor)
  return [...actors].sort()
}

/** The later of two records (null: unknown). */
export function later(a: Attribution | null, b: Attribution | null): Attribution | null {
  if (!a) return b
  if (!b) return a
  return b.at > a.at || (b.at === a.at && b.seq > a.seq) ? b : a
}

function firstRunAtOrAfter(runs: IdRun[], position: number): number {
  let low = 0
  let high = runs.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (runs[mid]!.start + runs[mid]!.length <= position) low = mid + 1
    else high = mid
  }
  return low
}
