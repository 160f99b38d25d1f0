// When a room's broadcasts run: the rules are in pacing.ts; this holds their state (the costs
// measured so far, when the next broadcast of each kind may leave) and the timers.
import type { LoopMeter } from './loop-meter.js'
import { type Load, type Policy, presenceWait, ROOM_WINDOW_MS, roomBusyMs, smoothCost, updateWait } from './pacing.js'

/** waits shorter than this are not worth a timer */
const MIN_WAIT_MS = 1

/** One kind of broadcast, run by `flush` when asked for and the pacing allows. */
export class PacedBroadcast {
  private timer: NodeJS.Timeout | null = null
  private immediate: NodeJS.Immediate | null = null
  /** performance.now() before which the next flush waits */
  nextAt = 0

  /**
   * `nextTurn`: a flush that is due runs in the next event-loop turn rather than at once, so
   * every change read in this turn joins it.
   */
  constructor(
    private readonly flush: () => void,
    private readonly nextTurn: boolean,
  ) {}

  request(): void {
    if (this.timer || this.immediate) return
    const wait = this.nextAt - performance.now()
    if (wait >= MIN_WAIT_MS) {
      this.timer = setTimeout(() => {
        this.timer = null
        this.flush()
      }, wait)
    } else if (this.nextTurn) {
      this.immediate = setImmediate(() => {
        this.immediate = null
        this.flush()
      })
    } else {
      this.flush()
    }
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    this.timer = null
    this.immediate = null
  }
}

/** Measures a room's broadcasts and says how long the next one of each kind waits. */
export class Pacer {
  /** smoothed ms of a document broadcast */
  private updateCost = 0
  /** ms of the room's broadcasts over the recent window (pacing.ts `roomBusyMs`) */
  private busyMs = 0
  private busyAt = 0

  constructor(
    private readonly policy: Policy,
    private readonly loop: LoopMeter,
  ) {}

  /** Runs a document broadcast; returns when the next one may leave (performance.now() time). */
  update(broadcast: () => void): number {
    const { started, cost } = measured(broadcast)
    this.updateCost = smoothCost(this.updateCost, cost)
    return performance.now() + updateWait(this.policy, this.updateCost, this.load(started, cost))
  }

  /** Runs a presence broadcast; returns when the next one may leave. */
  presence(broadcast: () => void): number {
    const { started, cost } = measured(broadcast)
    return started + presenceWait(this.policy, cost, this.load(started, cost))
  }

  private load(now: number, costMs: number): Load {
    this.busyMs = roomBusyMs(this.busyMs, now - this.busyAt, costMs)
    this.busyAt = now
    return { loop: this.loop.utilisation(now), room: this.busyMs / ROOM_WINDOW_MS }
  }
}

/**
 * A broadcast runs synchronously, so its wall time is its cost (plus any preemption, which only
 * happens when the machine is busy, where waiting more is right). process.cpuUsage() would be
 * exact, but it is a getrusage syscall: ~6 µs on this VM, twice per broadcast, which was a tenth
 * of the server's CPU at 10,000 updates per second.
 */
function measured(run: () => void): { started: number; cost: number } {
  const started = performance.now()
  run()
  return { started, cost: performance.now() - started }
}
