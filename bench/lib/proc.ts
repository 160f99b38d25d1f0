// Server process accounting from /proc: CPU (user + system, all threads, so LevelDB's and libuv's
// worker threads count too) and resident memory.
import { readFileSync } from 'node:fs'

/** clock ticks per second for /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux) */
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) the process has used so far, or NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name in parentheses may contain spaces: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

/** [user, system] CPU seconds so far */
export function cpuSplit(pid: number): [number, number] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return [Number(fields[11]) / TICKS_PER_SECOND, Number(fields[12]) / TICKS_PER_SECOND]
  } catch {
    return [Number.NaN, Number.NaN]
  }
}

export interface Memory {
  /** resident set size now, bytes */
  rss: number
  /** peak resident set size (VmHWM), bytes */
  peak: number
}

export function memory(pid: number): Memory {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
    return { rss: kb('VmRSS'), peak: kb('VmHWM') }
  } catch {
    return { rss: Number.NaN, peak: Number.NaN }
  }
}

/** Load average over the last minute (how busy the shared machine is). */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
  } catch {
    return Number.NaN
  }
}
