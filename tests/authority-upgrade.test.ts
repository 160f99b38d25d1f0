// A database written by the release before the lock queue moved under its own keys (layout 1:
// each lock's waiters inside `locks[resource].queue`) opens with its holders, queues and fencing
// counter. tests/fixtures/v1-lock-layout was written by that release (see its README.md): 111
// grants and releases by alice (a checkpoint of the layout-1 state, then entries replayed after it),
// then alice holding db, bob waiting for db+cache, carol for cache behind bob, dave holding cfg
// shared and erin waiting for it exclusively; the server was then killed with SIGKILL.
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ClaimValue } from '../shared/coordination.js'
import { cleanupClients, waitFor } from './helpers/clients.js'
import { claimsOf, holdersOf, locksOf, outcomesOf, queueOf, release, waitOutcome } from './helpers/coordination-maps.js'
import { joinCoord, ledger, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { makeTempDir, ROOT, startHuddle, type TestServer } from './helpers/server.js'

const FIXTURE = join(ROOT, 'tests', 'fixtures', 'v1-lock-layout')
const SESSIONS = {
  alice: 'alice-session-0000001',
  bob: 'bob-session-00000001',
  carol: 'carol-session-0000001',
  dave: 'dave-session-00000001',
  erin: 'erin-session-00000001',
}
const KEYS = {
  held: `${SESSIONS.alice}:held`,
  both: `${SESSIONS.bob}:both`,
  cache: `${SESSIONS.carol}:cache`,
  cfg: `${SESSIONS.dave}:cfg`,
  cfgX: `${SESSIONS.erin}:cfg-x`,
  tried: `${SESSIONS.erin}:try`,
}
let server: TestServer | undefined

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

/** What the fixture's clients wrote, so the watcher can judge the upgraded document. */
function recordFixture(): void {
  const exclusive = (resources: string[], extra: Partial<ClaimValue> = {}): ClaimValue => ({ resources, mode: 'exclusive', ...extra })
  for (let i = 0; i < 110; i++) ledger.claims.set(`${SESSIONS.alice}:warm-${i}`, exclusive(['db']))
  ledger.claims.set(KEYS.held, exclusive(['db']))
  ledger.claims.set(KEYS.both, exclusive(['db', 'cache']))
  ledger.claims.set(KEYS.cache, exclusive(['cache']))
  ledger.claims.set(KEYS.cfg, { resources: ['cfg'], mode: 'shared' })
  ledger.claims.set(KEYS.cfgX, exclusive(['cfg']))
  ledger.claims.set(KEYS.tried, exclusive(['db'], { waitMs: 0 }))
  for (let i = 0; i < 110; i++) ledger.released.add(`${SESSIONS.alice}:warm-${i}`)
  for (const [actor, session] of Object.entries(SESSIONS)) ledger.sessions.set(session, actor)
}

test('a layout-1 database keeps its holders, queues and fencing counter, and runs on', async () => {
  const dir = makeTempDir('huddle-v1-')
  cpSync(FIXTURE, dir, { recursive: true, filter: (path) => !path.endsWith('README.md') })
  recordFixture()
  server = await startHuddle(['--lease-grace', '60s'], dir)
  const watcher = await Watcher.start(server, 'legacy')
  const doc = watcher.doc
  assert.equal(holdersOf(doc, 'db'), [KEYS.held])
  assert.equal(holdersOf(doc, 'cfg'), [KEYS.cfg])
  assert.equal(locksOf(doc).get('db')!.holders[0]!.token, 111)
  assert.equal(locksOf(doc).get('cfg')!.holders[0]!.token, 112)
  assert.is(locksOf(doc).has('cache'), false, 'a lock without holders has no locks entry')
  for (const [resource, lock] of locksOf(doc).entries()) assert.equal(Object.keys(lock), ['holders'], `locks.${resource} holds holders only`)
  assert.equal(queueOf(doc, 'db'), [KEYS.both])
  assert.equal(queueOf(doc, 'cache'), [KEYS.both, KEYS.cache])
  assert.equal(queueOf(doc, 'cfg'), [KEYS.cfgX])
  assert.is(doc.getMap('meta').get('fence'), 112)
  assert.is(doc.getMap('meta').get('seq'), 3)
  const aliceOutcomes = [...outcomesOf(doc).keys()].filter((key) => key.startsWith(`${SESSIONS.alice}:`) && !claimsOf(doc).has(key))
  assert.ok(aliceOutcomes.length <= 64, `outcomes of claims already gone are bounded (alice has ${aliceOutcomes.length})`)

  // alice comes back in her session and releases: bob gets db and cache with the next token.
  const alice = await joinCoord(server, 'legacy', await who('alice', 'editor', 'agent'), { session: SESSIONS.alice })
  const bob = await joinCoord(server, 'legacy', await who('bob', 'editor', 'agent'), { session: SESSIONS.bob })
  release(alice, KEYS.held)
  const granted = await waitOutcome(bob, KEYS.both, ['granted'])
  assert.is(granted.token, 113)
  // The waiter is answered first (hooks.ts answerFirst): the watcher may see the grant later.
  await waitOutcome(watcher.peer, KEYS.both, ['granted'])
  assert.equal(holdersOf(doc, 'cache'), [KEYS.both])
  await waitFor(() => queueOf(doc, 'cache').length === 1, 5000, 'carol still waits for cache')
  assert.equal(queueOf(doc, 'cache'), [KEYS.cache])
  assert.is(outcomesOf(doc).get(KEYS.held), undefined, 'the released claim took its outcome with it')
  watcher.assertClean()
})

test.run()
