// B. Connect storm: clients all connecting at once to a document whose state is ~1 MB; the time
// until every one of them has the whole document, server CPU per client, peak RSS.
import * as Y from 'yjs'
import { type Context, progress, rotate, sleep } from '../lib/context.js'
import { nowUs } from '../lib/hist.js'
import { split } from '../lib/pool.js'
import type { ConnectResult, StormResult } from '../lib/rpc.js'
import { ServerProc, type ServerKind } from '../lib/servers.js'
import { closeGroups, noteFailure, targetOf } from './common.js'

export const SCENARIO_B = 'B. connect storm'

/** A document of ~1 MB built like an edited text: many inserts at random places (seeded). */
export function largeDocument(bytes = 1_000_000): Uint8Array {
  let seed = 42
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
  const doc = new Y.Doc()
  const text = doc.getText('body')
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do', 'eiusmod', 'tempor']
  while (text.length < bytes) {
    let chunk = ''
    while (chunk.length < 100) chunk += `${words[Math.floor(random() * words.length)]} `
    text.insert(Math.floor(random() * (text.length + 1)), chunk)
  }
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

export async function storm(ctx: Context): Promise<void> {
  const clients = ctx.settings.quick ? 250 : 1000
  const label = `${clients} clients, 1 MB`
  const state = largeDocument()
  progress(`${SCENARIO_B}: document state ${(state.length / 1e6).toFixed(2)} MB, ${clients} clients`)
  const kinds = (['huddle', 'huddle-base', 'yws', 'hocuspocus', 'hocuspocus4'] as ServerKind[]).filter((kind) => ctx.settings.servers.includes(kind))
  for (let round = 0; round < ctx.settings.rounds; round++) {
    for (const kind of rotate(kinds, round)) {
      // a fresh server per window: each storm meets a document loaded but never sent before
      const server = await ServerProc.start({ kind, profile: ctx.settings.profile })
      try {
        const target = await targetOf(server, 'bench/storm')
        // seed: one client sends the whole state as an update, then checks it reads it back
        const seeded = await ctx.pool.call<ConnectResult>(0, 'connect', {
          group: 'b-seed',
          target,
          kind: 'pump',
          count: 1,
          idBase: 0,
          concurrency: 1,
          timeoutMs: 30_000,
        })
        if (seeded.ok !== 1) throw new Error(`seeding failed: ${seeded.errors.join('; ')}`)
        await ctx.pool.call(0, 'sendRaw', { group: 'b-seed', update: Buffer.from(state).toString('base64') })
        await sleep(1000)
        const probe = await ctx.pool.call<StormResult>(0, 'storm', { group: 'b-probe', target, count: 1, atUs: 0, timeoutMs: 30_000 })
        // the seeding connection stays: Hocuspocus forgets an in-memory document with its last connection
        await closeGroups(ctx, ['b-probe'])
        if ((probe.bytes[0] ?? 0) < state.length) throw new Error(`the server holds ${probe.bytes[0]} bytes, not the ${state.length} seeded`)
        await sleep(300)
        const cpu0 = server.cpu()
        const rss0 = server.memory().rss
        const atUs = nowUs() + 300_000
        const shares = split(clients, ctx.pool.size)
        const results = await ctx.pool.all<StormResult>('storm', (i) => ({ group: 'b-storm', target, count: shares[i], atUs, timeoutMs: 120_000 }))
        const cpu = server.cpu() - cpu0
        const synced = results.flatMap((r) => r.syncedAtUs)
        const failed = results.reduce((sum, r) => sum + r.failed, 0)
        const bytes = results.flatMap((r) => r.bytes)
        const lastUs = Math.max(...synced)
        const metrics = {
          allSyncedMs: failed ? Number.NaN : (lastUs - atUs) / 1000,
          medianSyncedMs: (synced.sort((a, b) => a - b)[Math.floor(synced.length / 2)]! - atUs) / 1000,
          cpuPerClientMs: (cpu / clients) * 1000,
          peakRssMb: server.memory().peak / 2 ** 20,
          rssGrowthMb: (server.memory().rss - rss0) / 2 ** 20,
          bytesPerClient: bytes.reduce((a, b) => a + b, 0) / Math.max(1, bytes.length),
          failed,
        }
        if (failed)
          noteFailure(
            ctx,
            SCENARIO_B,
            `${server.label}: ${failed} of ${clients} clients did not sync (${results
              .flatMap((r) => r.errors)
              .slice(0, 2)
              .join('; ')})`,
          )
        ctx.results.push({ scenario: SCENARIO_B, case: label, server: kind, round, metrics })
        progress(
          `${SCENARIO_B}, round ${round + 1}: ${server.label}: all synced in ${metrics.allSyncedMs.toFixed(0)} ms, ${metrics.cpuPerClientMs.toFixed(2)} ms CPU/client, peak RSS ${metrics.peakRssMb.toFixed(0)} MB`,
        )
        if (metrics.bytesPerClient < state.length)
          noteFailure(
            ctx,
            SCENARIO_B,
            `${server.label}: clients received ${metrics.bytesPerClient.toFixed(0)} bytes on average, less than the ${state.length}-byte state`,
          )
        await closeGroups(ctx, ['b-storm', 'b-seed'])
      } catch (error) {
        noteFailure(ctx, SCENARIO_B, `${LABEL(kind)}: ${(error as Error).message}`)
        await closeGroups(ctx, ['b-seed', 'b-probe', 'b-storm'])
      } finally {
        await server.stop()
      }
    }
  }
}

const LABEL = (kind: ServerKind) => kind
