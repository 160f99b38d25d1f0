// The delivery loop of one endpoint on its own, against a real receiver and an in-memory audit log
// that counts what it is asked for: a backlog is read a page at a time, not a page per delivery.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AuditEntry } from '../server/audit/chain.js'
import type { AuditLog } from '../server/audit/log.js'
import type { Storage as Store } from '../server/store/storage.js'
import { type Endpoint, type EndpointStore, freshDelivery } from '../server/webhooks/endpoints.js'
import { Worker } from '../server/webhooks/worker.js'
import { Receiver } from './fixtures/webhook-receiver.js'
import { waitFor } from './helpers/wait.js'

function endpoint(url: string): Endpoint {
  return {
    id: 'wh_test',
    workspace: 'ws',
    url,
    events: ['lock.*'],
    format: 'standard',
    secret: `whsec_${Buffer.alloc(24, 1).toString('base64')}`,
    createdAt: 0,
    createdBy: 'admin',
    ...freshDelivery(0),
  }
}

test('a backlog of 600 events is read from the audit log about once, not a page per delivery', async () => {
  const receiver = await Receiver.start()
  // every third entry is not wanted (a join), so pages also have entries to skip
  const log: AuditEntry[] = Array.from({ length: 900 }, (_, index) => ({
    workspace: 'ws',
    seq: index + 1,
    at: index,
    type: index % 3 === 2 ? 'join' : 'grant',
    actor: 'agent',
    data: { key: `c${index}` },
    prev: '',
    hash: '',
  }))
  let rowsRead = 0
  const audit = {
    read: async (_workspace: string, after: number, limit: number) => {
      const rows = log.slice(after, after + limit)
      rowsRead += rows.length
      return rows
    },
    appendLater: async () => undefined,
  } as unknown as AuditLog
  const endpoints = { save: async () => undefined, log: async (target: Endpoint) => void target.logSeq++ } as unknown as EndpointStore
  const store = { flush: async () => undefined } as unknown as Store
  const target = endpoint(receiver.url)
  const worker = new Worker(target, {
    store,
    audit,
    endpoints,
    options: { timeoutMs: 5000, allowPrivate: true, retryScale: 0.001, dashboardUrl: () => 'http://dashboard', slackIntervalMs: 0 },
  })
  try {
    await waitFor(() => receiver.received.length === 600 || undefined, 60_000, 'the 600 wanted events arrive')
    await waitFor(() => target.cursor === 900 || undefined, 10_000, 'the cursor passes the last entry')
    const seqs = receiver.received.map((request) => request.json?.seq as number)
    assert.equal(
      seqs,
      log.filter((entry) => entry.type === 'grant').map((entry) => entry.seq),
    )
    // each entry once, plus the empty read at the end (it was 200 rows per delivery: ~100,000)
    assert.ok(rowsRead <= 900, `${rowsRead} rows read for 900 entries`)
  } finally {
    await worker.stop()
    await receiver.close()
  }
})

test.run()
