// Calls `tick` `hz` times a second for `durationMs`, starting at a random phase (so clients of one
// group do not all fire in the same millisecond).
export function every(hz: number, durationMs: number, tick: () => void): Promise<void> {
  return new Promise((resolve) => {
    const period = 1000 / hz
    const end = performance.now() + durationMs
    let interval: NodeJS.Timeout | null = null
    const phase = setTimeout(() => {
      tick()
      interval = setInterval(() => {
        if (performance.now() >= end) {
          clearInterval(interval!)
          resolve()
          return
        }
        tick()
      }, period)
    }, Math.random() * period)
    // a duration shorter than the phase
    setTimeout(() => {
      if (interval === null) {
        clearTimeout(phase)
        resolve()
      }
    }, durationMs + 1).unref()
  })
}
