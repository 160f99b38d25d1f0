// The protocol fuzzer (issue 7): at least 10,000 random, truncated and mutated frames, absurd
// varint lengths, malformed Yjs updates and lying awareness, sent by 8 workers over real
// connections (seeded: HUDDLE_FUZZ_SEED=<seed> replays a run, HUDDLE_FUZZ_FRAMES=<n> sets the count).
// Every frame known to be bad must close its connection with exactly its code and a reason; frames
// that may be valid must either be accepted or refused with a protocol code (4400/4413/4403), never
// 1011 or a dropped socket. Afterwards the server holds no fuzz connection, document, file
// descriptor or heap; and a healthy client on a fuzzed document never noticed: it was never closed,
// its edits kept syncing, and its round-trip latency during the fuzz stays within a bound of its
// baseline measured in the same run (a ratio, never an absolute time).
import * as decoding from 'lib0/decoding'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocket } from 'ws'
import { cleanupClients, connectPeer, mintToken, prng, syncStep1Frame, waitFor } from '../helpers/clients.js'
import { type Health, TestServer } from '../helpers/server.js'
import { type Frame, frameGenerator, int } from './helpers/frames.js'
import { describeStats, fdCount, heapAfterGc, LatencyProbe, MB, round } from './helpers/probe.js'
import { assertNone, Recorder } from './helpers/report.js'
import { readDoc } from './helpers/writers.js'

const SEED = Number(process.env.HUDDLE_FUZZ_SEED ?? 0xf4a17)
const FRAMES = Number(process.env.HUDDLE_FUZZ_FRAMES ?? 10_000)
const WORKERS = 8
const ROOMS = 12
const MAX_MESSAGE = 16_384
/** the healthy client's p50 round trip during the fuzz may be at most this multiple of its p50 under the same churn of valid traffic */
const LATENCY_RATIO_BOUND = 3
const CONTROL_FRAMES = 3000
const HEAP_MARGIN = 8 * MB

let server: TestServer

/** Started inside the first test: uvu reports nothing (and exits 0) when a before hook throws. */
async function up(): Promise<void> {
  if (server?.running) return
  server = await TestServer.start({
    exposeGc: true,
    args: ['--max-message', String(MAX_MESSAGE), '--rate', '1000000', '--burst', '1000000', '--unload-after', '300ms'],
    env: { HUDDLE_LOG: 'quiet' },
  })
}

test.after(async () => {
  cleanupClients()
  await server?.dispose()
})

const PROBE = syncStep1Frame(new Uint8Array([0]))

/** One fuzzing connection: sends a frame plus a sync step 1, and says how the server reacted. */
class FuzzConn {
  readonly ws: WebSocket
  closeInfo: { code: number; reason: string } | null = null
  private waiting: ((result: 'answered' | 'closed') => void) | null = null
  readonly opened: Promise<boolean>
  readonly clientId: number
  clock = 0
  /** sync step 2 messages received, and how many mean the frame in flight was answered */
  private answers = 0
  private target = 0

  constructor(
    readonly room: string,
    token: string,
    rng: () => number,
  ) {
    this.clientId = 1 + int(rng, 2 ** 30)
    this.ws = new WebSocket(`${server.wsUrl}/${room}?token=${token}`, { perMessageDeflate: false })
    this.ws.on('error', () => undefined)
    this.ws.on('message', (data: Buffer) => {
      if (data[0] === 0 && data[1] === 1) this.answers++
      if (this.waiting && this.answers >= this.target) this.settle('answered')
    })
    this.ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString() }
      this.settle('closed')
    })
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true))
      this.ws.once('close', () => resolve(false))
    })
  }

  private settle(result: 'answered' | 'closed'): void {
    const waiting = this.waiting
    this.waiting = null
    waiting?.(result)
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** Sends `frame` then a sync step 1; resolves once the step 2 reply arrives or the socket closes. */
  fire(frame: Frame, timeoutMs = 10_000): Promise<'answered' | 'closed' | 'hung'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null
        resolve('hung')
      }, timeoutMs)
      this.waiting = (result) => {
        clearTimeout(timer)
        resolve(result)
      }
      // A frame that is itself a sync step 1 gets its own step 2 before the probe's.
      this.target = this.answers + (isSyncStep1(frame.data) ? 2 : 1)
      this.ws.send(frame.data)
      if (this.open) this.ws.send(PROBE)
    })
  }

  close(): Promise<void> {
    if (this.closeInfo) return Promise.resolve()
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}

/** Whether the server will read `data` as one well-formed sync step 1 (and answer it). */
function isSyncStep1(data: Uint8Array | string): boolean {
  if (typeof data === 'string') return false
  try {
    const decoder = decoding.createDecoder(data)
    if (decoding.readVarUint(decoder) !== 0 || decoding.readVarUint(decoder) !== 0) return false
    decoding.readVarUint8Array(decoder)
    return !decoding.hasContent(decoder)
  } catch {
    return false
  }
}

const recorder = new Recorder('protocol-fuzz', 'Protocol fuzzer', [
  `At least ${FRAMES.toLocaleString('en-US')} frames from ${WORKERS} workers over ${ROOMS} documents (seeded PRNG): valid frames, mutated ones, truncations, absurd varint lengths (2^31…2^53 as message types, payload lengths, awareness counts and string lengths), malformed Yjs updates, lying awareness (bad JSON, non-object states, another connection's client id, too many ids, forged users), random bytes, text frames, empty and oversize frames.`,
  'Frames known to be bad are closed with exactly their code and a reason (4400 malformed, 4413 too large, 4403 presence for another connection); frames that may be valid are accepted or closed with 4400/4413/4403 — never 1011, never a dropped socket, never a hang. Valid frames are always accepted.',
  'The server never exits; afterwards it holds no fuzz connection or document, its file descriptors are back within 5 of the baseline and its heap after GC within 8 MiB.',
  `A healthy client on a fuzzed document is never closed, its edits reach a fresh client, and its p50 round trip during the fuzz is at most ${LATENCY_RATIO_BOUND}x its p50 under the same machinery sending only valid frames with the same connection churn (measured in the same run); its idle baseline is reported too.`,
])

test(`${FRAMES.toLocaleString('en-US')} hostile frames: right close codes, no crash, no leak, the healthy client never notices`, async () => {
  await recorder.run(async (r) => {
    r.headlines(
      'frames fuzzed',
      'connections',
      'wrong close codes / hangs',
      'server crashes',
      'fds (before → after)',
      'heap after GC (before → after)',
      'healthy p50 ratio (fuzz / valid traffic)',
    )
    await up()
    r.seed = SEED
    r.load = `${WORKERS} fuzzing workers on ${ROOMS} documents + a healthy client (latency probe) and a y-websocket peer on a fuzzed document`
    const token = await mintToken('fuzzer', 'editor', 'fuzz')
    const healthyToken = await mintToken('healthy', 'editor', 'fuzz')
    const probe = await LatencyProbe.open(server, 'fuzz/r0', healthyToken)
    const peer = await connectPeer(server, 'fuzz/r0', { token: healthyToken })
    peer.provider.awareness.setLocalStateField('status', 'active')
    await waitFor(async () => (await server.fetchJson<Health>('/healthz')).connections === 2, 5000, 'the healthy clients did not connect')
    const problems: string[] = []
    const counts = new Map<string, number>()
    const bump = (name: string) => counts.set(name, (counts.get(name) ?? 0) + 1)
    let sent = 0
    let connections = 0

    /** 'control' sends only valid frames and drops the connection as often as the fuzz gets refused */
    const runWorkers = async (frames: number, seed: number, mode: 'fuzz' | 'control' = 'fuzz') => {
      let next = 0
      const worker = async (w: number) => {
        const rng = prng(seed + w * 7919)
        let conn: FuzzConn | null = null
        const generator = frameGenerator(rng, MAX_MESSAGE, {
          ownId: () => conn!.clientId,
          nextClock: () => ++conn!.clock,
          victimId: () => (conn!.room === 'fuzz/r0' ? peer.doc.clientID : null),
        })
        while (next < frames && problems.length < 20) {
          next++
          if (!conn?.open) {
            conn = new FuzzConn(`fuzz/r${int(rng, ROOMS)}`, token, rng)
            connections++
            if (!(await conn.opened)) {
              problems.push(`worker ${w}: could not connect (${JSON.stringify(conn.closeInfo)})`)
              conn = null
              continue
            }
          }
          const frame = mode === 'fuzz' ? generator.next() : generator.valid()
          const result = await conn.fire(frame)
          if (mode === 'control') {
            if (result !== 'answered') problems.push(`control frame ${frame.category} on ${conn.room}: ${result} ${JSON.stringify(conn.closeInfo)}`)
            if (rng() < 0.85) await conn.close()
            if (!conn.open) conn = null
            continue
          }
          sent++
          bump(`category ${frame.category}`)
          const what = () =>
            `frame ${sent} (${frame.category}, ${typeof frame.data === 'string' ? JSON.stringify(frame.data) : Buffer.from(frame.data).toString('hex').slice(0, 160)}) on ${conn!.room}`
          if (result === 'hung') {
            problems.push(`${what()}: neither answered nor closed within 10 s`)
            conn.ws.terminate()
            conn = null
            continue
          }
          if (result === 'answered') {
            bump('survived')
            if (!frame.allowed.includes('survive')) problems.push(`${what()}: accepted, but it must be closed with ${frame.allowed.join('/')}`)
            // A surviving bad frame may have changed the connection's state: start clean.
            if (!frame.category.startsWith('valid')) {
              await conn.close()
              conn = null
            }
            continue
          }
          const close = conn.closeInfo!
          bump(`closed ${close.code}`)
          if (!frame.allowed.includes(close.code))
            problems.push(`${what()}: closed with ${close.code} ${JSON.stringify(close.reason)}, expected ${frame.allowed.join('/')}`)
          else if (close.reason.length === 0) problems.push(`${what()}: closed with ${close.code} but no reason`)
          conn = null
        }
        await conn?.close()
      }
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)))
    }

    // Warm-up (counted), then the baselines.
    await runWorkers(400, SEED ^ 0x5a5a)
    await waitFor(
      async () => {
        const health = await server.fetchJson<Health>('/healthz')
        return health.connections === 2 && health.documents === 1
      },
      15_000,
      'fuzz connections or documents were left over after the warm-up',
    )
    const baseHeap = await heapAfterGc(server)
    const baseFds = fdCount(server.child.pid!)
    const baseline = await probe.measure('baseline', 200, 5)
    // The same machinery and connection churn with valid frames only: the load the fuzz is compared to.
    probe.phase = 'control'
    probe.start(5)
    await runWorkers(CONTROL_FRAMES, SEED ^ 0xc0ffee, 'control')
    await probe.stop()
    const control = probe.stats('control')

    probe.phase = 'fuzz'
    probe.start(5)
    const started = Date.now()
    await runWorkers(FRAMES - sent, SEED)
    const elapsed = Date.now() - started
    await probe.stop()
    const during = probe.stats('fuzz')

    assert.ok(server.running, `the server exited: ${JSON.stringify(server.exitStatus)}\n${server.stderr.slice(-2000)}`)
    // Leaks: everything the fuzz opened is gone again.
    const after = await waitFor(
      async () => {
        const health = await server.fetchJson<Health>('/healthz')
        return health.connections === 2 && health.documents === 1 ? health : null
      },
      15_000,
      'fuzz connections or documents were left over',
    ).catch((error: Error) => {
      problems.push(error.message)
      return null
    })
    const fds = await waitFor(
      () => {
        const count = fdCount(server.child.pid!)
        return count <= baseFds + 5 ? count : null
      },
      10_000,
      '',
    ).catch(() => fdCount(server.child.pid!))
    if (fds > baseFds + 5) problems.push(`the server holds ${fds} file descriptors, ${baseFds} before the fuzz`)
    const heap = await heapAfterGc(server)
    if (heap - baseHeap > HEAP_MARGIN) problems.push(`the heap after GC grew from ${(baseHeap / MB).toFixed(1)} MiB to ${(heap / MB).toFixed(1)} MiB`)

    // The healthy clients never noticed.
    if (probe.closed) problems.push(`the latency probe was closed: ${JSON.stringify(probe.client.closeInfo)}`)
    if (peer.closes.length > 0) problems.push(`the healthy peer was closed: ${JSON.stringify(peer.closes)}`)
    if (probe.timeouts > 0) problems.push(`${probe.timeouts} healthy round trips timed out`)
    peer.doc.getMap('healthy').set('after-fuzz', SEED)
    await waitFor(
      async () => {
        const doc = await readDoc(server, 'fuzz/r0', healthyToken)
        const ok = doc.getMap('healthy').get('after-fuzz') === SEED
        doc.destroy()
        return ok
      },
      10_000,
      "the healthy peer's edit never reached a fresh client",
    ).catch((error: Error) => problems.push(error.message))
    const ratio = during.p50 / control.p50
    if (!(ratio <= LATENCY_RATIO_BOUND))
      problems.push(
        `the healthy client's p50 round trip was ${control.p50.toFixed(2)} ms under valid traffic and ${during.p50.toFixed(2)} ms during the fuzz (x${ratio.toFixed(2)}, bound x${LATENCY_RATIO_BOUND})`,
      )

    r.set('frames fuzzed', sent)
    r.set('connections', connections)
    r.set('frames/s', Math.round(sent / (elapsed / 1000)))
    for (const [name, value] of [...counts].sort()) if (!name.startsWith('category')) r.set(name, value)
    r.set(
      'categories',
      [...counts]
        .filter(([name]) => name.startsWith('category'))
        .map(([name, value]) => `${name.slice(9)} ${value}`)
        .join(', '),
    )
    r.set('wrong close codes / hangs', problems.filter((problem) => problem.startsWith('frame')).length)
    r.set('server crashes', server.running ? 0 : 1)
    r.set('fds (before → after)', `${baseFds} → ${fds}`)
    r.set('heap after GC (before → after)', `${(baseHeap / MB).toFixed(1)} → ${(heap / MB).toFixed(1)} MiB`)
    r.set('leftover connections/documents', after ? 0 : 'yes')
    r.set('healthy p50 ratio (fuzz / valid traffic)', round(ratio))
    r.set('healthy p50 ratio (fuzz / idle, not asserted)', round(during.p50 / baseline.p50))
    r.set('healthy latency, idle', describeStats(baseline))
    r.set('healthy latency, valid traffic', describeStats(control))
    r.set('healthy latency, fuzz', describeStats(during))
    r.faults = `${sent.toLocaleString('en-US')} hostile frames in ${(elapsed / 1000).toFixed(0)} s (seed ${SEED})`
    probe.close()
    assertNone(problems, 'protocol fuzz')
  })
})

test.run()
