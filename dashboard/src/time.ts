// Durations and times for people. `now()` is the server's clock as best we know it, so "held for"
// and countdowns are right even when this machine's clock is off.

let offset = 0

/** Milliseconds since the epoch on the server's clock (estimated). */
export function now(): number {
  return Date.now() + offset
}

/** Adopts a server timestamp taken at about `localAt`; small differences are ignored as noise. */
export function observeServerTime(serverAt: number, localAt: number): void {
  const estimate = serverAt - localAt
  offset = Math.abs(estimate) > 2000 ? estimate : 0
}

/** "4 s", "2 min 5 s", "1 h 3 min", "2 d 4 h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`
  const hours = Math.floor(m / 60)
  if (hours < 48) return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`
  const d = Math.floor(hours / 24)
  return hours % 24 ? `${d} d ${hours % 24} h` : `${d} d`
}

/** "just now", "3 min ago". */
export function ago(at: number, at2 = now()): string {
  const ms = at2 - at
  if (ms < 5000) return 'just now'
  return `${duration(ms)} ago`
}

/** "in 4 min 2 s", or "now" when it is due. */
export function until(at: number, at2 = now()): string {
  const ms = at - at2
  return ms <= 0 ? 'now' : `in ${duration(ms)}`
}

/** Local wall-clock time, with the date when it is not today. */
export function clock(at: number): string {
  const date = new Date(at)
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
  return date.toDateString() === new Date().toDateString() ? time : `${date.toLocaleDateString()} ${time}`
}

/** A full timestamp for tooltips. */
export function stamp(at: number): string {
  return new Date(at).toLocaleString()
}

type Tick = () => void
const ticks = new Set<Tick>()
let timer: ReturnType<typeof setInterval> | null = null

/** Calls `fn` every second (countdowns, "held for"); returns the unsubscribe function. */
export function everySecond(fn: Tick): () => void {
  ticks.add(fn)
  timer ??= setInterval(() => {
    for (const tick of ticks) tick()
  }, 1000)
  return () => {
    ticks.delete(fn)
    // the last subscriber gone (a panel closed): nothing left to tick
    if (ticks.size === 0 && timer) {
      clearInterval(timer)
      timer = null
    }
  }
}
