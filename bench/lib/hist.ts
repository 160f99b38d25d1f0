// Latency histogram with logarithmic buckets (2 % wide) from 1 µs to ~10 minutes: cheap to record
// hundreds of thousands of samples per second, and mergeable across client processes.
const RATIO = 1.02
const LOG_RATIO = Math.log(RATIO)
export const BUCKETS = 1100

export class Histogram {
  counts: number[]
  total = 0
  max = 0

  constructor(counts?: number[]) {
    this.counts = counts ? counts.slice() : new Array<number>(BUCKETS).fill(0)
    if (counts) for (const count of counts) this.total += count
  }

  /** records one sample in microseconds */
  record(us: number): void {
    const index = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us) / LOG_RATIO))
    this.counts[index]!++
    this.total++
    if (us > this.max) this.max = us
  }

  merge(other: { counts: number[]; max: number }): void {
    for (let i = 0; i < BUCKETS; i++) {
      const count = other.counts[i] ?? 0
      this.counts[i]! += count
      this.total += count
    }
    if (other.max > this.max) this.max = other.max
  }

  /** the p-th percentile (0 < p ≤ 100) in microseconds (upper bound of its bucket), NaN if empty */
  percentile(p: number): number {
    if (this.total === 0) return Number.NaN
    const rank = Math.ceil((p / 100) * this.total)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(RATIO ** i, this.max)
    }
    return this.max
  }

  toJSON(): { counts: number[]; max: number } {
    return { counts: this.counts, max: this.max }
  }
}

export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}
