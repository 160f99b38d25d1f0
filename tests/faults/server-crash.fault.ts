// Server kill -9 under mixed load (issue 7). Stock y-websocket clients write content documents,
// claim and release locks and request, vote on and cancel approvals, without pause; the server is
// SIGKILLed at random moments (HUDDLE_CRASH_KILLS, at least 20) and restarted on a new port, so no
// old client can reach it before the checks are done. After each restart a fresh client must find:
//   - every update any client had observed (the union of their state vectors, less their own writes,
//     and every key they had received) in every document, the coordination document included;
//   - meta.fence at least the largest fencing token any client had seen (so none is issued twice);
//   - every approval that any client had seen in a final state still in exactly that state.
// Then the clients are pointed at the new port and resync by themselves. At the end, every write any
// client ever made is on the server, and the fencing history (every grant each client saw, with its
// token and times, plus observers of the lock table) shows no token issued twice, tokens rising with
// real time, and no two clients ever holding conflicting locks at once.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { cleanupClients, connectPeer, delay, mintToken, newSession, type Peer, prng, waitFor, withTimeout } from '../helpers/clients.js'
import { api, fetchAudit } from '../helpers/coordination-api.js'
import { canonical } from '../helpers/coordination-compare.js'
import { approvalsOf } from '../helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, ledger, who } from '../helpers/coordination-peers.js'
import { Watcher } from '../helpers/watcher.js'
import { TestServer } from '../helpers/server.js'
import { checkFencingHistory, GrantObserver, PendingWatch } from './helpers/fencing.js'
import { int } from './helpers/frames.js'
import { FINAL, type Lane, MixedLoad } from './helpers/mixed-load.js'
import { assertNone, Recorder } from './helpers/report.js'
import { mergeStateVector, missingFrom, readDoc, stateVector } from './helpers/writers.js'

const SEED = Number(process.env.HUDDLE_CRASH_SEED ?? 0xc4a54)
/** at least 20 per run; a smaller HUDDLE_CRASH_KILLS is for development only */
const KILLS = Number(process.env.HUDDLE_CRASH_KILLS ?? 22)
const WS = 'crash'
const ROOMS = 4
const WRITERS_PER_ROOM = 4
const LOCKERS = 10
const REQUESTERS = 3
const APPROVERS = 3
const RESOURCES = ['r0', 'r1', 'r2', 'r3', 'r4']
/** a wait for the server that is longer than this is a liveness failure */
const STUCK_MS = 60_000

let server: TestServer

/** Started inside the first test: uvu reports nothing (and exits 0) when a before hook throws. */
async function up(): Promise<void> {
  if (server?.running) return
  server = await TestServer.start({ args: ['--rate', '100000', '--burst', '100000', '--lease-grace', '30s'], env: { HUDDLE_LOG: 'quiet' } })
}

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

const recorder = new Recorder('server-crash', 'Server kill -9 under mixed load', [
  `At least 20 SIGKILLs (here ${KILLS}) at random moments (0.3–1.5 s apart) of a server under continuous load: content writes, lock claims/holds/releases (exclusive and shared, 1–2 resources, some with waitMs) and approvals (requests with quorum 1 or 2, votes, cancels, expiries).`,
  'After each restart, before any old client can reconnect: every update any client had observed is in every document (state vectors and keys), meta.fence is at least every token any client had seen, and every approval seen in a final state still has exactly that state.',
  'The clients then resync by themselves; at the end every write any client ever made is on the server (updates lost = 0).',
  'Fencing history: every grant seen by its holder (token, claim time, grant-seen time, release time) plus three observers of the lock table — no token issued to two claims, tokens rise with real time, no two clients ever held conflicting locks at once, and the lower token always ended first.',
  'The audit log has each grant token once, in increasing order, and its hash chain verifies; a watcher on the coordination document saw no invalid state.',
])

test(`${KILLS} kill -9 under mixed load: nothing observed is lost, no token twice, no conflicting holders`, async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'crashes survived',
      'content writes',
      'updates lost',
      'observed keys checked (summed over restarts)',
      'lock claims',
      'distinct fencing tokens',
      'tokens issued twice / conflicting holders',
      'approvals decided',
      'final approval states checked (summed over restarts)',
      'watcher violations',
      'updates a client could not apply on arrival',
    )
    await up()
    r.seed = SEED
    const rng = prng(SEED)
    const problems: string[] = []
    const writerToken = await mintToken('crash-writer', 'editor', WS)
    const verifier = await who('crash-verifier', 'viewer', 'human', WS)
    const admin = await who('crash-admin', 'admin', 'human', WS)

    // --- the clients -------------------------------------------------------------------------
    const watcher = await Watcher.start(server, WS)
    const observers = [new GrantObserver(watcher.doc, 'watcher')]
    const lanes: Lane[] = []
    for (let room = 0; room < ROOMS; room++) {
      for (let w = 0; w < WRITERS_PER_ROOM; w++) {
        const peer = await connectPeer(server, `${WS}/doc-${room}`, { token: writerToken })
        lanes.push({ peer, label: `w${room}.${w}`, room: `${WS}/doc-${room}`, written: [] })
      }
    }
    const lockers: CoordPeer[] = []
    for (let i = 0; i < LOCKERS; i++) lockers.push(await joinCoord(server, WS, await who(`locker-${i}`, 'editor')))
    observers.push(new GrantObserver(lockers[0]!.doc, 'locker-0'), new GrantObserver(lockers[1]!.doc, 'locker-1'))
    const requesters: CoordPeer[] = []
    for (let i = 0; i < REQUESTERS; i++) requesters.push(await joinCoord(server, WS, await who(`requester-${i}`, 'editor')))
    const approvers: CoordPeer[] = []
    for (let i = 0; i < APPROVERS; i++) approvers.push(await joinCoord(server, WS, await who(`approver-${i}`, 'approver')))
    const coordPeers: Peer[] = [watcher.peer, ...lockers, ...requesters, ...approvers]
    const allPeers: Peer[] = [...lanes.map((lane) => lane.peer), ...coordPeers]
    const pending = allPeers.map((peer, i) => new PendingWatch(peer.doc, `client ${i} (${peer.provider.roomname})`))
    r.load = `${allPeers.length} y-websocket clients: ${lanes.length} writers on ${ROOMS} documents, ${LOCKERS} lock clients on ${RESOURCES.length} resources, ${REQUESTERS} approval requesters, ${APPROVERS} approvers, 1 watcher`

    // --- the load ------------------------------------------------------------------------------
    const load = new MixedLoad({ resources: RESOURCES, approvers: APPROVERS, stuckMs: STUCK_MS, problems })
    const finalSeen = new Map<string, string>()

    const recordFinals = () => {
      for (const peer of coordPeers) {
        for (const [key, map] of approvalsOf(peer.doc).entries()) {
          if (!(map instanceof Y.Map)) continue
          const status = map.get('status') as { state: string } | undefined
          if (status && FINAL.includes(status.state)) {
            const text = canonical(status)
            const before = finalSeen.get(key)
            if (before !== undefined && before !== text) problems.push(`approval ${key}: final status ${before} became ${text}`)
            finalSeen.set(key, text)
          }
        }
      }
    }

    const loops = [
      ...lanes.map((lane, i) => load.write(lane, SEED + i)),
      ...lockers.map((peer, i) => load.lock(peer, SEED + 100 + i)),
      ...requesters.map((peer, i) => load.request(peer, SEED + 200 + i)),
    ]
    const voteLoops = approvers.map((peer, i) => load.vote(peer, i, SEED + 300 + i))

    // --- the kills -----------------------------------------------------------------------------
    const rooms = [WS, ...Array.from({ length: ROOMS }, (_, i) => `${WS}/doc-${i}`)]
    /** the watcher's check counter at each kill, to place its violations */
    const killChecks: number[] = []
    let observedUpdates = 0
    let checkedKeys = 0
    let checkedFinals = 0
    for (let kill = 0; kill < KILLS && problems.length < 20; kill++) {
      await delay(300 + int(rng, 1200))
      // What the clients have observed so far (all of it came from the server, so it is on disk).
      const observed = new Map<string, Map<number, number>>(rooms.map((room) => [room, new Map()]))
      const keys = new Map<string, Set<string>>(rooms.map((room) => [room, new Set()]))
      for (const lane of lanes) {
        mergeStateVector(observed.get(lane.room)!, stateVector(lane.peer.doc), lane.peer.doc.clientID)
        for (const key of lane.peer.doc.getMap('keys').keys()) if (!key.startsWith(`${lane.label}-`)) keys.get(lane.room)!.add(key)
      }
      for (const peer of coordPeers) mergeStateVector(observed.get(WS)!, stateVector(peer.doc), peer.doc.clientID)
      observedUpdates = [...observed.values()].reduce((sum, sv) => sum + [...sv.values()].reduce((a, b) => a + b, 0), 0)
      recordFinals()
      const finals = new Map(finalSeen)
      const maxToken = Math.max(
        0,
        ...load.held.map((grant) => grant.token),
        ...observers.flatMap((observer) => [...observer.grants.values()].map((grant) => grant.token)),
      )

      killChecks.push(watcher.checks)
      await server.kill()
      await server.restart()

      for (const room of rooms) {
        const session = newSession()
        ledger.sessions.set(session, verifier.actor)
        const fresh = await readDoc(server, room, room === WS ? verifier.token : writerToken, room === WS ? session : undefined)
        const missing = missingFrom(stateVector(fresh), observed.get(room)!)
        if (missing.length)
          problems.push(
            `kill ${kill + 1}, ${room}: observed updates missing after the restart (client, observed clock, present clock): ${JSON.stringify(missing.slice(0, 5))}`,
          )
        if (room !== WS) {
          const present = fresh.getMap('keys')
          const lost = [...keys.get(room)!].filter((key) => !present.has(key))
          checkedKeys += keys.get(room)!.size
          if (lost.length) problems.push(`kill ${kill + 1}, ${room}: ${lost.length} observed keys missing after the restart: ${lost.slice(0, 5).join(', ')}`)
        } else {
          const fence = fresh.getMap('meta').get('fence') as number | undefined
          if ((fence ?? 0) < maxToken) problems.push(`kill ${kill + 1}: meta.fence is ${fence} after the restart, but token ${maxToken} had been seen`)
          const approvals = fresh.getMap<Y.Map<unknown>>('approvals')
          for (const [key, text] of finals) {
            const status = approvals.get(key)?.get('status')
            checkedFinals++
            if (canonical(status) !== text) problems.push(`kill ${kill + 1}: approval ${key} was ${text}, is ${JSON.stringify(status)} after the restart`)
          }
        }
        fresh.destroy()
      }
      r.add('crashes survived')
      // The clients find the new server by themselves once they know where it is.
      for (const peer of allPeers) peer.provider.serverUrl = server.wsUrl
      await waitFor(
        () => allPeers.every((peer) => peer.provider.synced || peer.terminal),
        30_000,
        () => `${allPeers.filter((peer) => !peer.provider.synced).length} clients did not resync after kill ${kill + 1}`,
      )
      const refused = allPeers.filter((peer) => peer.terminal)
      if (refused.length)
        problems.push(`kill ${kill + 1}: ${refused.length} clients were refused on reconnect: ${JSON.stringify(refused.map((peer) => peer.terminal))}`)
    }

    // --- the end -------------------------------------------------------------------------------
    load.stop()
    await withTimeout(Promise.all(loops), STUCK_MS + 5000, 'the load loops did not stop').catch((error: Error) => problems.push(error.message))
    load.stopVoting()
    await Promise.all(voteLoops)
    recordFinals()
    // Every write any client made (not only what was observed) is on the server.
    let lost = 0
    let written = 0
    for (let room = 0; room < ROOMS; room++) {
      const name = `${WS}/doc-${room}`
      const mine = lanes.filter((lane) => lane.room === name).flatMap((lane) => lane.written)
      written += mine.length
      const missing = await waitFor(
        async () => {
          const fresh = await readDoc(server, name, writerToken)
          const present = fresh.getMap('keys')
          const absent = mine.filter((key) => !present.has(key))
          fresh.destroy()
          return absent.length === 0 ? [] : null
        },
        20_000,
        '',
      ).catch(async () => {
        const fresh = await readDoc(server, name, writerToken)
        const absent = mine.filter((key) => !fresh.getMap('keys').has(key))
        fresh.destroy()
        return absent
      })
      lost += missing.length
      if (missing.length) problems.push(`${name}: ${missing.length} of ${mine.length} writes never reached the server: ${missing.slice(0, 5).join(', ')}`)
    }
    const fencing = checkFencingHistory(load.held, observers)
    const audit = await fetchAudit(server, WS, admin.token)
    const auditTokens = audit.filter((entry) => entry.type === 'grant').map((entry) => (entry.data as { token: number }).token)
    for (let i = 1; i < auditTokens.length; i++)
      if (!(auditTokens[i]! > auditTokens[i - 1]!)) problems.push(`audit: grant token ${auditTokens[i]} after ${auditTokens[i - 1]} (seq order)`)
    const verify = (await api<{ ok: boolean; entries: number }>(server, 'GET', `/api/workspaces/${WS}/audit/verify`, admin.token)).body
    if (!verify.ok) problems.push(`audit chain: ${JSON.stringify(verify)}`)
    const watcherProblems = watcher.violations
    const partial = pending.filter((watch) => watch.count > 0)
    if (partial.length)
      problems.push(
        `${partial.length} clients received updates they could not apply in full (${partial.reduce((sum, watch) => sum + watch.count, 0)} times), e.g. ${partial[0]!.first}`,
      )
    problems.push(...fencing.violations.slice(0, 10), ...watcherProblems.slice(0, 10))
    if (watcherProblems.length) problems.push(`(the watcher's check counter at each kill: ${killChecks.join(', ')})`)

    r.set('content writes', written)
    r.set('updates lost', lost)
    r.set('observed keys checked (summed over restarts)', checkedKeys)
    r.set('observed Yjs items checked at the last restart', observedUpdates)
    r.set('final approval states checked (summed over restarts)', checkedFinals)
    r.set('lock claims', load.claims)
    r.set('grants seen by their holders', load.held.length)
    r.set('wait timeouts', load.timeouts)
    r.set('distinct fencing tokens', fencing.tokens)
    r.set('tokens issued twice / conflicting holders', fencing.violations.length)
    r.set('approval requests', load.requests)
    r.set('approvals decided', finalSeen.size)
    r.set('audit entries (chain verified)', verify.entries)
    r.set('watcher states checked', watcher.checks)
    r.set('watcher violations', watcherProblems.length)
    r.set(
      'updates a client could not apply on arrival',
      pending.reduce((sum, watch) => sum + watch.count, 0),
    )
    r.faults = `${recorder.get('crashes survived')} × SIGKILL at random moments, restart on a new port`
    assert.ok(recorder.get('crashes survived') >= Math.min(20, KILLS) || problems.length > 0, 'fewer than 20 crashes')
    assertNone(problems, 'server kill -9')
  })
})

test.run()
