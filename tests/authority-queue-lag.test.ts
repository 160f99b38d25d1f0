// How a lock's queue reaches the document (`--queue-lag`, docs/authority.md): claims that have to
// wait are published together with the lock's next change, or after the lag, instead of one full
// rewrite of the queue each; a lagging queue lost in a crash is rebuilt from the state at load.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Y from 'yjs'
import { cleanupClients, waitFor } from './helpers/clients.js'
import { claim, type CoordPeer, joinCoord, locksOf, queueOf, release, startHuddle, waitOutcome, Watcher, who } from './helpers/coordination.js'
import type { TestServer } from './helpers/server.js'

const servers: TestServer[] = []

test.after.each(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose()
})

async function start(lag: string): Promise<TestServer> {
  const server = await startHuddle(['--queue-lag', lag])
  servers.push(server)
  return server
}

async function peers(server: TestServer, ws: string, count: number): Promise<CoordPeer[]> {
  const list: CoordPeer[] = []
  for (let i = 0; i < count; i++) list.push(await joinCoord(server, ws, await who(`waiter${i}`, 'editor')))
  return list
}

/**
 * How many values `locks[resource]` has had: each rewrite is a new Yjs item whose `left` is the
 * one it replaced. Counted in the document, so updates merged in transit still count apart.
 */
function rewritesOf(doc: Y.Doc, resource: string): number {
  let count = 0
  for (let item = locksOf(doc)._map.get(resource) ?? null; item !== null; item = item.left) count++
  return count
}

async function burst(lag: string): Promise<{ rewrites: number; queue: string[]; keys: string[] }> {
  const server = await start(lag)
  const ws = `lag-burst-${lag}`
  const watcher = await Watcher.start(server, ws)
  const holder = await joinCoord(server, ws, await who('holder', 'editor'))
  await waitOutcome(holder, claim(holder, 'h', { resources: ['db'], mode: 'exclusive' }), ['granted'])
  const waiters = await peers(server, ws, 12)
  const before = rewritesOf(watcher.doc, 'db')
  // One claim per connection, each in its own message, in a known order.
  const keys: string[] = []
  for (const waiter of waiters) keys.push(claim(waiter, 'w', { resources: ['db'], mode: 'exclusive' }))
  await waitFor(() => queueOf(watcher.doc, 'db').length === keys.length, 5000, 'not every waiter reached the queue')
  watcher.assertClean()
  return { rewrites: rewritesOf(watcher.doc, 'db') - before, queue: queueOf(watcher.doc, 'db'), keys }
}

test('twelve claims arriving together reach the queue in one or two rewrites, in arrival order', async () => {
  const lagged = await burst('300ms')
  assert.equal(lagged.queue, lagged.keys)
  assert.ok(lagged.rewrites <= 2, `${lagged.rewrites} rewrites of locks.db for 12 waiters`)
  // The same burst with the lag off costs one rewrite per claim: what the lag saves.
  const immediate = await burst('0')
  assert.equal(immediate.queue, immediate.keys)
  assert.is(immediate.rewrites, immediate.keys.length)
})

test('a lagging waiter shows with the next grant; a grant, release or withdrawal is never delayed', async () => {
  const server = await start('1h')
  const ws = 'lag-grant'
  const watcher = await Watcher.start(server, ws)
  const [a, b, c] = await peers(server, ws, 3)
  const aKey = claim(a!, 'a', { resources: ['db'], mode: 'exclusive' })
  await waitOutcome(a!, aKey, ['granted'])
  const bKey = claim(b!, 'b', { resources: ['db'], mode: 'exclusive' })
  const cKey = claim(c!, 'c', { resources: ['db'], mode: 'exclusive' })
  // b and c wait (the server logged them), but with a lag of an hour the queue does not show them yet.
  await waitFor(() => watcher.doc.getArray<{ type: string; data?: { key?: string } }>('activity').toArray().some((entry) => entry.type === 'queue' && entry.data?.key === cKey), 5000, 'c was never queued')
  assert.equal(queueOf(watcher.doc, 'db'), [])
  // a's release grants b at once, and the same rewrite shows c waiting behind it.
  release(a!, aKey)
  await waitOutcome(b!, bKey, ['granted'])
  assert.equal(queueOf(watcher.doc, 'db'), [cKey])
  // c withdraws: written at once too.
  release(c!, cKey)
  await waitFor(() => queueOf(watcher.doc, 'db').length === 0, 5000, 'the withdrawn claim stayed in the queue')
  watcher.assertClean()
})

test('a queue still lagging when the server is killed is in the document after the restart', async () => {
  const server = await start('1h')
  const ws = 'lag-crash'
  const holder = await joinCoord(server, ws, await who('holder', 'editor'))
  await waitOutcome(holder, claim(holder, 'h', { resources: ['db'], mode: 'exclusive' }), ['granted'])
  const waiter = await joinCoord(server, ws, await who('waiter', 'editor'))
  const waiterKey = claim(waiter, 'w', { resources: ['db'], mode: 'exclusive' })
  await waitFor(() => holder.doc.getArray<{ type: string; data?: { key?: string } }>('activity').toArray().some((entry) => entry.type === 'queue' && entry.data?.key === waiterKey), 5000, 'the waiter was never queued')
  assert.equal(queueOf(holder.doc, 'db'), [], 'the queue was written before the kill: the test proves nothing')
  await server.kill()
  cleanupClients()
  await server.restart()
  const watcher = await Watcher.start(server, ws)
  await waitFor(() => queueOf(watcher.doc, 'db').includes(waiterKey), 5000, `the waiter is not in the queue after the restart: locks.db = ${JSON.stringify(locksOf(watcher.doc).get('db'))}`)
})

test.run()
