// C. Presence churn: N clients in one document, each moving its cursor 5 times a second through
// awareness. Latency from a move to its arrival at the probe clients (a sample of the N, to keep
// client CPU low), server CPU per move.
import { type Context, ms, progress, rotate, sleep } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import { ServerProc, type ServerKind } from '../lib/servers.js'
import { closeGroups, connectSpread, drain, noteFailure, resetGroups, targetOf } from './common.js'

export const SCENARIO_C = 'C. presence churn'
const HZ = 5
/** clients that measure latency (all of them move) */
const PROBES = 40

export async function presence(ctx: Context): Promise<void> {
  const sizes = ctx.settings.sizes ?? (ctx.settings.quick ? [100] : [100, 1000])
  const windowMs = ctx.settings.quick ? 4000 : 8000
  const kinds = (['huddle', 'huddle-base', 'yws', 'hocuspocus', 'hocuspocus4'] as ServerKind[]).filter((kind) => ctx.settings.servers.includes(kind))
  for (const n of sizes) {
    const label = `N=${n}`
    const servers: ServerProc[] = []
    for (const kind of kinds) {
      // every move of every client goes to every client: the peers send N² × 5 messages a second
      // (5 million at N=1000), far past what they managed at N=200 (see the report); running them
      // would only pile up gigabytes of unsent messages on a shared machine
      if (n > 400 && kind !== 'huddle' && kind !== 'huddle-base') {
        if (kind === 'yws')
          ctx.notes.push({
            scenario: SCENARIO_C,
            text: `N=${n}: only Huddle runs; the peers send every move to every client separately (${((n * n * HZ) / 1e6).toFixed(1)} million messages/s here) and were already saturated at N=200`,
          })
        continue
      }
      const server = await ServerProc.start({ kind, profile: ctx.settings.profile })
      const connected = await connectSpread(ctx, `c-${kind}`, await targetOf(server, 'bench/presence'), 'mover', n, 0, { probes: PROBES, timeoutMs: 60_000 })
      if (connected.failed > 0) {
        noteFailure(ctx, SCENARIO_C, `${server.label}: ${connected.failed} of ${n} connections failed (${connected.errors.slice(0, 2).join('; ')})`)
        await closeGroups(ctx, [`c-${kind}`])
        await server.stop()
        continue
      }
      servers.push(server)
    }
    for (let round = 0; round < ctx.settings.rounds; round++) {
      for (const server of rotate(servers, round)) {
        const group = `c-${server.kind}`
        await resetGroups(ctx, [group])
        const cpu0 = server.cpu()
        const t0 = nowUs()
        const acted = await ctx.pool.all<{ writes: number }>('act', () => ({ group, hz: HZ, durationMs: windowMs }))
        const moves = acted.reduce((sum, one) => sum + one.writes, 0)
        // each move should reach every probe but its own mover
        const expected = moves * PROBES - Math.round((moves * PROBES) / n)
        const stats = await drain(ctx, [group], expected, 1500, 10_000)
        const cpu = server.cpu() - cpu0
        const seconds = (nowUs() - t0) / 1e6
        const metrics = {
          p50: ms(stats.hist.percentile(50)),
          p95: ms(stats.hist.percentile(95)),
          p99: ms(stats.hist.percentile(99)),
          cpuPerMoveUs: (cpu / Math.max(1, moves)) * 1e6,
          cpuUtilization: cpu / seconds,
          moves,
          delivered: stats.deliveries / Math.max(1, expected),
          peakRssMb: server.memory().peak / 2 ** 20,
        }
        ctx.results.push({ scenario: SCENARIO_C, case: label, server: server.kind, round, metrics })
        progress(
          `${SCENARIO_C}, ${label}, round ${round + 1}: ${server.label}: p50 ${metrics.p50.toFixed(1)} ms, p99 ${metrics.p99.toFixed(1)} ms, ${metrics.cpuPerMoveUs.toFixed(0)} µs CPU/move, ${metrics.cpuUtilization.toFixed(2)} cores, ${(metrics.delivered * 100).toFixed(1)}% delivered`,
        )
        // let a server that fell behind catch up before the next one is measured
        await sleep(500)
      }
    }
    for (const server of servers) {
      await closeGroups(ctx, [`c-${server.kind}`])
      await server.stop()
    }
  }
}
