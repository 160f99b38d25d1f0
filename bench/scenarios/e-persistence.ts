// E. Persistence: sustained updates per second when every update must be on disk before anyone
// (its sender included) sees it, with `os` and `fsync` durability; the peers with their own
// persistence for context (both broadcast first and store afterwards, so their figures are not
// equivalent), and Huddle in memory (the same path on memory-level: what the disk costs). Then the
// cold load of a document with 100,000 stored updates, before and after compaction (Huddle only).
import { execFileSync } from 'node:child_process'
import { type Context, ms, progress, rotate } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import type { StormResult } from '../lib/rpc.js'
import { ServerProc, type ServerKind, type StartSpec } from '../lib/servers.js'
import { closeGroups, connectSpread, noteFailure, resetGroups, statsOf, targetOf } from './common.js'

export const SCENARIO_E = 'E. persistence'
const WRITERS = 50
const WINDOW = 8
const NO_COMPACTION = '1000000000'

interface Variant {
  case: string
  kind: ServerKind
  spec: StartSpec
}

export async function persistence(ctx: Context): Promise<void> {
  await sustained(ctx)
  if (process.env.BENCH_SKIP_COLD !== '1') await coldLoad(ctx)
}

async function sustained(ctx: Context): Promise<void> {
  const durationMs = ctx.settings.quick ? 4000 : 10_000
  const fast = ['--rate', '1000000', '--burst', '1000000']
  const variants: Variant[] = (
    [
      { case: 'sustained, os', kind: 'huddle', spec: { kind: 'huddle', durability: 'os', args: fast } },
      { case: 'sustained, os', kind: 'huddle-base', spec: { kind: 'huddle-base', durability: 'os', args: fast } },
      { case: 'sustained, os', kind: 'huddle-mem', spec: { kind: 'huddle-mem', args: fast } },
      { case: 'sustained, os', kind: 'yws', spec: { kind: 'yws', persist: true } },
      { case: 'sustained, os', kind: 'hocuspocus', spec: { kind: 'hocuspocus', persist: true } },
      { case: 'sustained, fsync', kind: 'huddle', spec: { kind: 'huddle', durability: 'fsync', args: fast } },
    ] as Variant[]
  ).filter((variant) => ctx.settings.servers.includes(variant.kind))
  for (let round = 0; round < ctx.settings.rounds; round++) {
    for (const variant of rotate(variants, round)) {
      const server = await ServerProc.start({ ...variant.spec, profile: ctx.settings.profile })
      const group = `e-${variant.kind}`
      try {
        const connected = await connectSpread(ctx, group, await targetOf(server, 'bench/e'), 'pump', WRITERS, 0, { roomPerClient: true, timeoutMs: 30_000 })
        if (connected.failed) throw new Error(`${connected.failed} connections failed: ${connected.errors.slice(0, 2).join('; ')}`)
        await resetGroups(ctx, [group])
        const cpu0 = server.cpu()
        const t0 = nowUs()
        await ctx.pool.all('pump', () => ({ group, durationMs, window: WINDOW, mode: 'map' }))
        const seconds = (nowUs() - t0) / 1e6
        const cpu = server.cpu() - cpu0
        const stats = await statsOf(ctx, [group])
        const metrics = {
          updatesPerSecond: stats.acks / seconds,
          p50: ms(stats.hist.percentile(50)),
          p99: ms(stats.hist.percentile(99)),
          cpuPerUpdateUs: (cpu / Math.max(1, stats.acks)) * 1e6,
          cpuUtilization: cpu / seconds,
        }
        ctx.results.push({ scenario: SCENARIO_E, case: variant.case, server: variant.kind, round, metrics })
        progress(
          `${SCENARIO_E}, ${variant.case}, round ${round + 1}: ${server.label}: ${metrics.updatesPerSecond.toFixed(0)} updates/s, ack p50 ${metrics.p50.toFixed(1)} ms, p99 ${metrics.p99.toFixed(1)} ms, ${metrics.cpuPerUpdateUs.toFixed(0)} µs CPU/update`,
        )
      } catch (error) {
        noteFailure(ctx, SCENARIO_E, `${variant.case}, ${server.label}: ${(error as Error).message}`)
      } finally {
        await closeGroups(ctx, [group])
        await server.stop()
      }
    }
  }
}

/**
 * One client opens the document; the time from the request to having all of it. `warmUp` first
 * opens another, empty, document, so that what is measured is loading the document and not a
 * fresh process compiling its code paths.
 */
async function loadOnce(ctx: Context, server: ServerProc, warmUp = false): Promise<{ ms: number; bytes: number }> {
  if (warmUp) {
    const warm = await targetOf(server, 'bench/warm-up')
    await ctx.pool.call<StormResult>(0, 'storm', { group: 'e-load', target: warm, count: 1, atUs: 0, timeoutMs: 30_000 })
    await closeGroups(ctx, ['e-load'])
  }
  const target = await targetOf(server, 'bench/cold')
  const atUs = await ctx.pool.call<number>(0, 'now', {})
  const result = await ctx.pool.call<StormResult>(0, 'storm', { group: 'e-load', target, count: 1, atUs, timeoutMs: 120_000 })
  await closeGroups(ctx, ['e-load'])
  if (result.failed) throw new Error(`cold load failed: ${result.errors.join('; ')}`)
  return { ms: (result.syncedAtUs[0]! - atUs) / 1000, bytes: result.bytes[0]! }
}

function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0])
}

async function coldLoad(ctx: Context): Promise<void> {
  if (!ctx.settings.servers.includes('huddle')) return
  const updates = ctx.settings.quick ? 20_000 : 100_000
  const writers = 10
  const label = (what: string) => `${what}`
  for (let round = 0; round < ctx.settings.rounds; round++) {
    let dataDir: string | null = null
    try {
      // fill: `updates` small text appends into one document, compaction off
      let server = await ServerProc.start({ kind: 'huddle', args: ['--compact-after', NO_COMPACTION, '--rate', '1000000', '--burst', '1000000'] })
      dataDir = server.dataDir
      const group = 'e-fill'
      const connected = await connectSpread(ctx, group, await targetOf(server, 'bench/cold'), 'pump', writers, 0, { timeoutMs: 30_000 })
      if (connected.failed) throw new Error(`fill: ${connected.errors.join('; ')}`)
      await ctx.pool.all('pump', () => ({ group, durationMs: 300_000, window: 32, mode: 'text', maxUpdates: updates / writers }))
      await closeGroups(ctx, [group])
      // kill -9: a graceful stop would compact the document as it unloads. Every update was
      // acknowledged, so it is in LevelDB (persist before broadcast).
      await server.stop(true, 'SIGKILL')
      // cold load of the uncompacted log
      server = await ServerProc.start({ kind: 'huddle', dataDir: dataDir!, args: ['--compact-after', NO_COMPACTION] })
      const stored = diskBytes(dataDir!)
      const before = await loadOnce(ctx, server, true)
      const warm = await loadOnce(ctx, server)
      ctx.results.push({
        scenario: SCENARIO_E,
        case: label(`${updates / 1000}k updates, not compacted`),
        server: 'huddle',
        round,
        metrics: { coldLoadMs: before.ms, warmLoadMs: warm.ms, storedBytes: stored, syncBytes: before.bytes },
      })
      progress(
        `${SCENARIO_E}, cold load, round ${round + 1}: ${updates} updates in the log: ${before.ms.toFixed(0)} ms (warm ${warm.ms.toFixed(1)} ms, ${(before.bytes / 1e6).toFixed(2)} MB state)`,
      )
      // a graceful stop compacts the document as it unloads, and waits for that
      await server.stop(true)
      server = await ServerProc.start({ kind: 'huddle', dataDir: dataDir! })
      const compactedStored = diskBytes(dataDir!)
      const after = await loadOnce(ctx, server, true)
      const warmAfter = await loadOnce(ctx, server)
      ctx.results.push({
        scenario: SCENARIO_E,
        case: 'compacted',
        server: 'huddle',
        round,
        metrics: { coldLoadMs: after.ms, warmLoadMs: warmAfter.ms, storedBytes: compactedStored, syncBytes: after.bytes },
      })
      progress(`${SCENARIO_E}, cold load, round ${round + 1}: compacted: ${after.ms.toFixed(0)} ms (warm ${warmAfter.ms.toFixed(1)} ms)`)
      await server.stop()
    } catch (error) {
      noteFailure(ctx, SCENARIO_E, `cold load: ${(error as Error).message}`)
    } finally {
      if (dataDir) execFileSync('rm', ['-rf', dataDir])
    }
  }
}
