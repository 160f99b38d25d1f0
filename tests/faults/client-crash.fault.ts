// Client kill -9 (issue 7): lock holders, queued lock requesters and approval requesters are real
// client processes killed with SIGKILL. Their locks are released only after the grace period
// (never before, and never while the holder is connected), queued claims of dead sessions are
// withdrawn after theirs, the live waiters are then served strictly in arrival order with rising
// fencing tokens, and approvals of dead requesters stay pending, can still be decided, and are seen
// decided by a later session of the same actor.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, delay, newSession, waitFor } from '../helpers/clients.js'
import { fetchAudit, getState } from '../helpers/coordination-api.js'
import { approvalsOf, claim, holdersOf, locksOf, queueOf, release, statusOf, vote, waitOutcome, waitStatus } from '../helpers/coordination-maps.js'
import { clientReady, type CoordPeer, joinCoord, ledger, runCoordClient, who } from '../helpers/coordination-peers.js'
import { Watcher } from '../helpers/watcher.js'
import { type ChildScript, startHuddle, type TestServer } from '../helpers/server.js'
import { checkFencingHistory, GrantObserver } from './helpers/fencing.js'
import { assertNone, Recorder } from './helpers/report.js'

const GRACE_MS = 2000
/** setTimeout may fire a millisecond before Date.now() says the delay has passed */
const SLACK_MS = 2
const RESOURCES = 4
const REQUESTERS = 3

let server: TestServer

/** Started inside the first test: uvu reports nothing (and exits 0) when a before hook throws. */
async function up(): Promise<void> {
  if (server?.running) return
  server = await startHuddle(['--lease-grace', `${GRACE_MS}ms`])
}

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

const recorder = new Recorder('client-crash', 'Client kill -9', [
  `Lock holders and queued lock requesters are separate client processes killed with SIGKILL (grace period ${GRACE_MS} ms): each dead holder keeps its lock until at least the grace period after the server saw it go (checked on the grant time of the next holder and by a watcher), and loses it within 5 s after that.`,
  'A dead queued requester is withdrawn from the queue only after its own grace period, and never jumps the queue meanwhile.',
  "The live waiters behind them are then granted strictly in arrival order, each with a fencing token above the dead holder's.",
  `A holder that stays connected keeps its lock for ${(3 * GRACE_MS) / 1000} s (past the grace period) with a waiter queued; the waiter gets it only once it releases.`,
  "Approvals of SIGKILLed requesters stay pending after their sessions end, are decided by an approver's vote, and a new session of the requester's actor sees the decision.",
  'A watcher checks every state it sees (no two exclusive holders, tokens strictly rising, no forged state).',
])

test('killed holders and requesters: release after the grace period, waiters in order, approvals survive', async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'holders killed',
      'queued requesters killed',
      'approval requesters killed',
      'shortest hold after a holder died (ms)',
      'locks released after the grace period',
      'waiters served in order',
      'approvals that survived their requester',
      'watcher violations',
    )
    await up()
    r.load = `${RESOURCES} resources, each with a holder process, a queued requester process and 2 live waiters; 1 live holder with a waiter; ${REQUESTERS} approval requester processes; 1 approver; 1 watcher`
    const ws = 'crash-clients'
    const watcher = await Watcher.start(server, ws)
    const grants = new GrantObserver(watcher.doc, 'watcher')
    const problems: string[] = []
    const sessions = watcher.doc.getMap<{ online: boolean; lastSeenAt: number }>('sessions')
    const children: ChildScript[] = []
    type Spawned = { child: ChildScript; session: string; key: string }
    const spawnClaim = async (actor: string, id: string, resource: string): Promise<Spawned> => {
      const identity = await who(actor, 'editor')
      const session = newSession()
      const value = { resources: [resource], mode: 'exclusive' as const }
      const key = `${session}:${id}`
      ledger.claims.set(key, value)
      const child = runCoordClient(server, ws, identity, session, { CLAIM_ID: id, CLAIM: JSON.stringify(value) })
      children.push(child)
      await clientReady(child, session, actor)
      return { child, session, key }
    }

    // Per resource: a holder process (granted), a requester process (queued), two live waiters.
    const lanes: Array<{
      resource: string
      holder: Spawned
      held: { token: number }
      queued: Spawned
      w1: CoordPeer
      w1Key: string
      w2: CoordPeer
      w2Key: string
    }> = []
    for (let i = 0; i < RESOURCES; i++) {
      const resource = `res-${i}`
      const holder = await spawnClaim(`holder-${i}`, 'h', resource)
      const held = JSON.parse((await holder.child.line(/^outcome (\{.*"granted".*\})$/))[1]!) as { token: number }
      const queued = await spawnClaim(`queued-${i}`, 'q', resource)
      await waitFor(() => queueOf(watcher.doc, resource).includes(queued.key), 5000, `the requester process was not queued on ${resource}`)
      const w1 = await joinCoord(server, ws, await who(`waiter-a-${i}`, 'editor'))
      const w1Key = claim(w1, 'w', { resources: [resource], mode: 'exclusive' })
      await waitFor(() => queueOf(watcher.doc, resource).includes(w1Key), 5000, 'waiter a was not queued')
      const w2 = await joinCoord(server, ws, await who(`waiter-b-${i}`, 'editor'))
      const w2Key = claim(w2, 'w', { resources: [resource], mode: 'exclusive' })
      await waitFor(() => queueOf(watcher.doc, resource).includes(w2Key), 5000, 'waiter b was not queued')
      lanes.push({ resource, holder, held, queued, w1, w1Key, w2, w2Key })
    }

    // A holder that stays connected, with a waiter.
    const live = await joinCoord(server, ws, await who('live-holder', 'editor'))
    const liveKey = claim(live, 'l', { resources: ['live'], mode: 'exclusive' })
    const liveGrant = await waitOutcome(live, liveKey, ['granted'])
    const patient = await joinCoord(server, ws, await who('patient', 'editor'))
    const patientKey = claim(patient, 'p', { resources: ['live'], mode: 'exclusive' })

    // Approval requesters that will die with their requests pending.
    const approver = await joinCoord(server, ws, await who('approver-1', 'approver'))
    const requesters: Array<{ child: ChildScript; session: string; key: string; actor: string }> = []
    for (let i = 0; i < REQUESTERS; i++) {
      const actor = `requester-${i}`
      const identity = await who(actor, 'editor')
      const session = newSession()
      const request = { title: `deploy ${i}`, action: 'deploy', requester: actor, approvers: ['approver'], quorum: 1 }
      const key = `${session}:a${i}`
      ledger.requests.set(key, request)
      const child = runCoordClient(server, ws, identity, session, { REQUEST_ID: `a${i}`, REQUEST: JSON.stringify(request) })
      children.push(child)
      await clientReady(child, session, actor)
      await child.line(/^status .*"pending"/)
      requesters.push({ child, session, key, actor })
    }

    // Seen as it happens: when each session went offline, when each dead requester left its queue.
    const offlineAt = new Map<string, number>()
    const withdrawn = new Map<string, number>()
    const track = () => {
      for (const [session, entry] of sessions.entries()) if (!entry.online && !offlineAt.has(session)) offlineAt.set(session, entry.lastSeenAt)
      for (const lane of lanes) {
        if (!withdrawn.has(lane.queued.key) && !queueOf(watcher.doc, lane.resource).includes(lane.queued.key)) withdrawn.set(lane.queued.key, Date.now())
      }
    }
    watcher.doc.on('afterTransaction', track)

    // The kills: requester processes first, holders half a grace period later.
    await Promise.all([...lanes.map((lane) => lane.queued.child.kill9()), ...requesters.map((req) => req.child.kill9())])
    r.add('queued requesters killed', lanes.length)
    r.add('approval requesters killed', requesters.length)
    await delay(GRACE_MS / 2)
    await Promise.all(lanes.map((lane) => lane.holder.child.kill9()))
    r.add('holders killed', lanes.length)

    const offline = async (session: string) => waitFor(() => offlineAt.get(session), 5000, `session ${session} never went offline`)
    for (const lane of lanes) {
      const queuedGone = await offline(lane.queued.session)
      const holderGone = await offline(lane.holder.session)
      // The dead requester leaves the queue only after its grace period.
      const withdrawnAt = await waitFor(() => withdrawn.get(lane.queued.key), GRACE_MS + 5000, `the dead requester never left the queue of ${lane.resource}`)
      if (withdrawnAt - queuedGone < GRACE_MS - SLACK_MS)
        problems.push(`${lane.resource}: the dead requester left the queue ${withdrawnAt - queuedGone} ms after it went offline (grace ${GRACE_MS} ms)`)
      // The dead holder's lock goes only after its grace period; then waiter a, then waiter b.
      const first = await waitOutcome(lane.w1, lane.w1Key, ['granted'], GRACE_MS + 8000)
      const waited = first.at - holderGone
      r.set('shortest hold after a holder died (ms)', Math.min(recorder.get('shortest hold after a holder died (ms)') || Infinity, waited))
      r.set('longest hold after a holder died (ms)', Math.max(recorder.get('longest hold after a holder died (ms)'), waited))
      if (waited < GRACE_MS - SLACK_MS)
        problems.push(`${lane.resource}: waiter a was granted ${waited} ms after the holder went offline (grace ${GRACE_MS} ms)`)
      if (waited > GRACE_MS + 5000) problems.push(`${lane.resource}: waiter a was granted only ${waited} ms after the holder went offline`)
      else r.add('locks released after the grace period')
      if (!(first.token! > lane.held.token)) problems.push(`${lane.resource}: waiter a got token ${first.token}, the dead holder had ${lane.held.token}`)
      // The watcher is another client: the grant reaches it in its own time.
      await waitFor(() => holdersOf(watcher.doc, lane.resource).includes(lane.w1Key), 10_000, `the watcher never saw ${lane.resource} granted to waiter a`)
      if (queueOf(watcher.doc, lane.resource)[0] !== lane.w2Key)
        problems.push(`${lane.resource}: waiter b is not next: ${JSON.stringify(queueOf(watcher.doc, lane.resource))}`)
      release(lane.w1, lane.w1Key)
      const second = await waitOutcome(lane.w2, lane.w2Key, ['granted'])
      if (!(second.token! > first.token!)) problems.push(`${lane.resource}: waiter b got token ${second.token} after waiter a's ${first.token}`)
      else r.add('waiters served in order')
      const arrival = watcher.arrival.get(lane.resource) ?? []
      if (arrival.join() !== [lane.holder.key, lane.queued.key, lane.w1Key, lane.w2Key].join())
        problems.push(`${lane.resource}: arrival order ${JSON.stringify(arrival)}`)
      release(lane.w2, lane.w2Key)
    }

    // The live holder kept its lock past the grace period, the waiter behind it untouched.
    await delay(Math.max(0, liveGrant.at + 3 * GRACE_MS - Date.now()))
    if (holdersOf(watcher.doc, 'live').join() !== liveKey)
      problems.push(`the connected holder lost its lock: holders ${JSON.stringify(holdersOf(watcher.doc, 'live'))}`)
    if (queueOf(watcher.doc, 'live').join() !== patientKey)
      problems.push(`the waiter behind a connected holder: ${JSON.stringify(locksOf(watcher.doc).get('live'))}`)
    const releasedAt = Date.now()
    release(live, liveKey)
    const patientGrant = await waitOutcome(patient, patientKey, ['granted'])
    if (patientGrant.at < releasedAt) problems.push('the waiter was granted before the connected holder released')
    else r.add('connected holders kept their lock past the grace period')

    // Approvals outlive their requesters' sessions.
    await waitFor(() => requesters.every((req) => !sessions.has(req.session)), GRACE_MS + 5000, "the dead requesters' sessions never ended")
    const admin = await who('crash-admin', 'admin')
    const state = await getState(server, ws, admin.token)
    for (const req of requesters) {
      const status = (state.approvals[req.key] as { status?: { state: string } } | undefined)?.status?.state
      if (status !== 'pending') problems.push(`approval ${req.key} of a dead requester is ${status} after its session ended`)
    }
    // The approver votes on what it has seen itself: the requesters' processes saw their requests
    // pending, which says nothing of the approver's socket (a vote on a map it lacks throws).
    for (const req of requesters) await waitStatus(approver, req.key, 'pending')
    for (const req of requesters) vote(approver, req.key, 'approve')
    for (const req of requesters) {
      await waitStatus(watcher.peer, req.key, 'approved')
      // A new session of the same actor sees the decision.
      const back: CoordPeer = await joinCoord(server, ws, await who(req.actor, 'editor'))
      if (statusOf(back.doc, req.key)?.state !== 'approved' || !approvalsOf(back.doc).get(req.key))
        problems.push(`a new session of ${req.actor} does not see approval ${req.key} approved`)
      else r.add('approvals that survived their requester')
    }

    const audit = await fetchAudit(server, ws, admin.token)
    const audited = audit.filter((entry) => entry.type === 'grant').map((entry) => (entry.data as { token: number }).token)
    if (new Set(audited).size !== audited.length) problems.push(`a fencing token was issued twice: ${audited.join(',')}`)
    const fencing = checkFencingHistory([], [grants])
    r.set('grants audited (distinct tokens)', new Set(audited).size)
    r.set('states checked by the watcher', watcher.checks)
    const violations = [...watcher.violations, ...fencing.violations]
    r.set('watcher violations', violations.length)
    problems.push(...violations.slice(0, 10))
    r.faults = `SIGKILL of ${lanes.length} lock holders, ${lanes.length} queued lock requesters and ${requesters.length} approval requesters (separate processes)`
    assert.ok(children.length > 0)
    assertNone(problems, 'client kill -9')
  })
})

test.run()
