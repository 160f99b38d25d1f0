// The store of a cluster node: the same interface as the LevelDB store, on Redis (key layout in
// keys.ts). Writes of one turn go into one batch per workspace, written by one script that first
// checks this node's lease epoch for the workspace: a node that lost a workspace can never write
// to it, whatever it still believes. A write resolves once Redis acknowledged it, so persist before
// broadcast holds as with LevelDB.
import * as Y from 'yjs'
import { GroupCommit, type OnBatch, type OnCompacted, type Op } from '../store/group-commit.js'
import type { RangeOptions, StoreStats, UpdateBatch } from '../store/index.js'
import type { Storage } from '../store/storage.js'
import * as K from './keys.js'
import { Fenced, type RedisClient } from './redis.js'

/** What the store asks the node's leases: the epoch this node holds for a workspace, if any. */
export interface Fence {
  epochOf(workspace: string): string | null
}

export interface RedisStoreOptions {
  compactAfter: number
  onError(error: Error): void
  onBatch?: OnBatch
  onCompacted?: OnCompacted
  /** runs at close, after the last write and before the connection goes (the node's leases) */
  beforeQuit?(): Promise<void>
}

interface Commit {
  epoch: string
  commit: GroupCommit
}

const DOC = 'doc!'
const MAX_LIMIT = 1_000_000

export class RedisStore implements Storage {
  private readonly commits = new Map<string, Commit>()
  /** log entries appended since the last load or compaction, per loaded document */
  private readonly logLength = new Map<string, number>()
  private readonly compactions = new Map<string, Promise<void>>()
  private batchesWritten = 0
  private lastBatchSize = 0
  private closing = false

  constructor(
    private readonly client: RedisClient,
    private readonly fence: Fence,
    private readonly options: RedisStoreOptions,
  ) {}

  get dir(): string {
    return this.client.url
  }

  async loadDoc(name: string): Promise<Uint8Array[]> {
    await this.written(K.tagOf(K.workspaceOfRoom(name)))
    // One MULTI: a compaction committing meanwhile can never show the old state without its log.
    const replies = await this.client.call(() => this.client.redis.multi().getBuffer(K.state(name)).xrangeBuffer(K.log(name), '-', '+').exec())
    const [stateReply, logReply] = replies ?? []
    if (stateReply?.[0] || logReply?.[0]) throw stateReply?.[0] ?? logReply?.[0]
    const state = stateReply?.[1] as Buffer | null
    const updates = ((logReply?.[1] ?? []) as Array<[Buffer, Buffer[]]>).map(([, fields]) => fieldOf(fields, 'u'))
    this.logLength.set(name, updates.length)
    if (updates.length >= this.options.compactAfter) this.compactInBackground(name)
    return state ? [state, ...updates] : updates
  }

  appendUpdate(name: string, update: Uint8Array, batch?: UpdateBatch): Promise<void> {
    const workspace = K.workspaceOfRoom(name)
    const ops = batch?.ops ?? []
    // One script writes the batch, under one hash tag: a key of another tag would land in this
    // workspace's hash, where no read of it looks.
    const foreign = ops.find((op) => K.workspaceOfKey(op.key) !== workspace)
    if (foreign) return Promise.reject(foreignKey(foreign.key, name))
    const written = this.push(workspace, ...ops, { type: 'put', key: `${DOC}${name}`, value: update })
    const length = (this.logLength.get(name) ?? 0) + 1
    this.logLength.set(name, length)
    if (length >= this.options.compactAfter && !this.compactions.has(name)) this.compactInBackground(name)
    return written
  }

  forget(name: string): void {
    const length = this.logLength.get(name) ?? 0
    this.logLength.delete(name)
    if (length > 0 && !this.closing) this.compactInBackground(name)
  }

  put(key: string, value: Uint8Array): Promise<void> {
    if (key.startsWith(DOC)) return Promise.reject(ownKey(key))
    return this.push(K.workspaceOfKey(key), { type: 'put', key, value })
  }

  del(key: string): Promise<void> {
    if (key.startsWith(DOC)) return Promise.reject(ownKey(key))
    return this.push(K.workspaceOfKey(key), { type: 'del', key })
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    await this.written(K.tagOf(K.workspaceOfKey(key)))
    const value = await this.client.call(() => this.client.redis.hgetBuffer(K.kv(K.tagOf(K.workspaceOfKey(key))), key))
    return value ?? undefined
  }

  async readRange(range: RangeOptions): Promise<Array<[string, Uint8Array]>> {
    const limit = range.limit === undefined || range.limit < 0 ? MAX_LIMIT : range.limit
    const tags = await this.tagsOf(range)
    await Promise.all(tags.map((tag) => this.written(tag)))
    const rows = (await Promise.all(tags.map((tag) => this.rangeIn(tag, range, limit)))).flat()
    if (tags.length > 1) rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0) * (range.reverse ? -1 : 1))
    return rows.slice(0, limit)
  }

  /** The hash tags a range can touch: one workspace, the cluster-wide keys, or (a range across
   * workspaces, e.g. every audit log) all of them. */
  private async tagsOf(range: RangeOptions): Promise<string[]> {
    const low = range.gt ?? range.gte ?? ''
    const high = range.lt ?? range.lte ?? ''
    const lowWs = K.workspaceOfKey(low)
    if (lowWs !== null && lowWs === K.workspaceOfKey(high)) return [K.tagOf(lowWs)]
    if (!K.inWorkspaceFamily(low) && !K.inWorkspaceFamily(high)) return [K.GLOBAL_TAG]
    const workspaces = await this.client.call(() => this.client.redis.zrange(K.WORKSPACES, 0, -1))
    return [K.GLOBAL_TAG, ...workspaces.map((ws) => K.tagOf(ws))]
  }

  private async rangeIn(tag: string, range: RangeOptions, limit: number): Promise<Array<[string, Uint8Array]>> {
    const min = range.gt !== undefined ? `(${range.gt}` : range.gte !== undefined ? `[${range.gte}` : '-'
    const max = range.lt !== undefined ? `(${range.lt}` : range.lte !== undefined ? `[${range.lte}` : '+'
    const flat = (await this.client.script('range', [K.idx(tag), K.kv(tag)], [min, max, limit, range.reverse ? '1' : '0'])) as Buffer[]
    const rows: Array<[string, Uint8Array]> = []
    for (let i = 0; i < flat.length; i += 2) rows.push([flat[i]!.toString('utf8'), flat[i + 1]!])
    return rows
  }

  async listDocs(prefix: string, limit = 1000): Promise<string[]> {
    const key = K.docs(K.workspaceOfRoom(prefix))
    return this.client.call(() => this.client.redis.zrangebylex(key, `[${prefix}`, `[${prefix}\xff`, 'LIMIT', 0, limit))
  }

  /**
   * Reads of a workspace wait for its queued writes: after a storage failure the audit log rereads
   * its head, and a head read while entries are still queued would hand out their seqs again.
   */
  private written(tag: string): Promise<void> {
    return this.commits.get(tag)?.commit.flush() ?? Promise.resolve()
  }

  async flush(): Promise<void> {
    await Promise.all([...this.commits.values()].map(({ commit }) => commit.flush()))
  }

  compact(name: string): Promise<void> {
    let running = this.compactions.get(name)
    if (!running) {
      running = this.compactNow(name).finally(() => this.compactions.delete(name))
      this.compactions.set(name, running)
    }
    return running
  }

  /** Merges state and log into a new state; entries appended meanwhile stay in the log. */
  private async compactNow(name: string): Promise<void> {
    const workspace = K.workspaceOfRoom(name)
    const epoch = this.fence.epochOf(workspace)
    if (epoch === null) return
    const [state, entries] = await Promise.all([
      this.client.call(() => this.client.redis.getBuffer(K.state(name))),
      this.client.call(() => this.client.redis.xrangeBuffer(K.log(name), '-', '+')) as unknown as Promise<Array<[Buffer, Buffer[]]>>,
    ])
    if (entries.length === 0) return
    const doc = new Y.Doc({ gc: true })
    try {
      doc.transact(() => {
        if (state) Y.applyUpdate(doc, state)
        for (const [, fields] of entries) Y.applyUpdate(doc, fieldOf(fields, 'u'))
      })
      const lastId = entries[entries.length - 1]![0].toString()
      await this.client.script(
        'compact',
        [K.lease(workspace), K.state(name), K.sv(name), K.log(name)],
        [epoch, Buffer.from(Y.encodeStateAsUpdate(doc)), Buffer.from(Y.encodeStateVector(doc)), nextStreamId(lastId)],
      )
    } finally {
      doc.destroy()
    }
    this.options.onCompacted?.('log')
    const length = this.logLength.get(name)
    if (length !== undefined) this.logLength.set(name, Math.max(0, length - entries.length))
  }

  private compactInBackground(name: string): void {
    this.compact(name).catch((error: Error) => {
      // A fenced compaction only means another node owns the document now.
      if (!(error instanceof Fenced)) this.options.onError(error)
    })
  }

  stats(): StoreStats {
    let pending = 0
    for (const { commit } of this.commits.values()) pending += commit.pending
    return {
      batchesWritten: this.batchesWritten,
      lastBatchSize: this.lastBatchSize,
      pending,
      docs: this.logLength.size,
      loading: 0,
      compactions: this.compactions.size,
    }
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.allSettled([...this.compactions.values()])
    await this.flush()
    await this.options.beforeQuit?.()
    await this.client.close()
  }

  /** Queues operations in one batch of their workspace, under the epoch this node holds now. */
  private push(workspace: string | null, ...ops: Op[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error(`huddle store: the store on ${this.dir} is closed`))
    const epoch = workspace === null ? '' : this.fence.epochOf(workspace)
    if (epoch === null) return Promise.reject(new Fenced(`this node does not own workspace ${workspace}: its writes go through the owner`))
    const tag = K.tagOf(workspace)
    let current = this.commits.get(tag)
    // A commit belongs to one epoch: batches queued under a lost lease stay fenced even if this
    // node takes the workspace again meanwhile.
    if (!current || current.epoch !== epoch) {
      const commit: GroupCommit = new GroupCommit(
        (ops) => this.writeBatch(workspace, epoch, ops),
        (ms, count) => this.batchDone(ms, count),
      )
      current = { epoch, commit }
      this.commits.set(tag, current)
    }
    return current.commit.pushAll(ops)
  }

  private async writeBatch(workspace: string | null, epoch: string, ops: Op[]): Promise<void> {
    const tag = K.tagOf(workspace)
    const keys = [K.leaseIn(tag), K.kv(tag), K.idx(tag), K.docsIn(tag)]
    const logIndex = new Map<string, number>()
    const args: Array<string | Uint8Array> = [epoch]
    for (const op of ops) {
      if (op.type === 'del') {
        args.push('d', op.key, '', '')
      } else if (op.key.startsWith(DOC)) {
        const room = op.key.slice(DOC.length)
        let index = logIndex.get(room)
        if (index === undefined) {
          keys.push(K.log(room))
          index = keys.length
          logIndex.set(room, index)
        }
        args.push('a', String(index), op.value, room)
      } else {
        args.push('p', op.key, op.value, '')
      }
    }
    // In the same script as the write: a node that reads the new count also reads what was written.
    if (ops.some((op) => K.isCredential(op.key))) {
      keys.push(K.CREDENTIALS)
      args.push('v', String(keys.length), '', '')
    }
    await this.client.script(
      'batch',
      keys,
      args.map((arg) => (typeof arg === 'string' ? arg : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength))),
    )
  }

  private batchDone(durationMs: number, ops: number): void {
    this.batchesWritten++
    this.lastBatchSize = ops
    try {
      this.options.onBatch?.(durationMs, ops)
    } catch (error) {
      this.options.onError(error as Error)
    }
  }
}

function fieldOf(fields: Buffer[], name: string): Uint8Array {
  for (let i = 0; i < fields.length; i += 2) if (fields[i]!.toString() === name) return new Uint8Array(fields[i + 1]!)
  throw new Error(`huddle store: a log entry without its '${name}' field`)
}

/** The smallest stream id above `id` (XTRIM MINID keeps ids at or above it). */
function nextStreamId(id: string): string {
  const [ms, seq] = id.split('-')
  return `${ms}-${BigInt(seq!) + 1n}`
}

function foreignKey(key: string, room: string): Error {
  return new Error(
    `huddle store: key ${JSON.stringify(key)}, written with an update of ${room}, is not a key of workspace ${K.workspaceOfRoom(room)}: ` +
      `in cluster mode a document hook may add only keys of its own workspace (${[...K.WORKSPACE_FAMILIES].map((family) => `${family}!`).join(', ')}) to the batch of an update`,
  )
}

function ownKey(key: string): Error {
  return new Error(`huddle store: key ${JSON.stringify(key)} is under 'doc!', which the store keeps for documents; use another prefix`)
}
