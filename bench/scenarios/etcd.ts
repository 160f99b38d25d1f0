// The etcd baseline for scenario D's handoff: etcd's own lock service (v3lock: a key per waiter
// under the lock's prefix, each waiting for the deletion of the key before it, i.e. the same FIFO
// handoff as Huddle's), driven through etcd's JSON gateway over HTTP keep-alive. Runs only when an
// `etcd` binary is installed (Debian: `apt-get install etcd-server`); otherwise D reports
// absolute figures.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Context, progress, sleep } from '../lib/context.js'
import { cpuSeconds } from '../lib/proc.js'
import { nowUs } from '../lib/hist.js'
import type { LockEvent } from '../lib/rpc.js'
import { lockMetrics, SCENARIO_D } from './d-locks.js'

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

const b64 = (text: string) => Buffer.from(text).toString('base64')

export async function etcdLocks(ctx: Context, round: number): Promise<void> {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim()
  if (!found) {
    if (round === 0)
      ctx.notes.push({
        scenario: SCENARIO_D,
        text: 'no etcd binary on this machine (apt-get install etcd-server): the handoff is reported in absolute figures only',
      })
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'etcd-bench-'))
  const [client, peer] = [await freePort(), await freePort()]
  const child = spawn(
    found,
    [
      '--data-dir',
      dir,
      '--listen-client-urls',
      `http://127.0.0.1:${client}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${client}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${peer}`,
      '--log-level',
      'error',
    ],
    { stdio: 'ignore' },
  )
  const base = `http://127.0.0.1:${client}`
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) })
    if (!response.ok) throw new Error(`etcd ${path}: ${response.status} ${await response.text()}`)
    return (await response.json()) as T
  }
  try {
    for (let i = 0; ; i++) {
      try {
        await post('/v3/kv/range', { key: b64('x') })
        break
      } catch (error) {
        if (i > 100) throw error
        await sleep(100)
      }
    }
    const quick = ctx.settings.quick
    const phases = [
      { label: 'uncontended', agents: 1, resources: ['solo'], durationMs: quick ? 4000 : 15_000, maxRounds: quick ? 200 : 1000 },
      { label: '100 contenders, 1 resource', agents: 100, resources: ['hot'], durationMs: quick ? 4000 : 15_000, maxRounds: 1e9 },
    ]
    for (const phase of phases) {
      const events: LockEvent[] = []
      const cpu0 = cpuSeconds(child.pid!)
      const end = performance.now() + phase.durationMs
      await Promise.all(
        Array.from({ length: phase.agents }, async () => {
          const { ID: lease } = await post<{ ID: string }>('/v3/lease/grant', { TTL: 300 })
          for (let r = 0; r < phase.maxRounds && performance.now() < end; r++) {
            const resource = phase.resources[0]!
            const claimedUs = nowUs()
            const locked = await post<{ key: string; header: { revision: string } }>('/v3/lock/lock', { name: b64(resource), lease })
            const grantedUs = nowUs()
            const releasedUs = nowUs()
            await post('/v3/lock/unlock', { key: locked.key })
            events.push({ token: Number(locked.header.revision), claimedUs, grantedUs, releasedUs, resource })
          }
        }),
      )
      const metrics = lockMetrics(events, phase.durationMs, cpuSeconds(child.pid!) - cpu0)
      ctx.results.push({ scenario: SCENARIO_D, case: phase.label, server: 'etcd', round, metrics })
      progress(
        `${SCENARIO_D}, ${phase.label}, round ${round + 1}: etcd: acquire→grant p50 ${metrics.rttP50!.toFixed(2)} ms, p99 ${metrics.rttP99!.toFixed(2)} ms${phase.agents > 1 ? `, handoff p50 ${metrics.handoffP50!.toFixed(2)} ms, p99 ${metrics.handoffP99!.toFixed(2)} ms` : ''}, ${metrics.grantsPerSecond!.toFixed(0)} grants/s`,
      )
    }
  } catch (error) {
    ctx.notes.push({ scenario: SCENARIO_D, text: `etcd baseline failed: ${(error as Error).message}` })
  } finally {
    child.kill('SIGKILL')
    await sleep(200)
    rmSync(dir, { recursive: true, force: true })
  }
}
