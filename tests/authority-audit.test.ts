// The audit log (docs/design.md §6): a hash chain that verifies after a mixed workload and breaks at a
// tampered entry; replaying its input events from empty reproduces the locks and approvals state,
// before and after a crash (state rebuilt from checkpoint + replay); sessions and activity.
import { Level } from 'level'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { replay } from '../server/authority/rules/index.js'
import type { CoordEvent, CoordState } from '../server/authority/rules/index.js'
import { cleanupClients, dropPeerSocket, waitFor } from './helpers/clients.js'
import { api, type AuditEntry, fetchAudit, getState } from './helpers/coordination-api.js'
import { canonical, waitConverged } from './helpers/coordination-compare.js'
import { cancelApproval, claim, locksOf, queueOf, release, requestApproval, vote, waitOutcome, waitStatus } from './helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who, type Who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { startHuddle, type TestServer } from './helpers/server.js'

const GRACE_MS = 1500
const servers: TestServer[] = []

test.after.each(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose()
})

async function start(): Promise<TestServer> {
  const server = await startHuddle(['--lease-grace', `${GRACE_MS}ms`])
  servers.push(server)
  return server
}

/**
 * Replays the logged inputs from empty and compares with GET state. Retries only when the log
 * moved while state was read (a timer fired in between); any other difference fails at once.
 */
async function assertReplayMatches(server: TestServer, ws: string, token: string): Promise<{ entries: AuditEntry[]; replayed: CoordState }> {
  for (let attempt = 0; ; attempt++) {
    const entries = await fetchAudit(server, ws, token, 250)
    const state = await getState(server, ws, token)
    const after = await fetchAudit(server, ws, token)
    if (after.length !== entries.length && attempt < 20) continue
    const inputs = entries.flatMap((entry) => (entry.data?.input ? [entry.data.input as CoordEvent] : []))
    const replayed = replay(inputs)
    const problems: string[] = []
    if (canonical(state.locks) !== canonical(replayed.locks)) problems.push(`locks:\n doc    ${canonical(state.locks)}\n replay ${canonical(replayed.locks)}`)
    if (canonical(state.outcomes) !== canonical(replayed.outcomes))
      problems.push(`outcomes:\n doc    ${canonical(state.outcomes)}\n replay ${canonical(replayed.outcomes)}`)
    if (state.meta.fence !== replayed.fence) problems.push(`fence: doc ${state.meta.fence}, replay ${replayed.fence}`)
    const docApprovals = Object.entries(state.approvals).filter(([, fields]) => fields.request !== undefined)
    if (canonical(docApprovals.map(([key]) => key).sort()) !== canonical(Object.keys(replayed.approvals).sort()))
      problems.push(`approval keys: doc ${docApprovals.map(([key]) => key)}, replay ${Object.keys(replayed.approvals)}`)
    for (const [key, fields] of docApprovals) {
      const entry = replayed.approvals[key]
      if (!entry) continue
      if (canonical(fields.status) !== canonical(entry.status))
        problems.push(`approval ${key} status: doc ${canonical(fields.status)}, replay ${canonical(entry.status)}`)
      const votes = Object.fromEntries(
        Object.entries(fields)
          .filter(([name]) => name.startsWith('vote:'))
          .map(([name, value]) => [name.slice(5), value]),
      )
      const replayedVotes = Object.fromEntries(
        Object.entries(entry.votes).map(([actor, v]) => [actor, { decision: v.decision, at: v.at, ...(v.reason !== undefined ? { reason: v.reason } : {}) }]),
      )
      if (canonical(votes) !== canonical(replayedVotes)) problems.push(`approval ${key} votes: doc ${canonical(votes)}, replay ${canonical(replayedVotes)}`)
    }
    assert.equal(problems, [], problems.join('\n'))
    return { entries, replayed }
  }
}

async function contend(workers: CoordPeer[], rounds: number, resource: string): Promise<void> {
  await Promise.all(
    workers.map(async (worker) => {
      for (let i = 0; i < rounds; i++) {
        const key = claim(worker, `${resource}-${i}`, { resources: [resource], mode: i % 3 === 0 ? 'shared' : 'exclusive' })
        await waitOutcome(worker, key, ['granted'], 10_000)
        release(worker, key)
      }
    }),
  )
}

test('a mixed workload verifies, replays to the same state, and does so again after a crash (checkpoint + replay)', async () => {
  const server = await start()
  const ws = 'audit-mix'
  const watcher = await Watcher.start(server, ws)
  const workers: CoordPeer[] = []
  for (let i = 0; i < 3; i++) workers.push(await joinCoord(server, ws, await who(`mix-w${i}`, 'editor')))
  const agent = await joinCoord(server, ws, await who('mix-bot', 'editor', 'agent'))
  const ann = await joinCoord(server, ws, await who('mix-ann', 'approver'))
  const ben = await joinCoord(server, ws, await who('mix-ben', 'approver'))
  const admin: Who = await who('mix-admin', 'admin')

  // Locks: contention (more than 200 accepted events, so a checkpoint is written), shared holds,
  // a timeout, a try-lock, an expiry, a revoke, a multi-resource claim.
  await contend(workers, 48, 'db')
  const [w0, w1, w2] = workers as [CoordPeer, CoordPeer, CoordPeer]
  const held = claim(w0, 'held', { resources: ['x', 'y'], mode: 'exclusive' })
  await waitOutcome(w0, held, ['granted'])
  const timedOut = claim(w1, 'wait', { resources: ['x'], mode: 'exclusive', waitMs: 100 })
  await waitOutcome(w1, timedOut, ['timeout'])
  await waitOutcome(w2, claim(w2, 'try', { resources: ['y'], mode: 'shared', waitMs: 0 }), ['timeout'])
  await waitOutcome(w1, claim(w1, 'ttl', { resources: ['t'], mode: 'exclusive', ttlMs: 100 }), ['expired'])
  const revokedKey = claim(w2, 'rev', { resources: ['r'], mode: 'exclusive' })
  await waitOutcome(w2, revokedKey, ['granted'])
  const waiting = claim(w1, 'after-rev', { resources: ['r'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'r').length === 1, 5000, 'queued behind the revoked claim')
  assert.is((await api(server, 'DELETE', `/api/workspaces/${ws}/locks/r`, admin.token)).status, 200)
  await waitOutcome(w2, revokedKey, ['revoked'])
  await waitOutcome(w1, waiting, ['granted'])
  // Approvals: approved, rejected, cancelled, expired, still pending.
  const approved = requestApproval(agent, 'ok', { title: 'a', action: 'a', quorum: 2 })
  // Each voter waits for the request itself: the agent having it says nothing of their sockets.
  await waitStatus(ann, approved, 'pending')
  vote(ann, approved, 'approve')
  await waitFor(
    () => watcher.doc.getMap('approvals').get(approved) && (watcher.doc.getMap('approvals').get(approved) as { get(k: string): unknown }).get('vote:mix-ann'),
    5000,
    'first vote',
  )
  await waitStatus(ben, approved, 'pending')
  vote(ben, approved, 'approve', 'fine')
  await waitStatus(agent, approved, 'approved')
  const rejected = requestApproval(agent, 'no', { title: 'b', action: 'b' })
  await waitStatus(ann, rejected, 'pending')
  vote(ann, rejected, 'reject', 'nope')
  await waitStatus(agent, rejected, 'rejected')
  const cancelled = requestApproval(agent, 'cancel', { title: 'c', action: 'c' })
  await waitStatus(agent, cancelled, 'pending')
  cancelApproval(agent, cancelled)
  await waitStatus(agent, cancelled, 'cancelled')
  const expiring = requestApproval(agent, 'exp', { title: 'd', action: 'd', expiresAt: Date.now() + 100 })
  await waitStatus(agent, expiring, 'expired')
  const pending = requestApproval(agent, 'pending', { title: 'e', action: 'e' })
  await waitStatus(agent, pending, 'pending')
  // Refused writes (a forged lock, an agent's vote) are logged and replay harmlessly.
  locksOf(w0.doc).set('x', { holders: [], queue: [] })
  vote(agent, pending, 'approve')
  // Refused once each writer's document is back to the watcher's (the audit entries are written).
  await waitConverged(w0, watcher.peer)
  await waitConverged(agent, watcher.peer)
  // A session that ends while holding a lock (released by the server).
  const leaver = await joinCoord(server, ws, await who('mix-leaver', 'editor'))
  const leaverKey = claim(leaver, 'l', { resources: ['l'], mode: 'exclusive' })
  await waitOutcome(leaver, leaverKey, ['granted'])
  dropPeerSocket(leaver)
  await waitFor(() => !watcher.doc.getMap('sessions').has(leaver.session), GRACE_MS + 5000, 'the leaver session never ended')

  const verify = await api<{ ok: boolean; entries: number }>(server, 'GET', `/api/workspaces/${ws}/audit/verify`, admin.token)
  assert.is(verify.status, 200)
  const { entries } = await assertReplayMatches(server, ws, admin.token)
  assert.equal(verify.body, { ok: true, entries: entries.length })
  const types = new Set(entries.map((entry) => entry.type))
  for (const type of [
    'join',
    'leave',
    'claim',
    'queue',
    'grant',
    'release',
    'timeout',
    'expire',
    'revoke',
    'session-end',
    'request',
    'vote',
    'decision',
    'refused',
  ]) {
    assert.ok(types.has(type), `no ${type} entry in the audit log`)
  }
  // Hash chain fields: consecutive seqs, each linking to the previous hash.
  entries.forEach((entry, i) => {
    assert.is(entry.seq, i + 1)
    if (i > 0) assert.is(entry.prev, entries[i - 1]!.hash)
  })
  // activity: the last 300 entries, trimmed a hundred at a time (so 300-400), without the chain
  // fields, the replay input and the data fields that repeat the entry's own type, actor, session
  // and time; newest last.
  const activity = watcher.doc.getArray<Record<string, unknown>>('activity').toArray()
  assert.ok(entries.length > 400, `only ${entries.length} entries`)
  assert.ok(activity.length >= 300 && activity.length <= 400, `${activity.length} activity entries`)
  const expected = entries.slice(-activity.length).map(({ hash: _hash, prev: _prev, workspace: _ws, ...rest }: AuditEntry & { workspace?: string }) => {
    if (!rest.data) return rest
    const own: Record<string, unknown> = { type: rest.type, actor: rest.actor, session: rest.session, at: rest.at }
    const data = Object.fromEntries(Object.entries(rest.data).filter(([field, value]) => field !== 'input' && !(field in own && own[field] === value)))
    return { ...rest, data }
  })
  assert.is(canonical(activity), canonical(expected))
  watcher.assertClean()

  // kill -9, with a checkpoint somewhere in the middle of the log.
  const fenceBefore = (await getState(server, ws, admin.token)).meta.fence!
  cleanupClients()
  await server.kill()
  const checkpoint = await readCheckpoint(server.dataDir, ws)
  assert.ok(
    checkpoint.seq > 0 && checkpoint.seq < entries.length,
    `checkpoint at ${checkpoint.seq} of ${entries.length} entries: replay from it would be trivial`,
  )
  await server.restart()
  await assertReplayMatches(server, ws, admin.token)
  // The rebuilt authority state drives new events: a grant takes fence + 1, and the crashed
  // sessions end after their grace period, releasing what they held.
  const again = await joinCoord(server, ws, await who('mix-again', 'editor'))
  const after = await waitOutcome(again, claim(again, 'post', { resources: ['fresh'], mode: 'exclusive' }), ['granted'])
  assert.is(after.token, fenceBefore + 1)
  const blocked = claim(again, 'x-after', { resources: ['x'], mode: 'exclusive' })
  const grantedAfterGrace = await waitOutcome(again, blocked, ['granted'], GRACE_MS + 8000)
  assert.ok(grantedAfterGrace.token! > after.token!)
  // Each crashed session ends on its own grace timer: the one holding x may end first.
  let sessions: string[] = []
  await waitFor(
    async () => (sessions = Object.keys((await getState(server, ws, admin.token)).sessions)).length === 1,
    GRACE_MS + 8000,
    () => `only the new session is left: ${sessions}`,
  )
  await assertReplayMatches(server, ws, admin.token)
  const verifyAfter = await api<{ ok: boolean }>(server, 'GET', `/api/workspaces/${ws}/audit/verify`, admin.token)
  assert.is(verifyAfter.body.ok, true)
})

test('verify reports an audit entry tampered with in LevelDB while the server was stopped', async () => {
  const server = await start()
  const ws = 'audit-tamper'
  const peer = await joinCoord(server, ws, await who('tamper-w', 'editor'))
  for (let i = 0; i < 5; i++) {
    const key = claim(peer, `c${i}`, { resources: ['db'], mode: 'exclusive' })
    await waitOutcome(peer, key, ['granted'])
    release(peer, key)
  }
  const admin = await who('tamper-admin', 'admin')
  const clean = await api<{ ok: boolean; entries: number }>(server, 'GET', `/api/workspaces/${ws}/audit/verify`, admin.token)
  assert.is(clean.body.ok, true)
  const total = clean.body.entries
  assert.ok(total >= 10)
  cleanupClients()
  assert.is((await server.stop()).code, 0)

  const target = 4
  const key = `audit!${ws}!${target.toString(16).padStart(16, '0')}`
  const db = new Level<string, string>(server.dataDir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  const entry = JSON.parse((await db.get(key)) as string) as AuditEntry
  assert.is(entry.seq, target)
  entry.actor = 'mallory' // the hash stays as it was
  await db.put(key, JSON.stringify(entry))
  await db.close()

  await server.restart()
  const verify = await api<{ ok: boolean; entries: number; brokenAt?: number; problem?: string }>(
    server,
    'GET',
    `/api/workspaces/${ws}/audit/verify`,
    admin.token,
  )
  assert.is(verify.status, 200)
  assert.is(verify.body.ok, false)
  assert.is(verify.body.brokenAt, target)
  assert.is(verify.body.entries, target - 1)
  assert.match(verify.body.problem ?? '', /altered/)
})

test('sessions lists online sessions and, during their grace period, disconnected ones with online: false', async () => {
  const server = await start()
  const ws = 'audit-sessions'
  const stay = await joinCoord(server, ws, await who('stayer', 'editor'))
  const go = await joinCoord(server, ws, await who('goer', 'editor', 'agent'))
  const viewer = await who('sess-viewer', 'viewer')
  const read = async () =>
    (await api<{ sessions: Record<string, { actor: string; online: boolean; kind: string }> }>(server, 'GET', `/api/workspaces/${ws}/sessions`, viewer.token))
      .body.sessions
  const both = await read()
  assert.equal(both[stay.session], { ...both[stay.session]!, actor: 'stayer', online: true })
  assert.equal(both[go.session], { ...both[go.session]!, actor: 'goer', online: true, kind: 'agent' })
  dropPeerSocket(go)
  const graced = await waitFor(
    async () => {
      const sessions = await read()
      return sessions[go.session]?.online === false ? sessions : null
    },
    5000,
    'the disconnected session was not shown offline',
  )
  assert.is(graced[stay.session]!.online, true)
  await waitFor(async () => !(go.session in (await read())), GRACE_MS + 5000, 'the disconnected session was still listed after its grace period')
  assert.is((await read())[stay.session]!.online, true)
  // No token, no sessions.
  assert.is((await api(server, 'GET', `/api/workspaces/${ws}/sessions`)).status, 401)
})

async function readCheckpoint(dataDir: string, ws: string): Promise<{ seq: number }> {
  const db = new Level<string, string>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  try {
    const text = await db.get(`authority!${ws}`)
    if (text === undefined) throw new Error('no checkpoint stored')
    return JSON.parse(text) as { seq: number }
  } finally {
    await db.close()
  }
}

test.run()
