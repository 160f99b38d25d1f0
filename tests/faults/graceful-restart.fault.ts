// Graceful restart (issue 7): 200 stock y-websocket clients are connected when the server gets
// SIGTERM. It must exit 0 after closing every socket with 1001; the clients keep editing offline,
// then reconnect and resync by themselves to the server restarted on the same port. Every write made
// before, during and after the restart ends up in every client and on the server; lock holders keep
// their locks (same fencing token) across the restart.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, delay, mintToken, type Peer, waitFor } from '../helpers/clients.js'
import { claim, holdersOf, outcomesOf, release, waitOutcome } from '../helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who } from '../helpers/coordination-peers.js'
import { TestServer } from '../helpers/server.js'
import { PendingWatch } from './helpers/fencing.js'
import { assertNone, Recorder } from './helpers/report.js'
import { readDoc } from './helpers/writers.js'

const DOCS = 20
const PER_DOC = 9
const LOCKERS = 20
const WS = 'restart'

let server: TestServer | undefined

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

const recorder = new Recorder('graceful-restart', 'Graceful restart (SIGTERM) with 200 clients', [
  `${DOCS * PER_DOC + LOCKERS} stock y-websocket clients connected (${DOCS} documents × ${PER_DOC} writers, ${LOCKERS} lock holders); SIGTERM: the server exits 0 and every client saw a 1001 close.`,
  'The clients keep writing while the server is down, then reconnect and resync by themselves to the server restarted on the same port (no help from the test).',
  'Every write made before, during and after the restart is in every client of its document and on the server (updates lost = 0); every lock holder still holds its lock with the same fencing token.',
  'No client ever receives an update it cannot apply in full (Yjs pending structures) while resyncing.',
])

test(`SIGTERM with ${DOCS * PER_DOC + LOCKERS} clients: all reconnect and resync by themselves, nothing lost`, async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'clients closed with 1001',
      'clients that reconnected by themselves',
      'writes checked in every client and on the server',
      'updates lost',
      'locks kept with the same token',
      'updates a client could not apply on arrival',
    )
    server = await TestServer.start({ args: ['--rate', '100000', '--burst', '100000', '--lease-grace', '30s'], env: { HUDDLE_LOG: 'quiet' } })
    const problems: string[] = []
    const token = await mintToken('restarter', 'editor', WS)
    const writers: Array<{ peer: Peer; room: string; label: string; written: string[] }> = []
    for (let d = 0; d < DOCS; d++) {
      const peers = await Promise.all(Array.from({ length: PER_DOC }, () => connectPeer(server!, `${WS}/doc-${d}`, { token, timeoutMs: 15_000 })))
      peers.forEach((peer, i) => writers.push({ peer, room: `${WS}/doc-${d}`, label: `d${d}w${i}`, written: [] }))
    }
    const lockers: Array<{ peer: CoordPeer; key: string; token: number }> = []
    for (let i = 0; i < LOCKERS; i++) {
      const peer = await joinCoord(server, WS, await who(`holder-${i}`, 'editor'), { timeoutMs: 15_000 })
      const key = claim(peer, 'held', { resources: [`res-${i}`], mode: 'exclusive' })
      lockers.push({ peer, key, token: (await waitOutcome(peer, key, ['granted'])).token! })
    }
    const all: Peer[] = [...writers.map((writer) => writer.peer), ...lockers.map((locker) => locker.peer)]
    const pending = all.map((peer, i) => new PendingWatch(peer.doc, `client ${i}`))
    r.load = `${all.length} y-websocket clients (${DOCS} documents × ${PER_DOC} writers, ${LOCKERS} lock holders on the coordination document)`
    const write = (phase: string, count: number) => {
      for (const writer of writers) {
        for (let i = 0; i < count; i++) {
          const key = `${writer.label}-${phase}-${i}`
          writer.peer.doc.getMap('keys').set(key, phase)
          writer.written.push(key)
        }
      }
    }
    write('before', 3)
    // Everyone has everyone's writes before the restart.
    await waitFor(
      () => writers.every((writer) => writer.peer.doc.getMap('keys').size === PER_DOC * 3),
      20_000,
      'the writes before the restart did not reach everyone',
    )

    const exit = await server.stop(30_000)
    r.set('server exit code on SIGTERM', String(exit.code))
    if (exit.code !== 0) problems.push(`the server exited with ${exit.code} (signal ${exit.signal}) on SIGTERM:\n${server.stderr.slice(-1000)}`)
    await waitFor(() => all.every((peer) => !peer.provider.wsconnected), 10_000, 'some clients did not notice the shutdown')
    const told = all.filter((peer) => peer.closes.some((close) => close.code === 1001 && close.reason.length > 0)).length
    r.set('clients closed with 1001', told)
    if (told !== all.length)
      problems.push(
        `${all.length - told} clients did not get a 1001 close with a reason: e.g. ${JSON.stringify(all.find((peer) => !peer.closes.some((close) => close.code === 1001))?.closes)}`,
      )
    write('offline', 2)
    await delay(300)
    await server.restart({ samePort: true })
    const restartedAt = Date.now()
    await waitFor(
      () => all.every((peer) => peer.provider.synced),
      60_000,
      () => `${all.filter((peer) => !peer.provider.synced).length} clients did not resync by themselves`,
    )
    r.set('time for all clients to resync', `${((Date.now() - restartedAt) / 1000).toFixed(1)} s`)
    r.set('clients that reconnected by themselves', all.filter((peer) => peer.provider.synced).length)
    write('after', 2)

    // Every write everywhere.
    const expected = new Map<string, string[]>()
    for (const writer of writers) expected.set(writer.room, [...(expected.get(writer.room) ?? []), ...writer.written])
    await waitFor(
      () => writers.every((writer) => writer.peer.doc.getMap('keys').size === expected.get(writer.room)!.length),
      30_000,
      () => 'the clients did not converge after the restart',
    ).catch((error: Error) => problems.push(error.message))
    let lost = 0
    let checked = 0
    for (const writer of writers) {
      const keys = writer.peer.doc.getMap('keys')
      const missing = expected.get(writer.room)!.filter((key) => !keys.has(key))
      lost += missing.length
      checked += expected.get(writer.room)!.length
      if (missing.length) problems.push(`${writer.label} lacks ${missing.length} writes: ${missing.slice(0, 5).join(', ')}`)
    }
    for (const [room, keys] of expected) {
      const fresh = await readDoc(server, room, token)
      const missing = keys.filter((key) => !fresh.getMap('keys').has(key))
      fresh.destroy()
      lost += missing.length
      if (missing.length) problems.push(`the server lacks ${missing.length} writes of ${room}: ${missing.slice(0, 5).join(', ')}`)
    }
    // Locks kept across the restart, same token.
    let kept = 0
    for (const [i, locker] of lockers.entries()) {
      const outcome = outcomesOf(locker.peer.doc).get(locker.key)
      if (holdersOf(locker.peer.doc, `res-${i}`).join() === locker.key && outcome?.token === locker.token) kept++
      else problems.push(`holder-${i} lost res-${i} over the restart: ${JSON.stringify(outcome)}`)
      release(locker.peer, locker.key)
    }
    r.set('writes (before / offline / after)', `${writers.length * 3} / ${writers.length * 2} / ${writers.length * 2}`)
    r.set('writes checked in every client and on the server', checked)
    r.set('updates lost', lost)
    r.set('locks kept with the same token', `${kept} of ${lockers.length}`)
    const partial = pending.filter((watch) => watch.count > 0)
    r.set(
      'updates a client could not apply on arrival',
      pending.reduce((sum, watch) => sum + watch.count, 0),
    )
    if (partial.length) problems.push(`${partial.length} clients received updates they could not apply in full, e.g. ${partial[0]!.first}`)
    r.faults = 'SIGTERM (graceful shutdown), 300 ms down, restart on the same port'
    assert.ok(server.running)
    assertNone(problems, 'graceful restart')
  })
})

test.run()
