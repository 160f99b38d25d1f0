// Broadcast pacing, as pure functions of a broadcast's CPU cost (the room measures it). Every
// delivered message costs each socket a write syscall, and the kernel's share of that (~4 µs per
// small message on loopback) dwarfs the rest, so the only way to spend less CPU per delivered
// message is to deliver several updates per write: after broadcasts that cost `t` ms of CPU, a
// room waits before its next one, and what arrives meanwhile leaves merged in one frame.

/**
 * `t` is smoothed over recent broadcasts: one slow broadcast (a GC pause, a large merged update)
 * would otherwise hold the next one back for many times its cost, and that tail is what the
 * room's p99 latency is made of.
 */
const COST_SMOOTHING = 0.2
/** In the largest rooms `t × (1 / share − 1)` grows to seconds; the wait stops here ... */
const MAX_WAIT_MS = 60
/** ... but never below `2t` (unless the share asks for less): no room takes over a third of a core. */
const MIN_FACTOR = 2
/**
 * Presence broadcasts leave at most once per this many ms per room (and no more often than the
 * share allows). A quiet room's change still leaves in the next turn; in a busy room many cursor
 * moves leave merged in one message, which is what makes presence churn cheap. 8 ms is half a
 * display frame.
 */
const PRESENCE_MIN_GAP_MS = 8

/** The smoothed cost after a broadcast that cost `measuredMs`. */
export function smoothCost(smoothedMs: number, measuredMs: number): number {
  return smoothedMs + (measuredMs - smoothedMs) * COST_SMOOTHING
}

/**
 * How long a room waits after a document broadcast, given the smoothed cost of its broadcasts and
 * the share of a core they may take (`--broadcast-share`, 0 < share ≤ 1).
 */
export function updateWaitMs(costMs: number, share: number): number {
  const factor = 1 / share - 1
  return Math.max(Math.min(costMs * factor, MAX_WAIT_MS), costMs * Math.min(factor, MIN_FACTOR))
}

/** How long a room waits after a presence broadcast that cost `costMs`. */
export function presenceWaitMs(costMs: number, share: number): number {
  return Math.max(PRESENCE_MIN_GAP_MS, costMs / share)
}
