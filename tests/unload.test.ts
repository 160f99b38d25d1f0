// Documents unload after their last connection plus --unload-after, and unloading really frees
// them: after opening and closing 1,000 documents the heap is back where it started.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, decodeFrame, mintToken, newSession, rawConnect, textUpdate, updateFrame, waitFor } from './helpers/clients.js'
import type { Health, TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const MB = 1024 * 1024
/** each document gets this much text, so a leak of 1,000 of them is ~10 MB, far above the noise */
const TEXT_BYTES = 10_000
const BATCH = 50

let server: TestServer
let token: string
const session = newSession()

withServer(test, (started) => (server = started), {
  exposeGc: true,
  args: ['--unload-after', '100ms', '--rate', '100000', '--burst', '100000'],
  env: { HUDDLE_LOG: 'quiet' },
})
test.before(async () => {
  token = await mintToken('loader', 'editor', 'unload')
})

const health = () => server.fetchJson<Health>('/healthz')

/** Opens `count` documents, `BATCH` at a time: connect, write, wait for the echo (it is on disk), close. */
async function churn(prefix: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, count - start) }, async (_, i) => {
        const raw = await rawConnect(server, `unload/${prefix}-${start + i}`, { token, session })
        raw.send(updateFrame(textUpdate(`${prefix}-${start + i} `.padEnd(TEXT_BYTES, 'x'))))
        await raw.waitMessage((message) => decodeFrame(message).kind === 'update', 10_000, 'the echo of the write')
        raw.close()
        await raw.closed
      }),
    )
  }
}

async function waitUnloaded(): Promise<void> {
  await waitFor(
    async () => {
      const h = await health()
      return h.documents === 0 && h.connections === 0
    },
    15_000,
    'documents never unloaded',
  )
}

/** heapUsed after a full GC; the least of a few readings, since a GC is not always complete. */
async function heapAfterGc(): Promise<number> {
  const readings: number[] = []
  for (let i = 0; i < 3; i++) readings.push((await server.fetchJson<Health>('/healthz?gc=1')).memory.heapUsed)
  return Math.min(...readings)
}

test('/healthz?gc=1 is available (server under --expose-gc)', async () => {
  const h = await server.fetchJson<Health>('/healthz?gc=1')
  assert.is(h.status, 'ok')
  assert.ok(h.memory.heapUsed > 0)
})

test('an idle document unloads after --unload-after and reloads with its content', async () => {
  const writer = await connectPeer(server, 'unload/single', { token })
  writer.doc.getText('text').insert(0, 'kept across unloads')
  const reader = await connectPeer(server, 'unload/single', { token })
  await waitFor(() => reader.doc.getText('text').length > 0, 5000, 'reader never synced')
  assert.is((await health()).documents, 1)
  writer.destroy()
  reader.destroy()
  await waitUnloaded()
  const again = await connectPeer(server, 'unload/single', { token })
  assert.is(again.doc.getText('text').toString(), 'kept across unloads')
  assert.is((await health()).documents, 1)
  again.destroy()
  await waitUnloaded()
})

test('a document that REST calls opened while it waited to unload still unloads', async () => {
  const viewer = await mintToken('reader', 'viewer', 'idle-rest')
  // Reads in a row: each after the first finds the room loaded with its unload pending.
  for (let i = 0; i < 10; i++) {
    const response = await fetch(`${server.httpUrl}/api/workspaces/idle-rest/state`, { headers: { authorization: `Bearer ${viewer}` } })
    assert.is(response.status, 200)
  }
  await waitUnloaded()
})

test('opening and closing 1,000 documents leaves the heap where it was', async () => {
  // Warm-up: code paths compiled, pools and caches at their working size.
  await churn('warmup', 200)
  await waitUnloaded()
  const baseline = await heapAfterGc()
  await churn('doc', 1000)
  const loaded = await health()
  await waitUnloaded()
  const after = await heapAfterGc()
  const growth = after - baseline
  assert.ok(
    growth < 4 * MB,
    `heap grew by ${(growth / MB).toFixed(1)} MB after 1,000 documents were unloaded (baseline ${(baseline / MB).toFixed(1)} MB, after ${(after / MB).toFixed(1)} MB; documents right after the churn: ${loaded.documents})`,
  )
  // The documents were really written: one of them comes back with its content.
  const probe = await rawConnect(server, 'unload/doc-999', { token, session })
  await probe.roundTrip()
  const reply = probe.messages.map(decodeFrame).find((frame) => frame.kind === 'sync-step2') as { payload: Uint8Array }
  assert.ok(reply.payload.length > TEXT_BYTES, 'doc-999 was persisted')
  probe.close()
})

test.run()
