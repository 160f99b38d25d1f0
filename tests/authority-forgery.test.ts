// The authority undoes every forged write to a coordination document in the same transaction
// (docs/design.md §4): stock y-websocket clients write the maps directly, a watcher checks every state
// it receives, the forger's own document converges back, each refusal is audited, 20 refusals in a
// minute close the connection with 4403, and the server's Yjs client id never changes.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { forgeries } from './forgeries.js'
import { newSession, waitFor } from './helpers/clients.js'
import { fetchAudit, refusedWrites } from './helpers/coordination-api.js'
import { clientIds, coordJson, until, waitCaughtUp, waitConverged } from './helpers/coordination-compare.js'
import { approvalMap, claim, claimsOf, locksOf, outcomesOf, queueOf, requestApproval, vote, waitOutcome, waitStatus } from './helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, ledger, reconnect, who, type Who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { NO_RATE_LIMIT, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
withServer(test, (started) => void (server = started), { args: [...NO_RATE_LIMIT, '--lease-grace', '60s'] })

/** One live connection per forging identity, replaced before it reaches the forgery limit. */
class Forgers {
  private readonly peers = new Map<string, { peer: CoordPeer; refusals: number }>()

  constructor(
    private readonly workspace: string,
    private readonly identities: Map<string, Who | CoordPeer>,
  ) {}

  async get(name: string, refusals: number): Promise<CoordPeer> {
    const known = this.identities.get(name)
    if (!known) throw new Error(`no identity ${name}`)
    // Existing legitimate clients forge through their own connection.
    if ('provider' in known) return known
    let entry = this.peers.get(name)
    if (entry && entry.refusals + refusals >= 15) {
      await reconnect(entry.peer)
      entry.refusals = 0
    }
    if (!entry) {
      entry = { peer: await joinCoord(server, this.workspace, known), refusals: 0 }
      this.peers.set(name, entry)
    }
    entry.refusals += refusals
    return entry.peer
  }
}

test('every forged write is undone in the same transaction; no other client ever sees it', async () => {
  const ws = 'forge-all'
  const watcher = await Watcher.start(server, ws)
  const victim = await joinCoord(server, ws, await who('victim', 'editor'))
  const requester = await joinCoord(server, ws, await who('req-agent', 'editor', 'agent'))
  const approver1 = await joinCoord(server, ws, await who('appr1', 'approver'))
  const selfish = await joinCoord(server, ws, await who('selfish', 'approver'))
  await who('appr3', 'approver')

  // The legitimate state the forgers attack.
  const c1 = claim(victim, 'c1', { resources: ['db'], mode: 'exclusive' })
  await waitOutcome(victim, c1, ['granted'])
  const a1 = requestApproval(requester, 'a1', { title: 'deploy', action: 'deploy prod', quorum: 2 })
  await waitStatus(approver1, a1, 'pending')
  vote(approver1, a1, 'approve')
  await waitFor(() => (approvalMap(watcher.doc, a1).get('vote:appr1') as unknown) !== undefined, 5000, 'the first vote never arrived')
  const a2 = requestApproval(selfish, 'a2', { title: 'mine', action: 'self-serve' })
  await waitStatus(watcher.peer, a2, 'pending')
  for (const peer of [victim, requester, approver1, selfish]) await waitConverged(peer, watcher.peer)

  const identities = new Map<string, Who | CoordPeer>([
    ['mallory', await who('mallory', 'editor')],
    ['bot', await who('bot', 'admin', 'agent')],
    ['vic', await who('vic', 'viewer')],
    ['eddie', await who('eddie', 'editor')],
    ['appr2', await who('appr2', 'approver')],
    ['requester', requester],
    ['approver1', approver1],
    ['selfish', selfish],
  ])
  const forgers = new Forgers(ws, identities)
  const mallory = await forgers.get('mallory', 0)
  const cases = forgeries({ forger: mallory.session, victim: victim.session, claim: c1, approval: a1, selfApproval: a2 })

  const before = JSON.stringify(stable(watcher.doc))
  let auditSeen = (await fetchAudit(server, ws, (identities.get('mallory') as Who).token)).length
  const failures: string[] = []
  for (const forgery of cases) {
    const forger = await forgers.get(forgery.by, forgery.expect.length)
    // The forger writes on everything the watcher has: the previous forgery's undo left the JSON as
    // it was but added the server's restoring items, and a write without them is concurrent with
    // them and may be hidden by Yjs (never reaching the authority, never refused).
    await waitCaughtUp(forger, watcher.peer)
    const checksBefore = watcher.checks
    forgery.write(forger.doc)
    // The forger's document comes back to the server's state, which the watcher also has.
    await waitConverged(forger, watcher.peer).catch((error: Error) => failures.push(`${forgery.name}: ${error.message}`))
    // The JSON is as before, so converging says nothing of the watcher's socket: wait until it
    // holds the forger's correction too.
    await waitCaughtUp(watcher.peer, forger).catch((error: Error) => failures.push(`${forgery.name}: ${error.message}`))
    if (watcher.checks === checksBefore) failures.push(`${forgery.name}: the watcher received nothing`)
    const entries = await fetchAudit(server, ws, (identities.get('mallory') as Who).token)
    const fresh = refusedWrites(entries.slice(auditSeen), forger.session)
    auditSeen = entries.length
    const got = fresh.map((entry) => ({
      type: entry.data!.write!.type,
      key: entry.data!.write!.key,
      ...(entry.data!.write!.subKey ? { subKey: entry.data!.write!.subKey } : {}),
    }))
    if (JSON.stringify(got) !== JSON.stringify(forgery.expect))
      failures.push(`${forgery.name}: refused audit entries ${JSON.stringify(got)}, expected ${JSON.stringify(forgery.expect)}`)
    if (fresh.some((entry) => typeof entry.data?.reason !== 'string' || entry.data.reason.length === 0))
      failures.push(`${forgery.name}: a refusal without a reason`)
  }
  watcher.assertClean()
  assert.equal(failures, [], failures.join('\n'))
  // Nothing the forgers did is left: the coordination state is exactly what it was.
  assert.is(JSON.stringify(stable(watcher.doc)), before)
  for (const peer of [victim, requester, approver1, selfish]) {
    await waitConverged(peer, watcher.peer)
    assert.equal(peer.closes, [], `${peer.who.actor} was disconnected`)
  }
  assert.equal(approvalMap(watcher.doc, a1).get('status'), approvalMap(requester.doc, a1).get('status'))
})

test('a transaction mixing legitimate and forged writes keeps the first and undoes only the second', async () => {
  const ws = 'forge-mixed'
  const watcher = await Watcher.start(server, ws)
  const holder = await joinCoord(server, ws, await who('holder', 'editor'))
  const held = claim(holder, 'h', { resources: ['db'], mode: 'exclusive' })
  await waitOutcome(holder, held, ['granted'])
  const mixer = await joinCoord(server, ws, await who('mixer', 'editor'))
  const problems: string[] = []

  // (a) a claim that queues on db, plus a forged write to locks.db and a claim in another's name
  let queued = ''
  mixer.doc.transact(() => {
    queued = claim(mixer, 'queued', { resources: ['db'], mode: 'exclusive' })
    locksOf(mixer.doc).set('db', { holders: [], queue: [] })
    claimsOf(mixer.doc).set(`${holder.session}:steal`, { resources: ['db'], mode: 'exclusive' })
  })
  await waitConverged(mixer, watcher.peer)
  if (!claimsOf(watcher.doc).has(queued)) problems.push('(a) the legitimate claim was undone')
  if (claimsOf(watcher.doc).has(`${holder.session}:steal`)) problems.push("(a) the claim in another session's name stayed")
  await waitFor(() => queueOfDb(watcher.doc).includes(queued), 5000, '').catch(() =>
    problems.push(`(a) the legitimate claim is not in db's queue: queue = ${JSON.stringify(watcher.doc.getMap('queue').toJSON())}`),
  )

  // (b) a claim that is granted at once, plus forged writes to its own outcome and to meta.fence
  let granted = ''
  const fenceBefore = watcher.doc.getMap('meta').get('fence') as number
  mixer.doc.transact(() => {
    granted = claim(mixer, 'granted', { resources: ['free'], mode: 'exclusive' })
    outcomesOf(mixer.doc).set(`${mixer.session}:granted`, { state: 'granted', at: 1, token: 999 })
    mixer.doc.getMap('meta').set('fence', 999)
  })
  await waitConverged(mixer, watcher.peer)
  const holderOfFree = locksOf(watcher.doc).get('free')?.holders[0]
  if (holderOfFree?.claim !== granted) problems.push(`(b) the claim was not granted: locks.free = ${JSON.stringify(locksOf(watcher.doc).get('free'))}`)
  const outcome = outcomesOf(watcher.doc).get(granted)
  if (outcome?.state !== 'granted' || outcome.token !== holderOfFree?.token)
    problems.push(`(b) outcome ${JSON.stringify(outcome)} does not match the grant ${JSON.stringify(holderOfFree)}`)
  if (watcher.doc.getMap('meta').get('fence') !== fenceBefore + 1)
    problems.push(`(b) meta.fence is ${watcher.doc.getMap('meta').get('fence')}, the grant took token ${fenceBefore + 1}`)

  // (c) a deciding vote, plus a forged status in the same transaction
  const requester = await joinCoord(server, ws, await who('asker', 'editor', 'agent'))
  const key = requestApproval(requester, 'q', { title: 'ship', action: 'ship it' })
  const approver = await joinCoord(server, ws, await who('judge', 'approver'))
  await waitStatus(approver, key, 'pending')
  approver.doc.transact(() => {
    vote(approver, key, 'approve')
    approvalMap(approver.doc, key).set('status', { state: 'rejected', at: 1, by: ['judge'] })
  })
  await waitConverged(approver, watcher.peer)
  const status = approvalMap(watcher.doc, key).get('status') as { state: string } | undefined
  if (status?.state !== 'approved') problems.push(`(c) the approving vote is stored but the status is ${JSON.stringify(status)}`)

  assert.equal(problems, [], problems.join('\n'))
  watcher.assertClean()
})

function queueOfDb(doc: Y.Doc): string[] {
  return queueOf(doc, 'db')
}

test('forgeries carried by sync step 2 (written offline, sent on connect) are undone too', async () => {
  const ws = 'forge-sync2'
  const watcher = await Watcher.start(server, ws)
  const victim = await joinCoord(server, ws, await who('victim2', 'editor'))
  const c1 = claim(victim, 'c1', { resources: ['db'], mode: 'exclusive' })
  await waitOutcome(victim, c1, ['granted'])
  const offline = new Y.Doc()
  const session = newSession()
  offline.getMap('sessions').set(session, { actor: 'root', name: 'root', kind: 'human', role: 'admin', online: true, connectedAt: 0, lastSeenAt: 0 })
  offline.getMap('claims').set(`${victim.session}:c9`, { resources: ['db'], mode: 'exclusive' })
  offline.getMap('locks').set('other', { holders: [], queue: [] })
  offline.getText('graffiti').insert(0, 'was here')
  const identity = await who('offline', 'editor')
  const forger = await joinCoord(server, ws, identity, { doc: offline, session })
  await waitConverged(forger, watcher.peer)
  assert.not.ok(forger.doc.getMap('locks').has('other'))
  assert.not.ok(forger.doc.getMap('claims').has(`${victim.session}:c9`))
  assert.is(forger.doc.getText('graffiti').toString(), '')
  assert.is((forger.doc.getMap('sessions').get(session) as { actor: string }).actor, 'offline')
  const refused = refusedWrites(await fetchAudit(server, ws, identity.token), session)
  assert.equal(refused.map((entry) => entry.data!.write!.type).sort(), ['claims', 'graffiti', 'locks', 'sessions'])
  watcher.assertClean()
})

test('20 refused writes within a minute close the connection with 4403; 19 do not', async () => {
  const ws = 'forge-limit'
  const watcher = await Watcher.start(server, ws)
  const identity = await who('spammer', 'editor')
  const forger = await joinCoord(server, ws, identity)
  for (let i = 0; i < 19; i++) {
    forger.doc.getMap('meta').set('fence', 1000 + i)
    await waitConverged(forger, watcher.peer)
  }
  // Still connected and still served: a legitimate claim is granted.
  assert.equal(forger.closes, [])
  const own = claim(forger, 'legit', { resources: ['free-resource'], mode: 'shared' })
  await waitOutcome(forger, own, ['granted'])
  // The last assertion reads the watcher's fence, which its own copy of the grant sets.
  await waitOutcome(watcher.peer, own, ['granted'])
  forger.doc.getMap('meta').set('fence', 2000)
  await waitFor(() => forger.terminal, 5000, 'the 20th refused write did not close the connection')
  assert.is(forger.terminal!.code, 4403)
  assert.match(forger.terminal!.reason, /20 refused writes/)
  const entries = await fetchAudit(server, ws, identity.token)
  assert.is(refusedWrites(entries, forger.session).length, 20)
  await waitFor(
    async () =>
      (await fetchAudit(server, ws, identity.token)).some((entry) => entry.type === 'refused' && entry.session === forger.session && entry.data?.code === 4403),
    5000,
    'no audit entry for the 4403 close',
  )
  watcher.assertClean()
  assert.is(watcher.doc.getMap('meta').get('fence'), 1)
})

test("the server's Yjs client id stays the same across ~2000 undone writes", async () => {
  const ws = 'forge-ids'
  const watcher = await Watcher.start(server, ws)
  const victim = await joinCoord(server, ws, await who('victim3', 'editor'))
  const WRITERS = 4
  const PER_WRITER = 500
  // One victim claim per writer: two writers deleting the same item concurrently would make the
  // second delete a no-op (nothing to refuse).
  const victimClaims: string[] = []
  for (let w = 0; w < WRITERS; w++) {
    victimClaims.push(claim(victim, `c${w}`, { resources: [`db${w}`], mode: 'exclusive' }))
    await waitOutcome(victim, victimClaims[w]!, ['granted'])
  }
  const serverIds = (doc: Y.Doc) => [...clientIds(doc)].filter((id) => !ledger.clients.has(id))
  const idsBefore = clientIds(watcher.doc)
  const serverBefore = serverIds(watcher.doc)
  assert.ok(serverBefore.length >= 1, 'the server wrote nothing yet?')
  const writers: CoordPeer[] = []
  for (let w = 0; w < WRITERS; w++) writers.push(await joinCoord(server, ws, await who(`spray${w}`, 'editor')))
  const run = async (forger: CoordPeer, index: number) => {
    const target = victimClaims[index]!
    const mark = `f-${forger.session}`
    const doc = forger.doc
    for (let i = 0; i < PER_WRITER; i++) {
      // Stay below the forgery limit: a fresh connection (same doc, same session) every 19.
      if (i > 0 && i % 19 === 0) await reconnect(forger)
      const kind = i % 5
      let undone: () => boolean
      if (kind === 0) {
        locksOf(doc).set(mark, { holders: [], queue: [] })
        undone = () => !locksOf(doc).has(mark)
      } else if (kind === 1) {
        doc.getMap('meta').set(mark, i)
        undone = () => !doc.getMap('meta').has(mark)
      } else if (kind === 2) {
        doc.getMap('evil').set(mark, i)
        undone = () => !doc.getMap('evil').has(mark)
      } else if (kind === 3) {
        doc.getArray<{ mark?: string }>('activity').push([{ mark }])
        undone = () =>
          !doc
            .getArray<{ mark?: string }>('activity')
            .toArray()
            .some((entry) => entry?.mark === mark)
      } else {
        claimsOf(doc).delete(target)
        undone = () => claimsOf(doc).has(target)
      }
      await until(doc, undone, 10_000, () => `forgery ${i} (kind ${kind}) of ${forger.who.actor} was never undone`)
    }
  }
  await Promise.all(writers.map((writer, index) => run(writer, index)))
  // Everything reached the watcher (it holds each writer's last clock) and it was all undone.
  for (const forger of writers) {
    await waitConverged(forger, watcher.peer, 10_000)
    await waitCaughtUp(watcher.peer, forger, 10_000)
  }
  const idsAfter = clientIds(watcher.doc)
  const grown = [...idsAfter].filter((id) => !idsBefore.has(id))
  const writerIds = new Set(writers.map((w) => w.doc.clientID))
  assert.equal(
    grown.filter((id) => !writerIds.has(id)),
    [],
    `client ids other than the writers' appeared: ${grown.length} new ids`,
  )
  assert.equal(serverIds(watcher.doc), serverBefore)
  // And a fresh client sees the same: the server's own document agrees.
  const reader = await joinCoord(server, ws, await who('reader', 'viewer'))
  assert.ok(clientIds(reader.doc).size <= idsBefore.size + WRITERS, `the state vector has ${clientIds(reader.doc).size} ids, started with ${idsBefore.size}`)
  const entries = await fetchAudit(server, ws, victim.who.token)
  const tally: Record<string, number> = {}
  for (const entry of refusedWrites(entries)) tally[`${entry.data!.write!.type}`] = (tally[`${entry.data!.write!.type}`] ?? 0) + 1
  assert.is(refusedWrites(entries).length, WRITERS * PER_WRITER, JSON.stringify(tally))
  assert.ok(coordJson(watcher.doc).claims !== undefined)
  watcher.assertClean()
})

/** The coordination state without `activity` and `sessions` (which legitimately change). */
function stable(doc: Y.Doc): Record<string, unknown> {
  const { activity: _activity, sessions: _sessions, approvals, ...rest } = coordJson(doc)
  // An approval map whose request was refused stays behind empty, which is harmless.
  const kept = Object.entries(approvals as Record<string, object>).filter(([, fields]) => Object.keys(fields).length > 0)
  return { ...rest, approvals: Object.fromEntries(kept) }
}

test.run()
