// The authority's timers: one for the earliest rule deadline (wait, ttl, approval expiry) and one
// per disconnected session's grace period. Deadlines are derived from the state, so after a
// restart they are scheduled again from what was persisted.
import { type CoordEvent, type CoordState, deadlines, earliestDeadline } from './rules/index.js'

// setTimeout fires at once for delays above 2^31-1 ms; long waits re-arm instead.
const MAX_DELAY = 2 ** 31 - 1

export interface ScheduleHandlers {
  /** due events, each stamped with the time it fired */
  onDeadlines(events: CoordEvent[]): void
  onGraceOver(session: string): void
}

export class Schedule {
  private deadlineTimer: NodeJS.Timeout | null = null
  private nextAt = Infinity
  private lastFired = -Infinity
  private pendingDeadlines = false
  private readonly grace = new Map<string, NodeJS.Timeout>()
  private state: CoordState | null = null

  constructor(private readonly handlers: ScheduleHandlers) {}

  /** Re-arms the deadline timer for the earliest deadline of `state`. */
  deadlines(state: CoordState): void {
    this.state = state
    const at = earliestDeadline(state)
    this.pendingDeadlines = at !== Infinity
    if (at === this.nextAt && this.deadlineTimer) return
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer)
    this.deadlineTimer = null
    this.nextAt = at
    if (at === Infinity) return
    // A deadline the rules refused when it fired must not spin: retry it a second later.
    const delay = at <= this.lastFired ? 1000 : at - Date.now()
    this.deadlineTimer = setTimeout(() => this.fire(), Math.min(MAX_DELAY, Math.max(0, delay)))
  }

  private fire(): void {
    this.deadlineTimer = null
    this.nextAt = Infinity
    const now = Date.now()
    this.lastFired = now
    const due = this.state ? deadlines(this.state).filter((deadline) => deadline.at <= now) : []
    if (due.length > 0) this.handlers.onDeadlines(due.map((deadline) => ({ ...deadline.event, at: now })))
    else if (this.state) this.deadlines(this.state)
  }

  startGrace(session: string, ms: number): void {
    this.cancelGrace(session)
    const timer = setTimeout(
      () => {
        this.grace.delete(session)
        this.handlers.onGraceOver(session)
      },
      Math.min(MAX_DELAY, ms),
    )
    this.grace.set(session, timer)
  }

  cancelGrace(session: string): void {
    const timer = this.grace.get(session)
    if (timer) clearTimeout(timer)
    this.grace.delete(session)
  }

  /** True while anything is due later: the document must stay loaded for it. */
  busy(): boolean {
    return this.pendingDeadlines || this.grace.size > 0
  }

  clear(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer)
    this.deadlineTimer = null
    for (const timer of this.grace.values()) clearTimeout(timer)
    this.grace.clear()
  }
}
