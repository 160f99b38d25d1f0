// D. Locks (Huddle only: the peers have none): the uncontended acquire→grant round trip through
// the client library, 100 agents contending for one resource (handoff: release → next grant,
// grants per second), and 1,000 resources under random claims; each with agents that replicate
// the coordination document (connect()) and with lock-only agents (connectLocks()). Optionally
// against etcd (its v3 lock service through the JSON gateway) when an `etcd` binary is on the PATH.
import { type Context, ms, progress } from '../lib/context.js'
import { Histogram } from '../lib/hist.js'
import { split } from '../lib/pool.js'
import type { LockEvent } from '../lib/rpc.js'
import { benchToken, ServerProc, WORKSPACE } from '../lib/servers.js'
import { noteFailure } from './common.js'
import { etcdLocks } from './etcd.js'

export const SCENARIO_D = 'D. locks'

interface Phase {
  label: string
  agents: number
  resources: string[]
  durationMs: number
  holdMs: number
  maxRounds: number
  lockOnly: boolean
}

/** a phase's label with lock-only agents */
export const LOCK_ONLY = ' (lock-only)'

export async function locks(ctx: Context): Promise<void> {
  if (!ctx.settings.servers.includes('huddle')) return
  const quick = ctx.settings.quick
  const kinds: Array<Omit<Phase, 'lockOnly'>> = [
    { label: 'uncontended', agents: 1, resources: ['solo'], durationMs: quick ? 4000 : 15_000, holdMs: 0, maxRounds: quick ? 200 : 1000 },
    { label: '100 contenders, 1 resource', agents: 100, resources: ['hot'], durationMs: quick ? 4000 : 15_000, holdMs: 0, maxRounds: 1e9 },
    {
      label: '100 agents, 1000 resources',
      agents: 100,
      resources: Array.from({ length: 1000 }, (_, i) => `res/${i}`),
      durationMs: quick ? 4000 : 15_000,
      holdMs: 5,
      maxRounds: 1e9,
    },
  ]
  const phases: Phase[] = kinds.flatMap((kind) => [
    { ...kind, lockOnly: false },
    { ...kind, label: kind.label + LOCK_ONLY, lockOnly: true },
  ])
  // BENCH_D_PHASES=contenders: only the phases whose label contains one of the words (for profiling)
  const wanted = process.env.BENCH_D_PHASES?.split(',')
  const chosen = wanted ? phases.filter((phase) => wanted.some((word) => phase.label.includes(word))) : phases
  for (let round = 0; round < ctx.settings.rounds; round++) {
    for (const phase of chosen) {
      // a fresh server and workspace per phase: the coordination document keeps every outcome of
      // a session until it ends, so phases would otherwise inherit each other's history
      const server = await ServerProc.start({ kind: 'huddle', profile: ctx.settings.profile, args: ['--rate', '100000', '--burst', '100000'] })
      const group = `d-${round}`
      try {
        const shares = split(phase.agents, ctx.pool.size)
        const token = await benchToken()
        const connected = await ctx.pool.all<{ ok: number; failed: number; errors: string[]; mode: string }>('lockConnect', (i) =>
          shares[i] === 0
            ? null
            : { group, url: `http://127.0.0.1:${server.port}`, workspace: WORKSPACE, token, count: shares[i], idBase: 0, lockOnly: phase.lockOnly },
        )
        const failed = connected.reduce((sum, c) => sum + c.failed, 0)
        if (failed)
          throw new Error(
            `${failed} agents could not connect: ${connected
              .flatMap((c) => c.errors)
              .slice(0, 2)
              .join('; ')}`,
          )
        const mode = connected[0]!.mode
        const sent0 = await bytesSent(server.port)
        const cpu0 = server.cpu()
        const runs = await ctx.pool.all<{ events: LockEvent[]; errors: string[] }>('lockLoop', (i) =>
          shares[i] === 0 ? null : { group, resources: phase.resources, durationMs: phase.durationMs, holdMs: phase.holdMs, maxRounds: phase.maxRounds },
        )
        const cpu = server.cpu() - cpu0
        const sent = (await bytesSent(server.port)) - sent0
        const events = runs.flatMap((r) => r.events)
        const errors = runs.flatMap((r) => r.errors)
        if (errors.length) noteFailure(ctx, SCENARIO_D, `${phase.label}: ${errors.slice(0, 2).join('; ')}`)
        const metrics = lockMetrics(events, phase.durationMs, cpu)
        // what every grant costs the clients: bytes the server sent (to all sockets) per grant
        metrics.bytesSentPerGrant = sent / Math.max(1, events.length)
        ctx.results.push({ scenario: SCENARIO_D, case: phase.label, server: 'huddle', round, metrics, notes: [`agents: ${mode}`] })
        const m = ctx.results.at(-1)!.metrics
        progress(
          `${SCENARIO_D}, ${phase.label}, round ${round + 1} (${mode}): acquire→grant p50 ${m.rttP50!.toFixed(2)} ms, p99 ${m.rttP99!.toFixed(2)} ms${phase.agents > 1 ? `, handoff p50 ${m.handoffP50!.toFixed(2)} ms, p99 ${m.handoffP99!.toFixed(2)} ms` : ''}, ${m.grantsPerSecond!.toFixed(0)} grants/s`,
        )
      } catch (error) {
        noteFailure(ctx, SCENARIO_D, `${phase.label}: ${(error as Error).message}`)
      } finally {
        await ctx.pool.all('lockClose', () => ({ group }))
        await server.stop()
      }
    }
    if (ctx.settings.servers.includes('etcd')) await etcdLocks(ctx, round)
  }
}

/** Round trip (claim → grant), handoff (release of token k → grant of the next token on the same resource), throughput. */
export function lockMetrics(events: LockEvent[], durationMs: number, cpuSeconds: number): Record<string, number> {
  const rtt = new Histogram()
  for (const event of events) rtt.record(event.grantedUs - event.claimedUs)
  const handoff = new Histogram()
  const byResource = new Map<string, LockEvent[]>()
  for (const event of events) byResource.set(event.resource, [...(byResource.get(event.resource) ?? []), event])
  for (const list of byResource.values()) {
    list.sort((a, b) => a.grantedUs - b.grantedUs)
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!
      const next = list[i]!
      // a handoff only when the next claim was already waiting when the previous holder released
      if (next.claimedUs < previous.releasedUs) handoff.record(next.grantedUs - previous.releasedUs)
    }
  }
  const first = Math.min(...events.map((e) => e.claimedUs))
  const last = Math.max(...events.map((e) => e.releasedUs))
  const seconds = events.length > 1 ? (last - first) / 1e6 : durationMs / 1000
  return {
    rttP50: ms(rtt.percentile(50)),
    rttP99: ms(rtt.percentile(99)),
    handoffP50: ms(handoff.percentile(50)),
    handoffP99: ms(handoff.percentile(99)),
    grantsPerSecond: events.length / seconds,
    cpuUtilization: cpuSeconds / seconds,
    grants: events.length,
    cpuPerGrantUs: events.length ? (cpuSeconds / events.length) * 1e6 : Number.NaN,
  }
}

/** huddle_bytes_sent_total from the server's /metrics */
async function bytesSent(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Number(/^huddle_bytes_sent_total (\S+)/m.exec(text)?.[1] ?? Number.NaN)
}
