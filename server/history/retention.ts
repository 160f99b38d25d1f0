// Which versions retention drops (docs/design.md, history): every version for `keepAllMs`, then the newest
// of each hour until `hourlyMs`, then the newest of each day. Labelled versions and the newest
// version are always kept. Pure: the caller deletes what this returns.

export interface RetentionPolicy {
  keepAllMs: number
  hourlyMs: number
}

export interface Dated {
  id: number
  at: number
  label?: string
}

const HOUR = 3_600_000
const DAY = 24 * HOUR

export function expiredVersions(versions: readonly Dated[], now: number, policy: RetentionPolicy): number[] {
  const newestFirst = [...versions].sort((a, b) => b.at - a.at || b.id - a.id)
  const seen = new Set<string>()
  const expired: number[] = []
  newestFirst.forEach((version, index) => {
    const age = now - version.at
    if (index === 0 || version.label !== undefined || age <= policy.keepAllMs) return
    const bucket = age <= policy.hourlyMs ? `h${Math.floor(version.at / HOUR)}` : `d${Math.floor(version.at / DAY)}`
    if (seen.has(bucket)) expired.push(version.id)
    else seen.add(bucket)
  })
  return expired
}
