// Pieces several scenarios share: connecting a server's clients over all client processes,
// measuring one window, waiting for deliveries to drain.
import { type Context, mergeStats, type Merged, progress, sleep } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import { offset, split } from '../lib/pool.js'
import type { ClientKind, ConnectResult, GroupStats, Target } from '../lib/rpc.js'
import { benchToken, type ServerProc } from '../lib/servers.js'

export async function targetOf(server: ServerProc, room: string): Promise<Target> {
  return { server: server.kind, host: '127.0.0.1', port: server.port, dialect: server.dialect, room, token: server.isHuddle ? await benchToken() : '' }
}

/** Connects `count` clients of one kind, spread over the client processes; ids from `idBase`. */
export async function connectSpread(
  ctx: Context,
  group: string,
  target: Target,
  kind: ClientKind,
  count: number,
  idBase: number,
  options: { concurrency?: number; timeoutMs?: number; probes?: number; roomPerClient?: boolean } = {},
): Promise<ConnectResult> {
  const shares = split(count, ctx.pool.size)
  const probeShares = split(options.probes ?? count, ctx.pool.size)
  const results = await ctx.pool.all<ConnectResult>('connect', (i) =>
    shares[i] === 0
      ? null
      : {
          group,
          target,
          kind,
          count: shares[i],
          idBase: idBase + offset(shares, i),
          probes: probeShares[i],
          roomPerClient: options.roomPerClient ?? false,
          concurrency: options.concurrency ?? 64,
          timeoutMs: options.timeoutMs ?? 60_000,
        },
  )
  const merged: ConnectResult = { ok: 0, failed: 0, errors: [], ms: 0 }
  for (const result of results) {
    merged.ok += result.ok
    merged.failed += result.failed
    merged.errors.push(...result.errors)
    merged.ms = Math.max(merged.ms, result.ms)
  }
  return merged
}

export async function statsOf(ctx: Context, groups: string[]): Promise<Merged> {
  const all: GroupStats[] = []
  for (const group of groups) all.push(...(await ctx.pool.all<GroupStats>('stats', () => ({ group }))))
  return mergeStats(all)
}

export async function resetGroups(ctx: Context, groups: string[], sinceUs = nowUs()): Promise<void> {
  for (const group of groups) await ctx.pool.all('reset', () => ({ group, sinceUs }))
}

export async function closeGroups(ctx: Context, groups: string[]): Promise<void> {
  for (const group of groups) await ctx.pool.all('close', () => ({ group }))
}

/**
 * Waits until `expected` deliveries arrived, or nothing arrived for `quietMs`, or `maxMs` passed.
 * Returns the merged stats at that point.
 */
export async function drain(ctx: Context, groups: string[], expected: number, quietMs = 1000, maxMs = 10_000): Promise<Merged> {
  const end = Date.now() + maxMs
  let last = -1
  let lastChange = Date.now()
  for (;;) {
    const stats = await statsOf(ctx, groups)
    const count = stats.deliveries + stats.acks
    if (count >= expected || Date.now() >= end) return stats
    if (count !== last) {
      last = count
      lastChange = Date.now()
    } else if (Date.now() - lastChange >= quietMs) {
      return stats
    }
    await sleep(100)
  }
}

export function noteFailure(ctx: Context, scenario: string, text: string): void {
  progress(`${scenario}: ${text}`)
  ctx.notes.push({ scenario, text })
}
