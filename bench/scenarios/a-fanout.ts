// A. Write fan-out: N connections in one document, 50 of them writers (real providers) each
// setting its own Y.Map key once a second, the others raw observers. Measured per window: delivery
// latency writer → every other connection, server CPU per delivered message, RSS per connection.
// At N = 1,000 also the saturation cases: 20 of the writers at 5, 10 and 20 writes/s each.
import { type Context, ms, progress, rotate, sleep } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import { ServerProc, type ServerKind } from '../lib/servers.js'
import { split } from '../lib/pool.js'
import { closeGroups, connectSpread, drain, noteFailure, resetGroups, targetOf } from './common.js'

export const SCENARIO_A = 'A. write fan-out'
const WRITERS = 50
const SATURATING_WRITERS = 20

export function saturationCase(hz: number): string {
  return `N=1000, ${SATURATING_WRITERS} writers × ${hz}/s`
}

interface Load {
  label: string
  /** writers acting (of the group's 50) */
  writers: number
  hz: number
  windowMs: number
}

export async function fanout(ctx: Context): Promise<void> {
  const sizes = ctx.settings.sizes ?? (ctx.settings.quick ? [1000] : [100, 1000, 5000, 10_000])
  const windowMs = ctx.settings.quick ? 5000 : 10_000
  const kinds = (['huddle', 'huddle-mem', 'huddle-base', 'yws', 'hocuspocus', 'hocuspocus4'] as ServerKind[]).filter((kind) =>
    ctx.settings.servers.includes(kind),
  )
  for (const n of sizes) {
    const label = `N=${n}`
    progress(`${SCENARIO_A}, ${label}: starting ${kinds.length} servers`)
    const servers: ServerProc[] = []
    for (const kind of kinds) servers.push(await ServerProc.start({ kind, profile: ctx.settings.profile }))
    const active: ServerProc[] = []
    const rssPerConnection = new Map<ServerKind, number>()
    for (const server of servers) {
      const target = await targetOf(server, 'bench/fanout')
      const before = server.memory().rss
      const observers = await connectSpread(ctx, `a-obs-${server.kind}`, target, 'observer', n - WRITERS, 1000, { timeoutMs: 120_000 })
      const writers = await connectSpread(ctx, `a-wr-${server.kind}`, target, 'writer', WRITERS, 0, { concurrency: 10, timeoutMs: 60_000 })
      const failed = observers.failed + writers.failed
      progress(
        `${SCENARIO_A}, ${label}: ${server.label}: ${observers.ok + writers.ok} connected in ${(observers.ms / 1000).toFixed(1)} s${failed ? `, ${failed} failed (${[...observers.errors, ...writers.errors].slice(0, 2).join('; ')})` : ''}`,
      )
      if (failed > n * 0.01 || !server.running) {
        noteFailure(
          ctx,
          SCENARIO_A,
          `${server.label} did not cope with N=${n}: ${failed} of ${n} connections failed (${[...observers.errors, ...writers.errors].slice(0, 2).join('; ')})`,
        )
        await closeGroups(ctx, [`a-obs-${server.kind}`, `a-wr-${server.kind}`])
        await server.stop()
        continue
      }
      await sleep(500)
      rssPerConnection.set(server.kind, (server.memory().rss - before) / n)
      active.push(server)
    }
    const loads: Load[] = [{ label, writers: WRITERS, hz: 1, windowMs }]
    if (n === 1000) {
      for (const hz of ctx.settings.quick ? [10] : [5, 10, 20]) loads.push({ label: saturationCase(hz), writers: SATURATING_WRITERS, hz, windowMs: 5000 })
    }
    for (const load of loads) {
      for (let round = 0; round < ctx.settings.rounds; round++) {
        for (const server of rotate([...active], round)) {
          const metrics = await measure(ctx, server, n, load, round, rssPerConnection.get(server.kind))
          if (metrics.delivered >= 0.9) continue
          // A server that fell this far behind keeps sending its backlog (and keeps the client
          // processes busy) long after its window: it would spoil the next server's window.
          noteFailure(
            ctx,
            SCENARIO_A,
            `${server.label} did not cope with ${load.label}: ${(metrics.delivered * 100).toFixed(1)}% of the messages arrived within 15 s of the end of the window (p50 ${metrics.p50.toFixed(0)} ms); it was stopped and left out of the later rounds`,
          )
          await closeGroups(ctx, [`a-obs-${server.kind}`, `a-wr-${server.kind}`])
          await server.stop()
          active.splice(active.indexOf(server), 1)
          await sleep(2000)
        }
      }
    }
    for (const server of active) await closeGroups(ctx, [`a-obs-${server.kind}`, `a-wr-${server.kind}`])
    for (const server of servers) await server.stop()
  }
}

/** One window of `load` against `server`: its metrics, recorded in the results. */
async function measure(ctx: Context, server: ServerProc, n: number, load: Load, round: number, rssPerConnection = Number.NaN) {
  const groups = [`a-obs-${server.kind}`, `a-wr-${server.kind}`]
  await resetGroups(ctx, groups)
  const cpu0 = server.cpu()
  const split0 = server.cpuSplit()
  const t0 = nowUs()
  const limits = split(load.writers, ctx.pool.size)
  const acted = await ctx.pool.all<{ writes: number }>('act', (i) => ({
    group: `a-wr-${server.kind}`,
    hz: load.hz,
    durationMs: load.windowMs,
    limit: limits[i],
  }))
  const expected = acted.reduce((sum, one) => sum + one.writes, 0) * (n - 1)
  const stats = await drain(ctx, groups, expected, 1500, 15_000)
  const cpu = server.cpu() - cpu0
  const split1 = server.cpuSplit()
  const seconds = (nowUs() - t0) / 1e6
  const metrics = {
    p50: ms(stats.hist.percentile(50)),
    p95: ms(stats.hist.percentile(95)),
    p99: ms(stats.hist.percentile(99)),
    cpuPerMessageUs: (cpu / Math.max(1, stats.deliveries)) * 1e6,
    cpuUtilization: cpu / seconds,
    systemShare: (split1[1] - split0[1]) / Math.max(0.01, cpu),
    deliveries: stats.deliveries,
    delivered: stats.deliveries / Math.max(1, expected),
    ...(load.writers === WRITERS ? { rssPerConnectionKb: rssPerConnection / 1024 } : {}),
    peakRssMb: server.memory().peak / 2 ** 20,
  }
  ctx.results.push({ scenario: SCENARIO_A, case: load.label, server: server.kind, round, metrics })
  progress(
    `${SCENARIO_A}, ${load.label}, round ${round + 1}: ${server.label}: p50 ${metrics.p50.toFixed(1)} ms, p99 ${metrics.p99.toFixed(1)} ms, ${metrics.cpuPerMessageUs.toFixed(2)} µs CPU/msg, ${metrics.cpuUtilization.toFixed(2)} cores, ${(metrics.delivered * 100).toFixed(1)}% delivered`,
  )
  return metrics
}
