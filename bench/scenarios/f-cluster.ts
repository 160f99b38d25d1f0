// F. Cluster mode (issue 17) on one Redis, every process on this machine: what the relay adds to
// an update's acknowledgement (a writer on a node that does not own its workspace, against one on
// the owner, both at once in the same window), the acknowledged updates per second with 3 nodes
// each owning a workspace against 1 node owning all three, and the time until another node owns a
// workspace after kill -9 of its owner. Skipped, with a note, when redis-server is not installed.
import { spawnSync } from 'node:child_process'
import { signToken } from '../../server/auth/tokens.js'
import { type Context, ms, progress, sleep } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import type { Target } from '../lib/rpc.js'
import { RedisServer } from '../../tests/helpers/redis-server.js'
import { BENCH_SECRET, ServerProc } from '../lib/servers.js'
import { closeGroups, connectSpread, noteFailure, resetGroups, statsOf } from './common.js'

export const SCENARIO_F = 'F. cluster'
const LEASE = '2s'
const FAST = ['--rate', '1000000', '--burst', '1000000']

export async function cluster(ctx: Context): Promise<void> {
  if (!ctx.settings.servers.includes('huddle')) return
  if (spawnSync('redis-server', ['--version']).error) {
    noteFailure(ctx, SCENARIO_F, 'skipped: redis-server is not installed (Debian: apt-get install redis-server)')
    return
  }
  for (let round = 0; round < ctx.settings.rounds; round++) {
    for (const part of [relayCost, throughput, failover]) {
      const redis = await RedisServer.start()
      try {
        await part(ctx, redis, round)
      } catch (error) {
        noteFailure(ctx, SCENARIO_F, `${part.name}: ${(error as Error).message}`)
      } finally {
        await redis.stop()
      }
    }
  }
}

/** Writers on the owner and writers relayed by a second node pump at the same time, one update in flight each. */
async function relayCost(ctx: Context, redis: RedisServer, round: number): Promise<void> {
  const writers = ctx.settings.quick ? 8 : 20
  const durationMs = ctx.settings.quick ? 4000 : 10_000
  const [owner, relay] = await startNodes(redis, 2)
  try {
    // The owner's own writers connect first: it owns the workspace, and keeps it (no rebalancing).
    await connectAll(ctx, 'f-owner', await target(owner, 'frelay/owner'), writers)
    await connectAll(ctx, 'f-relayed', await target(relay, 'frelay/relayed'), writers)
    await resetGroups(ctx, ['f-owner', 'f-relayed'])
    await Promise.all(['f-owner', 'f-relayed'].map((group) => ctx.pool.all('pump', () => ({ group, durationMs, window: 1, mode: 'map' }))))
    for (const [group, where] of [
      ['f-owner', 'client on the owner'],
      ['f-relayed', 'client relayed by another node'],
    ] as const) {
      const stats = await statsOf(ctx, [group])
      const metrics = { p50: ms(stats.hist.percentile(50)), p99: ms(stats.hist.percentile(99)), updatesPerSecond: stats.acks / (durationMs / 1000) }
      ctx.results.push({ scenario: SCENARIO_F, case: `update ack, ${where}`, server: 'huddle', round, metrics })
      progress(`${SCENARIO_F}, ${where}, round ${round + 1}: ack p50 ${metrics.p50.toFixed(2)} ms, p99 ${metrics.p99.toFixed(2)} ms`)
    }
  } finally {
    await closeGroups(ctx, ['f-owner', 'f-relayed'])
    await stopAll([owner, relay])
  }
}

/** Three workspaces, their writers connected to their owners: all on one node, or one per node. */
async function throughput(ctx: Context, redis: RedisServer, round: number): Promise<void> {
  const writers = ctx.settings.quick ? 12 : 30
  const durationMs = ctx.settings.quick ? 4000 : 10_000
  for (const count of [1, 3]) {
    const nodes = await startNodes(redis, count)
    const groups = [0, 1, 2].map((i) => `f-tp${count}-${i}`)
    try {
      for (const [i, group] of groups.entries()) await connectAll(ctx, group, await target(nodes[i % count]!, `ftp${count}-${i}/doc`), writers / 3)
      await resetGroups(ctx, groups)
      const t0 = nowUs()
      await Promise.all(groups.map((group) => ctx.pool.all('pump', () => ({ group, durationMs, window: 8, mode: 'map' }))))
      const seconds = (nowUs() - t0) / 1e6
      const stats = await statsOf(ctx, groups)
      const metrics = { updatesPerSecond: stats.acks / seconds, p50: ms(stats.hist.percentile(50)), p99: ms(stats.hist.percentile(99)) }
      ctx.results.push({ scenario: SCENARIO_F, case: `throughput, 3 workspaces on ${count} node${count > 1 ? 's' : ''}`, server: 'huddle', round, metrics })
      progress(`${SCENARIO_F}, ${count} node(s), round ${round + 1}: ${metrics.updatesPerSecond.toFixed(0)} updates/s`)
    } finally {
      await closeGroups(ctx, groups)
      await stopAll(nodes)
    }
  }
}

/** kill -9 of the owner of a workspace with a connected client: until another node owns it. */
async function failover(ctx: Context, redis: RedisServer, round: number): Promise<void> {
  const [owner, other] = await startNodes(redis, 2)
  try {
    await connectAll(ctx, 'f-fo', await target(owner, 'ffail/doc'), 1)
    const owned = async (node: ServerProc) => {
      const health = (await (await fetch(`http://127.0.0.1:${node.port}/healthz`)).json()) as { cluster: { owns: string[] } }
      return health.cluster.owns.includes('ffail')
    }
    if (!(await owned(owner))) throw new Error('the first node does not own the workspace its client connected to')
    await owner.stop(false, 'SIGKILL')
    const t0 = Date.now()
    while (!(await owned(other))) {
      if (Date.now() - t0 > 60_000) throw new Error('no node owned the workspace 60 s after its owner died')
      await sleep(20)
    }
    const metrics = { failoverMs: Date.now() - t0 }
    ctx.results.push({ scenario: SCENARIO_F, case: `failover after kill -9 (lease ${LEASE})`, server: 'huddle', round, metrics })
    progress(`${SCENARIO_F}, failover, round ${round + 1}: ${metrics.failoverMs} ms`)
  } finally {
    await closeGroups(ctx, ['f-fo'])
    await stopAll([owner, other])
  }
}

async function connectAll(ctx: Context, group: string, to: Target, count: number): Promise<void> {
  const connected = await connectSpread(ctx, group, to, 'pump', count, 0, { roomPerClient: true, timeoutMs: 30_000 })
  if (connected.failed) throw new Error(`${connected.failed} connections failed: ${connected.errors.slice(0, 2).join('; ')}`)
}

let token: string | null = null

/** The bench token is for workspace `bench`; these rooms are in several workspaces. */
async function target(node: ServerProc, room: string): Promise<Target> {
  token ??= await signToken(new TextEncoder().encode(BENCH_SECRET), { actor: 'bench', workspace: '*', role: 'editor', kind: 'agent', ttlMs: 3_600_000 })
  return { server: 'huddle', host: '127.0.0.1', port: node.port, dialect: 'y-websocket', room, token }
}

function startNodes(redis: RedisServer, count: number): Promise<ServerProc[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      ServerProc.start({ kind: 'huddle', args: ['--redis', redis.url, '--node-id', `bench-${i + 1}`, '--owner-lease', LEASE, ...FAST] }),
    ),
  )
}

async function stopAll(nodes: ServerProc[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop()))
}
