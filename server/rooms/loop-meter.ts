// The process's event-loop utilisation, for pacing (pacing.ts): the share of wall time the loop
// spent running callbacks rather than waiting for I/O. Sampled on demand, at most once per
// SAMPLE_MS, so a quiet server pays nothing and needs no timer.
import { type EventLoopUtilization, performance } from 'node:perf_hooks'

const SAMPLE_MS = 50

export class LoopMeter {
  private last: EventLoopUtilization = performance.eventLoopUtilization()
  private sampledAt = performance.now()
  private value = 0

  /** Utilisation (0..1) over the last completed sample. */
  utilisation(now = performance.now()): number {
    if (now - this.sampledAt < SAMPLE_MS) return this.value
    const current = performance.eventLoopUtilization()
    this.value = performance.eventLoopUtilization(current, this.last).utilization
    this.last = current
    this.sampledAt = now
    return this.value
  }
}
