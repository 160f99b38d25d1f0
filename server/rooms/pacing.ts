// Broadcast pacing, as pure functions of what the room measures: what its broadcasts cost (their run time),
// the share of a core they took lately, and the process's event-loop utilisation. Every delivered
// message costs each socket a write syscall (~4 µs per small message on loopback), so the only
// way to spend less CPU per delivered message is to deliver several updates per write: after a
// broadcast that cost `t` ms, a room may wait before its next one, and what arrives meanwhile
// leaves merged in one frame. That wait is latency, so by default it is taken only under load
// (docs/design.md §6: an idle or lightly loaded server adds no delay); `--broadcast-share` asks for the
// CPU-saving wait always.

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
 * Presence broadcasts in the CPU-saving mode leave at most once per this many ms per room (and
 * no more often than the share allows): many cursor moves leave merged in one message. 8 ms is
 * half a display frame.
 */
const PRESENCE_MIN_GAP_MS = 8

/**
 * Under load the default mode lets a room's broadcasts take at most this share of a core: a wait
 * of one broadcast's cost. It keeps a saturated room's p99 near two broadcasts (a few ms at
 * 1,000 connections) while halving the messages it sends.
 */
export const LOADED_SHARE = 0.5
/** Event-loop utilisation below this is quiet: no wait at all ... */
const QUIET_LOOP = 0.6
/** ... above this the full wait of LOADED_SHARE applies (linearly in between). */
const BUSY_LOOP = 0.95
/** The same for the share of a core one room's broadcasts took over the recent window. */
const QUIET_ROOM = 0.4
const BUSY_ROOM = 0.8
/** The window over which a room's broadcast CPU is counted (exponentially decayed). */
export const ROOM_WINDOW_MS = 250

/** What the room knows about the load when it decides. */
export interface Load {
  /** event-loop utilisation of the process over the last sample (0..1) */
  loop: number
  /** share of a core this room's broadcasts took over the recent window (see `roomBusyMs`) */
  room: number
}

/** The smoothed cost after a broadcast that cost `measuredMs`. */
export function smoothCost(smoothedMs: number, measuredMs: number): number {
  return smoothedMs + (measuredMs - smoothedMs) * COST_SMOOTHING
}

/**
 * The room's broadcast CPU over the recent window, decayed for the `elapsedMs` since the last
 * broadcast, plus this one's `costMs`. Divided by ROOM_WINDOW_MS it is `Load.room`.
 */
export function roomBusyMs(previousMs: number, elapsedMs: number, costMs: number): number {
  return previousMs * Math.exp(-Math.max(0, elapsedMs) / ROOM_WINDOW_MS) + costMs
}

/** How loaded the server is for pacing: 0 when quiet, 1 when busy, linear in between. */
export function pressure(load: Load): number {
  const loop = (load.loop - QUIET_LOOP) / (BUSY_LOOP - QUIET_LOOP)
  const room = (load.room - QUIET_ROOM) / (BUSY_ROOM - QUIET_ROOM)
  return Math.min(1, Math.max(0, loop, room))
}

/**
 * How long a room waits after a document broadcast, given the smoothed cost of its broadcasts and
 * the share of a core they may take (0 < share ≤ 1).
 */
export function updateWaitMs(costMs: number, share: number): number {
  const factor = 1 / share - 1
  return Math.max(Math.min(costMs * factor, MAX_WAIT_MS), costMs * Math.min(factor, MIN_FACTOR))
}

/** How long a room waits after a presence broadcast that cost `costMs`. */
export function presenceWaitMs(costMs: number, share: number): number {
  return Math.max(PRESENCE_MIN_GAP_MS, costMs / share)
}

/**
 * The pacing policy: `share` null is the default, adaptive mode (the wait of LOADED_SHARE scaled
 * by the pressure, so nothing on a quiet server); a number is the operator's `--broadcast-share`
 * (that wait always).
 */
export interface Policy {
  share: number | null
}

export function updateWait(policy: Policy, costMs: number, load: Load): number {
  if (policy.share !== null) return updateWaitMs(costMs, policy.share)
  return pressure(load) * updateWaitMs(costMs, LOADED_SHARE)
}

export function presenceWait(policy: Policy, costMs: number, load: Load): number {
  if (policy.share !== null) return presenceWaitMs(costMs, policy.share)
  return pressure(load) * presenceWaitMs(costMs, LOADED_SHARE)
}
