// H. History (issue 14): what document history costs. 10,000 small text appends (10 writers) to
// one document, history on and `--no-history` interleaved: server CPU per acknowledged update (the
// attribution's share: target ≤ 10 %), and, with history on, the bytes history stores for them
// (attribution after its background compaction, bindings, versions; read from LevelDB once the
// server is killed; the disk after the pump for both), the time to list 50 versions, and the time to blame a 1 MB text written in
// 1,000 updates. Huddle only: the peers keep no history.
import { execFileSync } from 'node:child_process'
import * as Y from 'yjs'
import { Store } from '../../server/store/index.js'
import { type Context, progress, rotate } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import { RawWs } from '../lib/rawws.js'
import { median } from '../lib/report.js'
import { benchToken, ServerProc, WORKSPACE } from '../lib/servers.js'
import { Wire } from '../lib/ywire.js'
import { closeGroups, connectSpread, noteFailure, resetGroups, statsOf, targetOf } from './common.js'

export const SCENARIO_H = 'H. history'
const EDITS = 10_000
const WRITERS = 10
const VERSIONS = 50
const BLAME_LINES = 10_486
const BLAME_UPDATES = 1_000
const FAST = ['--rate', '1000000', '--burst', '1000000']

export async function history(ctx: Context): Promise<void> {
  if (!ctx.settings.servers.includes('huddle')) return
  for (let round = 0; round < ctx.settings.rounds; round++) {
    const cpu = new Map<boolean, number>()
    for (const on of rotate([true, false], round)) {
      const server = await ServerProc.start({ kind: 'huddle', args: [...FAST, ...(on ? [] : ['--no-history'])] })
      const label = on ? 'history on' : 'history off (--no-history)'
      try {
        const metrics: Record<string, number> = await pump(ctx, server)
        cpu.set(on, metrics.cpuPerUpdateUs!)
        if (on) Object.assign(metrics, await listing(server), await blame(server))
        await server.stop(true, 'SIGKILL')
        if (on) Object.assign(metrics, await historyBytes(server.dataDir!))
        ctx.results.push({ scenario: SCENARIO_H, case: label, server: 'huddle', round, metrics })
        progress(
          `${SCENARIO_H}, round ${round + 1}, ${label}: ${Object.entries(metrics)
            .map(([key, value]) => `${key} ${value.toFixed(1)}`)
            .join(', ')}`,
        )
      } catch (error) {
        noteFailure(ctx, SCENARIO_H, `${label}: ${(error as Error).message}`)
      } finally {
        await server.stop()
      }
    }
    if (cpu.has(true) && cpu.has(false))
      ctx.results.push({ scenario: SCENARIO_H, case: 'on / off', server: 'huddle', round, metrics: { historyCpuRatio: cpu.get(true)! / cpu.get(false)! } })
  }
}

/** EDITS small appends to one text by WRITERS clients: server CPU per acknowledged update. */
async function pump(ctx: Context, server: ServerProc): Promise<Record<string, number>> {
  const group = 'h-pump'
  try {
    const connected = await connectSpread(ctx, group, await targetOf(server, `${WORKSPACE}/h`), 'pump', WRITERS, 0, { timeoutMs: 30_000 })
    if (connected.failed) throw new Error(`${connected.failed} connections failed: ${connected.errors.slice(0, 2).join('; ')}`)
    await resetGroups(ctx, [group])
    const cpu0 = server.cpu()
    const t0 = nowUs()
    await ctx.pool.all('pump', () => ({ group, durationMs: 300_000, window: 8, mode: 'text', maxUpdates: EDITS / WRITERS }))
    const seconds = (nowUs() - t0) / 1e6
    const used = server.cpu() - cpu0
    const stats = await statsOf(ctx, [group])
    // Every acknowledged update is in LevelDB's log by now (persist before broadcast).
    return { cpuPerUpdateUs: (used / Math.max(1, stats.acks)) * 1e6, updatesPerSecond: stats.acks / seconds, diskAfterEditsBytes: diskBytes(server.dataDir!) }
  } finally {
    await closeGroups(ctx, [group])
  }
}

/** The answers this scenario reads: a version list or a blame. */
interface Answer {
  versions: unknown[]
  lines: unknown[]
}

async function api(server: ServerProc, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${server.port}/api/workspaces/${WORKSPACE}/docs/${path}`, {
    method,
    headers: { authorization: `Bearer ${await benchToken()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as Answer
}

/** Median time of `runs` calls of `call` (ms). */
async function timed(runs: number, call: () => Promise<unknown>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = nowUs()
    await call()
    times.push((nowUs() - t0) / 1000)
  }
  return median(times)
}

async function listing(server: ServerProc): Promise<Record<string, number>> {
  for (let i = 0; i < VERSIONS; i++) await api(server, 'POST', 'h/versions', { label: `v${i}` })
  const listed = (await api(server, 'GET', 'h/versions')).versions.length
  if (listed < VERSIONS) throw new Error(`only ${listed} versions listed`)
  return { listVersionsMs: await timed(20, () => api(server, 'GET', 'h/versions')) }
}

/** A 1 MB text of BLAME_LINES lines sent in BLAME_UPDATES updates over a raw socket, then blamed. */
async function blame(server: ServerProc): Promise<Record<string, number>> {
  const wire = new Wire('y-websocket', `${WORKSPACE}/h-blame`)
  let admitted!: () => void
  const firstMessage = new Promise<void>((resolve) => (admitted = resolve))
  let closed: number | null = null
  const handlers = { message: () => admitted(), close: (code: number) => (closed = code) }
  const ws = await RawWs.open('127.0.0.1', server.port, `/${WORKSPACE}/h-blame?token=${await benchToken()}`, handlers)
  try {
    for (const frame of wire.opening()) ws.send(frame)
    // The server refuses more than 32 KB sent before it has checked the token (4413), and the
    // loop below blocks this process for seconds: the refusal's close frame would not even be read.
    await firstMessage
    const doc = new Y.Doc()
    const text = doc.getText('body')
    const perUpdate = BLAME_LINES / BLAME_UPDATES
    for (let line = 0; line < BLAME_LINES; ) {
      const before = Y.encodeStateVector(doc)
      const lines: string[] = []
      for (const end = Math.min(BLAME_LINES, line + perUpdate); line < end; line++) lines.push(`${String(line).padStart(8, '0')} ${'x'.repeat(90)}\n`)
      text.insert(text.length, lines.join(''))
      ws.send(wire.update(Y.encodeStateAsUpdate(doc, before)))
    }
    const bytes = text.length
    // Stored once blame sees every line (the updates are acknowledged to nobody: we wait for them).
    const deadline = Date.now() + 120_000
    // 404 until the first update is stored.
    const stored = () =>
      api(server, 'GET', 'h-blame/blame').then(
        (body) => body.lines.length as number,
        () => 0,
      )
    while ((await stored()) < BLAME_LINES) {
      if (closed !== null) throw new Error(`the server closed the blame writer's socket (${closed}) before the 1 MB text was stored`)
      if (Date.now() > deadline) throw new Error('the 1 MB text was not stored within 120 s')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    return { blameMs: await timed(3, () => api(server, 'GET', 'h-blame/blame')), blameTextBytes: bytes }
  } finally {
    ws.close()
  }
}

/** What history stores, from the database of the killed server. */
async function historyBytes(dir: string): Promise<Record<string, number>> {
  const store = await Store.open({ dir, durability: 'os' })
  try {
    const totals = new Map<string, number>()
    let records = 0
    let versions = 0
    for (const [key, value] of await store.readRange({ gt: `hist!${WORKSPACE}/h!`, lt: `hist!${WORKSPACE}/h!~` })) {
      const section = key.slice(`hist!${WORKSPACE}/h!`.length, `hist!${WORKSPACE}/h!`.length + 1)
      totals.set(section, (totals.get(section) ?? 0) + key.length + value.length)
      if (section === 'a') records++
      if (section === 'v') versions++
    }
    const attribution = (totals.get('a') ?? 0) + (totals.get('c') ?? 0) + (totals.get('w') ?? 0)
    return {
      attributionBytes: attribution,
      attributionRecords: records,
      bytesPerVersion: ((totals.get('v') ?? 0) + (totals.get('s') ?? 0)) / Math.max(1, versions),
    }
  } finally {
    await store.close()
  }
}

function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0])
}
