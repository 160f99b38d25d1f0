// Slow consumers (issue 7): clients that stop reading their socket while a writer keeps the
// document busy. The server must not queue without bound for them: past --max-buffered it closes
// them with 1013 and a reason (and cuts them off if even that cannot get through), its memory stays
// bounded, and a healthy client on the same document keeps its latency (compared as a ratio with
// the same write load and no slow consumer, measured in the same run).
import type { Socket } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { cleanupClients, delay, mintToken, type RawClient, rawConnect, updateFrame, waitFor } from '../helpers/clients.js'
import { fetchAudit } from '../helpers/coordination-api.js'
import { type Health, TestServer } from '../helpers/server.js'
import { describeStats, LatencyProbe, MB, metric, round } from './helpers/probe.js'
import { assertNone, Recorder } from './helpers/report.js'

const MAX_BUFFERED = 1 * MB
const UPDATE_BYTES = 64 * 1024
const WRITE_EVERY_MS = 10
/** the healthy client's p50 latency may grow by this factor at most (generous: a shared 2-core machine) */
const LATENCY_RATIO_BOUND = 3

let server: TestServer

/** Started inside the first test: uvu reports nothing (and exits 0) when a before hook throws. */
async function up(): Promise<void> {
  if (server?.running) return
  // No compaction: merging 500 updates of 64 KB would hold ~32 MiB for a moment and drown the measurement.
  server = await TestServer.start({
    exposeGc: true,
    args: ['--max-buffered', String(MAX_BUFFERED), '--compact-after', '1000000', '--rate', '100000', '--burst', '100000'],
    env: { HUDDLE_LOG: 'quiet' },
  })
}

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

/** A writer replacing one 64 KB value over and over (the document stays small; the traffic does not). */
class BusyWriter {
  private readonly doc = new Y.Doc()
  private last: Uint8Array | null = null
  private timer: NodeJS.Timeout | null = null
  bytes = 0
  updates = 0

  constructor(private readonly client: RawClient) {
    this.doc.on('update', (update: Uint8Array) => {
      this.last = update
    })
  }

  start(): void {
    this.timer = setInterval(() => {
      const text = `${this.updates}:`.padEnd(UPDATE_BYTES, String.fromCharCode(97 + (this.updates % 26)))
      this.doc.getMap('blob').set('value', text)
      this.client.send(updateFrame(this.last!))
      this.bytes += this.last!.length
      this.updates++
    }, WRITE_EVERY_MS)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}

/** What the server holds in buffers (external + arrayBuffers) after a full GC: the lowest of three samples. */
async function bufferMemory(target: TestServer, samples = 1): Promise<number> {
  let lowest = Infinity
  for (let i = 0; i < samples; i++) {
    if (i > 0) await delay(300)
    const { memory } = await target.fetchJson<Health>('/healthz?gc=1')
    lowest = Math.min(lowest, memory.arrayBuffers + memory.external)
  }
  return lowest
}

/** A socket that is admitted, then stops reading: the kernel buffers fill, then the server's. */
async function stopReading(room: string, token: string): Promise<RawClient & { socket: Socket }> {
  const client = await rawConnect(server, room, { token })
  const socket = (client.ws as unknown as { _socket: Socket })._socket
  socket.pause()
  return Object.assign(client, { socket })
}

const recorder = new Recorder('slow-consumer', 'Slow consumers', [
  `Clients that stop reading while a writer broadcasts ${UPDATE_BYTES / 1024} KB updates every ${WRITE_EVERY_MS} ms are closed once their send buffer passes --max-buffered (${MAX_BUFFERED / MB} MiB here; 16 MiB by default): 1013 with a reason for one that reads again, a cut-off socket for one that never does.`,
  'Every such close is audited (`refused`, code 1013) and counted in /metrics.',
  "Once the slow consumers are cut off and the writer stops, the server's buffer memory (external + arrayBuffers after a full GC) is back within one send-buffer limit of what it was before the load: nothing queued for them is kept.",
  `A healthy client on the same document is never closed and its p50 round trip stays within ${LATENCY_RATIO_BOUND}x of its p50 under the same write load without slow consumers (same run).`,
])

test('clients that stop reading are closed with 1013; memory stays bounded; others keep their latency', async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'slow consumers closed with 1013 + reason',
      'slow consumers cut off (never read again)',
      'bytes broadcast while consumers were slow',
      'buffer memory after the load (vs before)',
      'healthy client p50 ratio (slow consumers / baseline)',
      '1013 closes audited',
    )
    await up()
    const room = 'slow/doc'
    const token = await mintToken('slow', 'editor', 'slow')
    const problems: string[] = []
    const probe = await LatencyProbe.open(server, room, token)
    const writerClient = await rawConnect(server, room, { token })
    await writerClient.roundTrip()
    const memoryBefore = await bufferMemory(server, 3)
    const writer = new BusyWriter(writerClient)
    writer.start()
    await delay(500)

    // Phase A: the write load alone.
    await probe.measure('baseline', 150, 10)
    const base = probe.stats('baseline')

    // Phase B1: one consumer stops reading, then reads again once the server gave up on it.
    probe.phase = 'slow consumers'
    probe.start(10)
    const before1013 = await metric(server, 'huddle_refusals_total', 'code="1013"')
    const bytesAtStart = writer.bytes
    const resumer = await stopReading(room, token)
    await waitFor(
      async () => (await metric(server, 'huddle_refusals_total', 'code="1013"')) > before1013,
      30_000,
      'the server never closed the consumer that stopped reading',
    )
    const sentToResumer = writer.bytes - bytesAtStart
    resumer.socket.resume()
    const resumedClose = await resumer.waitClose(10_000, 'the close of the slow consumer once it read again')
    if (resumedClose.code !== 1013 || !/not reading fast enough/.test(resumedClose.reason))
      problems.push(`the slow consumer that read again was closed with ${resumedClose.code} ${JSON.stringify(resumedClose.reason)}`)
    else r.add('slow consumers closed with 1013 + reason')

    // Phase B2: two that never read again; the server cuts them off and forgets them.
    const connectionsBefore = (await server.fetchJson<Health>('/healthz')).connections
    const deaf = [await stopReading(room, token), await stopReading(room, token)]
    const bytesAtDeaf = writer.bytes
    await waitFor(
      async () => (await metric(server, 'huddle_refusals_total', 'code="1013"')) >= before1013 + 3,
      30_000,
      'the server never closed the consumers that stopped reading',
    )
    await waitFor(async () => (await server.fetchJson<Health>('/healthz')).connections <= connectionsBefore, 10_000, 'the server kept the cut-off connections')
    r.set('slow consumers cut off (never read again)', deaf.length)
    // Keep writing a while after they are gone: nothing may pile up for them any more.
    const target = writer.bytes + 32 * MB
    await waitFor(() => writer.bytes >= target, 30_000, 'the writer did not get its bytes out')
    const sentAfterDeaf = writer.bytes - bytesAtDeaf
    await probe.stop()
    writer.stop()
    // the round trip is answered once everything the writer sent is written
    await writerClient.roundTrip(30_000)
    // Measured while the cut-off consumers still have not read a byte: the server must have let go of them.
    const memoryAfter = await bufferMemory(server, 3)
    for (const client of deaf) client.terminate()

    const slow = probe.stats('slow consumers')
    const ratio = slow.p50 / base.p50
    r.set('bytes broadcast while consumers were slow', `${((sentToResumer + sentAfterDeaf) / MB).toFixed(0)} MiB to each`)
    r.set('buffer memory after the load (vs before)', `${(memoryAfter / MB).toFixed(1)} MiB (${(memoryBefore / MB).toFixed(1)} MiB)`)
    r.set('healthy client p50 ratio (slow consumers / baseline)', round(ratio))
    r.set('healthy client latency, baseline', describeStats(base))
    r.set('healthy client latency, slow consumers', describeStats(slow))
    r.set('healthy client closes', probe.closed ? 1 : 0)
    r.load = `1 writer (${UPDATE_BYTES / 1024} KB every ${WRITE_EVERY_MS} ms) + 1 healthy client on one document`
    r.faults = `3 consumers that stop reading (1 reads again after the close, 2 never do), --max-buffered ${MAX_BUFFERED / MB} MiB`

    // Each cut-off consumer had more than the limit queued: keeping either one would exceed this.
    if (memoryAfter - memoryBefore > MAX_BUFFERED)
      problems.push(
        `the server's buffer memory stayed ${((memoryAfter - memoryBefore) / MB).toFixed(1)} MiB above what it was before the load (bound ${MAX_BUFFERED / MB} MiB): something queued for the cut-off consumers is still held`,
      )
    // Without the limit, a consumer that never reads would keep all of it (less ~10 MiB of kernel buffers).
    if (sentAfterDeaf < 32 * MB)
      problems.push(`the test sent only ${(sentAfterDeaf / MB).toFixed(1)} MiB after the consumers stopped reading: not enough to tell a bound from a leak`)
    if (probe.closed) problems.push(`the healthy client was closed: ${JSON.stringify(probe.client.closeInfo)}`)
    if (writerClient.closeInfo) problems.push(`the writer was closed: ${JSON.stringify(writerClient.closeInfo)}`)
    if (!(ratio <= LATENCY_RATIO_BOUND))
      problems.push(
        `the healthy client's p50 latency went from ${base.p50.toFixed(2)} ms to ${slow.p50.toFixed(2)} ms (x${ratio.toFixed(2)}, bound x${LATENCY_RATIO_BOUND})`,
      )
    if (probe.timeouts > 0) problems.push(`${probe.timeouts} of the healthy client's round trips timed out`)

    const audit = await fetchAudit(server, 'slow', await mintToken('slow-admin', 'admin', 'slow'))
    const audited = audit.filter((entry) => entry.type === 'refused' && entry.data?.code === 1013 && /not reading fast enough/.test(String(entry.data.reason)))
    r.set('1013 closes audited', audited.length)
    if (audited.length < 3) problems.push(`only ${audited.length} of 3 slow-consumer closes are in the audit log`)
    assert.ok(server.running)
    assertNone(problems, 'slow consumers')
  })
})

test('the default --max-buffered is 16 MiB: a client that stops reading is closed after that much, not before', async () => {
  await recorder.run(async (r) => {
    const other = await TestServer.start({ args: ['--rate', '100000', '--burst', '100000'], env: { HUDDLE_LOG: 'quiet' } })
    try {
      const room = 'slow/default'
      const token = await mintToken('slow', 'editor', 'slow')
      const writerClient = await rawConnect(other, room, { token })
      await writerClient.roundTrip()
      const writer = new BusyWriter(writerClient)
      const client = await rawConnect(other, room, { token })
      const socket = (client.ws as unknown as { _socket: Socket })._socket
      socket.pause()
      writer.start()
      await waitFor(
        async () => (await metric(other, 'huddle_refusals_total', 'code="1013"')) >= 1,
        60_000,
        () => `the server never closed the consumer that stopped reading (${(writer.bytes / MB).toFixed(0)} MiB sent)`,
      )
      writer.stop()
      const sent = writer.bytes
      socket.resume()
      const close = await client.waitClose(10_000, 'the close of the slow consumer')
      r.set('default limit: MiB sent before the close', round(sent / MB, 1), true)
      r.set('default limit: close', `${close.code} ${close.reason.slice(0, 40)}...`)
      assert.ok(sent >= 16 * MB, `closed after only ${(sent / MB).toFixed(1)} MiB: the default limit is below 16 MiB`)
      assert.is(close.code, 1013, `closed with ${close.code} ${close.reason}`)
    } finally {
      await other.dispose()
    }
  })
})

test.run()
