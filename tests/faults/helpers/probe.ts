// Measuring a server from the outside: a latency probe (the round trip of a document update to
// its echo, which the server sends only once the update is on disk), latency statistics and
// ratios, the server's file descriptors and health.
import { readdirSync } from 'node:fs'
import * as Y from 'yjs'
import { decodeFrame, delay, mintToken, type RawClient, rawConnect, updateFrame, waitFor } from '../../helpers/clients.js'
import type { Health, TestServer } from '../../helpers/server.js'

export const MB = 1024 * 1024

/**
 * A healthy client on a document that measures, one at a time, how long an update takes to come
 * back (the server echoes every update to its sender after writing it). Everything it receives is
 * applied to a mirror document, so it also proves the document keeps syncing.
 */
export class LatencyProbe {
  readonly mirror = new Y.Doc()
  private readonly local = new Y.Doc()
  private pending: Uint8Array | null = null
  private sent = 0
  private running: Promise<void> | null = null
  private stopRequested = false
  /** every round trip measured, ms, by phase */
  readonly samples = new Map<string, number[]>()
  phase = 'baseline'
  /** round trips that did not come back within their timeout */
  timeouts = 0
  /** checks whether the round trip in flight is complete (after every message and on close) */
  private waiter: (() => void) | null = null

  private constructor(
    readonly client: RawClient,
    readonly room: string,
  ) {
    this.local.on('update', (update: Uint8Array) => {
      this.pending = update
    })
  }

  static async open(server: TestServer, room: string, token?: string): Promise<LatencyProbe> {
    const client = await rawConnect(server, room, { token: token ?? (await mintToken('latency-probe', 'editor', room.split('/')[0])) })
    const probe = new LatencyProbe(client, room)
    await client.roundTrip()
    for (const message of client.messages.splice(0)) probe.receive(message)
    client.ws.on('message', (data: Buffer) => {
      probe.receive(new Uint8Array(data))
      // RawClient's messages array would keep every frame: the probe keeps only the mirror.
      client.messages.splice(0)
      probe.waiter?.()
    })
    client.ws.on('close', () => setImmediate(() => probe.waiter?.()))
    return probe
  }

  private receive(message: Uint8Array): void {
    const frame = decodeFrame(message)
    if (frame.kind === 'update' || frame.kind === 'sync-step2') Y.applyUpdate(this.mirror, frame.payload)
  }

  get closed(): boolean {
    return this.client.closeInfo !== null
  }

  /** One round trip, in ms. */
  async once(timeoutMs = 10_000): Promise<number> {
    this.local.getMap('probe').set('n', ++this.sent)
    const update = this.pending!
    const clock = Y.getState(this.local.store, this.local.clientID)
    const started = performance.now()
    const echoed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null
        reject(new Error(`timed out after ${timeoutMs} ms: the echo of probe update ${this.sent}`))
      }, timeoutMs)
      this.waiter = () => {
        if (this.client.closeInfo) {
          clearTimeout(timer)
          this.waiter = null
          reject(new Error(`the probe was closed: ${this.client.closeInfo.code} ${this.client.closeInfo.reason}`))
        } else if (Y.getState(this.mirror.store, this.local.clientID) >= clock) {
          clearTimeout(timer)
          this.waiter = null
          resolve()
        }
      }
    })
    this.client.send(updateFrame(update))
    await echoed
    return performance.now() - started
  }

  /** Measures continuously (one round trip, then `gapMs`) until stop(), tagging samples with `phase`. */
  start(gapMs = 10): void {
    if (this.running) return
    this.stopRequested = false
    this.running = (async () => {
      while (!this.stopRequested && !this.closed) {
        const phase = this.phase
        try {
          const ms = await this.once()
          if (phase === this.phase) this.record(phase, ms)
        } catch (error) {
          if (this.closed) throw error
          this.timeouts++
        }
        await delay(gapMs)
      }
    })()
  }

  async stop(): Promise<void> {
    this.stopRequested = true
    await this.running
    this.running = null
  }

  /** `count` sequential round trips recorded under `phase`. */
  async measure(phase: string, count: number, gapMs = 5): Promise<LatencyStats> {
    for (let i = 0; i < count; i++) {
      this.record(phase, await this.once())
      await delay(gapMs)
    }
    return this.stats(phase)
  }

  record(phase: string, ms: number): void {
    const list = this.samples.get(phase) ?? []
    list.push(ms)
    this.samples.set(phase, list)
  }

  stats(phase: string): LatencyStats {
    return latencyStats(this.samples.get(phase) ?? [])
  }

  close(): void {
    this.client.close()
    this.mirror.destroy()
    this.local.destroy()
  }
}

export interface LatencyStats {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
}

export function latencyStats(samples: number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!)
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN }
}

export function describeStats(stats: LatencyStats): string {
  return `n=${stats.count} p50=${stats.p50.toFixed(2)} ms p90=${stats.p90.toFixed(2)} ms p99=${stats.p99.toFixed(2)} ms max=${stats.max.toFixed(1)} ms`
}

/** Open file descriptors of a process (Linux). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

export function health(server: TestServer): Promise<Health> {
  return server.fetchJson<Health>('/healthz')
}

/** heapUsed after a full GC (the server must run with exposeGc), the least of a few readings. */
export async function heapAfterGc(server: TestServer, readings = 3): Promise<number> {
  const values: number[] = []
  for (let i = 0; i < readings; i++) {
    values.push((await server.fetchJson<Health>('/healthz?gc=1')).memory.heapUsed)
    await delay(50)
  }
  return Math.min(...values)
}

/** Waits for the server to have no documents and no connections (everything unloaded). */
export async function waitIdle(server: TestServer, timeoutMs = 30_000): Promise<Health> {
  let last: Health | null = null
  return waitFor(
    async () => {
      last = await health(server)
      return last.documents === 0 && last.connections === 0 ? last : null
    },
    timeoutMs,
    () => `the server never became idle: ${JSON.stringify(last && { documents: last.documents, connections: last.connections })}`,
  )
}

/** A metric's value from /metrics (summing every series of `name` matching `labels`). */
export async function metric(server: TestServer, name: string, labels = ''): Promise<number> {
  const body = (await server.fetchText('/metrics')).body
  let total = 0
  for (const line of body.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue
    if (labels && !rest.includes(labels)) continue
    total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits))
