// The soak (issue 7): 300 clients for HUDDLE_SOAK_MINUTES (default 3) of continuous writes, lock
// claims and releases, and document open/close churn. Once they have all left, the server must
// give everything back: no connection, no loaded document, its file descriptors where they were and
// its heap (after a full GC, --expose-gc) within a small margin of the baseline taken after a
// warm-up. Every write made during the soak is on the server, and no client was ever refused.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, delay, mintToken, type Peer, prng, waitFor } from '../helpers/clients.js'
import { claim, outcomesOf, release } from '../helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who } from '../helpers/coordination-peers.js'
import { type Health, TestServer } from '../helpers/server.js'
import { int } from './helpers/frames.js'
import { fdCount, heapAfterGc, MB, metric, waitIdle } from './helpers/probe.js'
import { assertNone, Recorder } from './helpers/report.js'
import { KeyWriter, readDoc } from './helpers/writers.js'

const MINUTES = Number(process.env.HUDDLE_SOAK_MINUTES ?? 3)
const CONTENT_DOCS = 40
const WRITERS_PER_DOC = 5
const WORKSPACES = 6
const LOCKERS_PER_WORKSPACE = 10
const CHURNERS = 40
const CHURN_DOCS = 200
const HEAP_MARGIN = 8 * MB
const FD_MARGIN = 5
const SEED = 0x50a4

let server: TestServer | undefined
// 300 y-websocket providers each add a process 'exit' listener.
process.setMaxListeners(1000)

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

const CLIENTS = CONTENT_DOCS * WRITERS_PER_DOC + WORKSPACES * LOCKERS_PER_WORKSPACE + CHURNERS

const recorder = new Recorder('soak', `Soak (${MINUTES} min, ${CLIENTS} clients)`, [
  `${CLIENTS} clients for ${MINUTES} minutes: ${CONTENT_DOCS * WRITERS_PER_DOC} y-websocket writers on ${CONTENT_DOCS} documents (a write every 0.5–2 s each), ${WORKSPACES * LOCKERS_PER_WORKSPACE} lock clients in ${WORKSPACES} workspaces (claim, hold, release), ${CHURNERS} clients opening, writing to and closing documents out of ${CHURN_DOCS} (so documents load and unload all the time). Longer: HUDDLE_SOAK_MINUTES=<n>.`,
  `After everyone leaves: 0 connections and 0 loaded documents in /healthz, file descriptors within ${FD_MARGIN} of the baseline, heap after a full GC within ${HEAP_MARGIN / MB} MiB of the baseline (both taken after a warm-up, with nobody connected).`,
  'Every write made during the soak is on the server; no client was closed or refused (refusals in /metrics stay 0).',
])

test(`soak: ${CLIENTS} clients for ${MINUTES} min, then memory, fds, documents and connections back to baseline`, async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'clients',
      'writes (all on the server)',
      'updates lost',
      'lock grants',
      'document opens by churners',
      'heap after GC (baseline → after)',
      'fds (baseline → peak → after)',
      'connections / documents after',
      'clients closed or refused',
    )
    server = await TestServer.start({
      exposeGc: true,
      args: ['--rate', '100000', '--burst', '100000', '--unload-after', '200ms', '--lease-grace', '1s'],
      env: { HUDDLE_LOG: 'quiet' },
    })
    const s = server
    const pid = s.child.pid!
    const problems: string[] = []
    const token = await mintToken('soaker', 'editor', '*')
    r.load = `${CLIENTS} clients for ${MINUTES} min: continuous writes, lock claims/releases, document open/close churn`

    // Warm-up: every code path once, then everyone leaves.
    const warm = await Promise.all(Array.from({ length: 20 }, (_, i) => KeyWriter.open(s, `warm/doc-${i}`, token)))
    for (const writer of warm) writer.write('warm')
    await Promise.all(warm.map((writer) => writer.waitAck('warm')))
    const warmLocker = await joinCoord(s, 'soak-0', await who('warm-locker', 'editor'))
    const warmKey = claim(warmLocker, 'w', { resources: ['warm'], mode: 'exclusive' })
    await waitFor(() => outcomesOf(warmLocker.doc).get(warmKey), 5000, 'warm-up claim')
    release(warmLocker, warmKey)
    await delay(200)
    for (const writer of warm) writer.destroy()
    cleanupClients()
    await waitIdle(s, 30_000)
    const baseHeap = await heapAfterGc(s)
    const baseFds = fdCount(pid)
    const baseRefusals = await metric(s, 'huddle_refusals_total')

    // The soak.
    const deadline = Date.now() + MINUTES * 60_000
    const running = () => Date.now() < deadline
    const writers: Array<{ peer: Peer; room: string; written: string[] }> = []
    for (let d = 0; d < CONTENT_DOCS; d++) {
      for (let w = 0; w < WRITERS_PER_DOC; w++)
        writers.push({ peer: await connectPeer(s, `soak/doc-${d}`, { token, timeoutMs: 15_000 }), room: `soak/doc-${d}`, written: [] })
    }
    const lockers: CoordPeer[] = []
    for (let ws = 0; ws < WORKSPACES; ws++) {
      for (let l = 0; l < LOCKERS_PER_WORKSPACE; l++)
        lockers.push(await joinCoord(s, `soak-${ws}`, await who(`soak-locker-${ws}-${l}`, 'editor'), { timeoutMs: 15_000 }))
    }
    const peers: Peer[] = [...writers.map((writer) => writer.peer), ...lockers]
    let grants = 0
    let churnOpens = 0
    const churnWritten = new Map<string, string[]>()
    let samples = 0
    let peakConnections = 0
    let peakDocuments = 0
    let peakHeap = 0
    let peakFds = 0

    const writeLoop = async (writer: (typeof writers)[number], seed: number) => {
      const random = prng(seed)
      let n = 0
      while (running()) {
        await delay(500 + int(random, 1500))
        const key = `${seed}-${n++}`
        writer.peer.doc.getMap('keys').set(key, Date.now())
        writer.written.push(key)
      }
    }
    const lockLoop = async (peer: CoordPeer, seed: number) => {
      const random = prng(seed)
      let n = 0
      while (running()) {
        const key = claim(peer, `c${n++}`, { resources: [`res-${int(random, 4)}`], mode: random() < 0.7 ? 'exclusive' : 'shared', waitMs: 5000 })
        const outcome = await waitFor(() => outcomesOf(peer.doc).get(key), 30_000, `soak claim ${key}`).catch(() => null)
        if (!outcome) {
          problems.push(`claim ${key} of ${peer.who.actor} got no outcome within 30 s`)
          return
        }
        if (outcome.state === 'granted') {
          grants++
          await delay(50 + int(random, 250))
        }
        release(peer, key)
        await delay(200 + int(random, 800))
      }
    }
    const churnLoop = async (seed: number) => {
      const random = prng(seed)
      let n = 0
      while (running()) {
        const room = `soak/churn-${int(random, CHURN_DOCS)}`
        const writer = await KeyWriter.open(s, room, token)
        churnOpens++
        const key = `churn-${seed}-${n++}`
        writer.write(key)
        if (await writer.waitAck(key, 10_000)) churnWritten.set(room, [...(churnWritten.get(room) ?? []), key])
        else problems.push(`churn write ${key} to ${room} was not acknowledged (${JSON.stringify(writer.closeInfo)})`)
        writer.close()
        await writer.client.closed
        writer.destroy()
        await delay(100 + int(random, 400))
      }
    }
    const sampler = (async () => {
      while (running()) {
        await delay(5000)
        const health = await s.fetchJson<Health>('/healthz').catch(() => null)
        if (!health) continue
        samples++
        peakConnections = Math.max(peakConnections, health.connections)
        peakDocuments = Math.max(peakDocuments, health.documents)
        peakHeap = Math.max(peakHeap, health.memory.heapUsed)
        peakFds = Math.max(peakFds, fdCount(pid))
      }
    })()
    await Promise.all([
      ...writers.map((writer, i) => writeLoop(writer, SEED + i)),
      ...lockers.map((peer, i) => lockLoop(peer, SEED + 1000 + i)),
      ...Array.from({ length: CHURNERS }, (_, i) => churnLoop(SEED + 2000 + i)),
      sampler,
    ])
    await delay(500)

    // Every write is on the server.
    let written = 0
    let lost = 0
    const byRoom = new Map<string, string[]>(churnWritten)
    for (const writer of writers) byRoom.set(writer.room, [...(byRoom.get(writer.room) ?? []), ...writer.written])
    for (const [room, keys] of byRoom) {
      written += keys.length
      const missing = await waitFor(
        async () => {
          const fresh = await readDoc(s, room, token)
          const absent = keys.filter((key) => !fresh.getMap('keys').has(key))
          fresh.destroy()
          return absent.length === 0 ? absent : null
        },
        10_000,
        '',
      ).catch(() => keys)
      lost += missing.length
      if (missing.length) problems.push(`${room}: ${missing.length} of ${keys.length} writes missing`)
    }
    const closedPeers = peers.filter((peer) => peer.closes.length > 0)
    if (closedPeers.length) problems.push(`${closedPeers.length} clients were closed during the soak, e.g. ${JSON.stringify(closedPeers[0]!.closes)}`)
    const refusals = (await metric(s, 'huddle_refusals_total')) - baseRefusals

    // Everyone leaves; the server gives everything back.
    cleanupClients()
    const idle = await waitIdle(s, 60_000).catch((error: Error) => {
      problems.push(error.message)
      return null
    })
    const fds = await waitFor(
      () => {
        const count = fdCount(pid)
        return count <= baseFds + FD_MARGIN ? count : null
      },
      15_000,
      '',
    ).catch(() => fdCount(pid))
    const heap = await heapAfterGc(s)
    if (fds > baseFds + FD_MARGIN) problems.push(`the server holds ${fds} file descriptors after the soak, ${baseFds} before`)
    if (heap - baseHeap > HEAP_MARGIN)
      problems.push(
        `the heap after GC is ${(heap / MB).toFixed(1)} MiB after the soak, ${(baseHeap / MB).toFixed(1)} MiB before (margin ${HEAP_MARGIN / MB} MiB)`,
      )
    if (refusals !== 0) problems.push(`${refusals} refusals during the soak`)

    r.set('minutes', MINUTES)
    r.set('clients', CLIENTS)
    r.set('writes (all on the server)', written)
    r.set('updates lost', lost)
    r.set('lock grants', grants)
    r.set('document opens by churners', churnOpens)
    r.set('peak connections / loaded documents', `${peakConnections} / ${peakDocuments}`)
    r.set('peak heap during the soak', `${(peakHeap / MB).toFixed(1)} MiB`)
    r.set('heap after GC (baseline → after)', `${(baseHeap / MB).toFixed(1)} → ${(heap / MB).toFixed(1)} MiB`)
    r.set('fds (baseline → peak → after)', `${baseFds} → ${peakFds} → ${fds}`)
    r.set('connections / documents after', idle ? `${idle.connections} / ${idle.documents}` : 'not idle')
    r.set('clients closed or refused', closedPeers.length + refusals)
    r.set('health samples', samples)
    r.faults = 'none beyond the churn: continuous load, then everyone leaves'
    assert.ok(s.running)
    assertNone(problems, 'soak')
  })
})

test.run()
