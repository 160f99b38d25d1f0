// The per-workspace audit log in LevelDB: `audit!<workspace>!<16 hex digit seq>` → JSON entry.
// Appends are synchronous once the workspace's head is loaded, so an entry joins the same
// group-commit batch as the document change that caused it.
import { log } from '../log.js'
import type { Storage as Store } from '../store/storage.js'
import { type AuditEntry, type AuditFields, chainEntry, type ChainCheck, GENESIS, verifyStep } from './chain.js'

interface Head {
  seq: number
  hash: string
}

type Listener = (entry: AuditEntry) => void

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function prefix(workspace: string): string {
  return `audit!${workspace}!`
}

function keyOf(workspace: string, seq: number): string {
  return `${prefix(workspace)}${seq.toString(16).padStart(16, '0')}`
}

export class AuditLog {
  private readonly heads = new Map<string, Head>()
  /** workspaces whose head in memory may be ahead of the disk (a write of theirs failed) */
  private readonly stale = new Set<string>()
  private readonly loading = new Map<string, Promise<void>>()
  private readonly listeners = new Set<Listener>()

  constructor(private readonly store: Store) {}

  /** Loads the chain head of a workspace; call before any synchronous append to it. */
  ready(workspace: string): Promise<void> {
    if (this.heads.has(workspace) && !this.stale.has(workspace)) return Promise.resolve()
    let loading = this.loading.get(workspace)
    if (!loading) {
      loading = this.loadHead(workspace).finally(() => this.loading.delete(workspace))
      this.loading.set(workspace, loading)
    }
    return loading
  }

  private async loadHead(workspace: string): Promise<void> {
    const [last] = await this.store.readRange({ gt: prefix(workspace), lt: `${prefix(workspace)}~`, reverse: true, limit: 1 })
    const entry = last ? (JSON.parse(decoder.decode(last[1])) as AuditEntry) : null
    this.stale.delete(workspace)
    this.heads.set(workspace, entry ? { seq: entry.seq, hash: entry.hash } : { seq: 0, hash: GENESIS })
  }

  /**
   * After a storage failure the chain heads in memory may be ahead of the disk: the next ready()
   * rereads them (rooms are reloaded after a failure, and every load calls ready()). With a
   * workspace, only that one: another node wrote to it (cluster mode), the others are current.
   */
  markStale(workspace?: string): void {
    for (const name of workspace === undefined ? this.heads.keys() : [workspace]) this.stale.add(name)
  }

  /** The sequence number of the last entry appended (0 for none); the workspace must be ready. */
  headSeq(workspace: string): number {
    return this.heads.get(workspace)?.seq ?? 0
  }

  /** Appends in this turn (same batch as the document change); the workspace must be ready. */
  append(workspace: string, fields: AuditFields, at = Date.now()): AuditEntry {
    const head = this.heads.get(workspace)
    if (!head) throw new Error(`audit log of workspace ${workspace} is not loaded (call ready() first)`)
    const entry = chainEntry(head, workspace, at, fields)
    this.heads.set(workspace, { seq: entry.seq, hash: entry.hash })
    // A failed batch also fails the document change written with it, which closes its room;
    // here it only needs to be told.
    this.store.put(keyOf(workspace, entry.seq), encoder.encode(JSON.stringify(entry))).catch((error: Error) => {
      this.stale.add(workspace)
      log('audit entry not written', { workspace, seq: entry.seq, error: error.message })
    })
    for (const listener of this.listeners) listener(entry)
    return entry
  }

  /** For events with no document change to share a batch with (e.g. a refused connection). */
  async appendLater(workspace: string, fields: AuditFields): Promise<AuditEntry> {
    await this.ready(workspace)
    return this.append(workspace, fields)
  }

  async read(workspace: string, after = 0, limit = 100): Promise<AuditEntry[]> {
    const rows = await this.store.readRange({ gt: keyOf(workspace, after), lt: `${prefix(workspace)}~`, limit })
    return rows.map(([, value]) => JSON.parse(decoder.decode(value)) as AuditEntry)
  }

  async verify(workspace: string): Promise<ChainCheck> {
    await this.store.flush()
    let head: Head = { seq: 0, hash: GENESIS }
    let entries = 0
    for (;;) {
      const page = await this.read(workspace, head.seq, 1000)
      for (const entry of page) {
        const problem = verifyStep(head, entry)
        if (problem) return { ok: false, entries, brokenAt: entry.seq, problem }
        head = { seq: entry.seq, hash: entry.hash }
        entries++
      }
      if (page.length < 1000) return { ok: true, entries }
    }
  }

  /** Every workspace with an audit log: one seek per workspace, however long its log. */
  async workspaces(): Promise<string[]> {
    const names: string[] = []
    let after = 'audit!'
    for (;;) {
      const [next] = await this.store.readRange({ gt: after, lt: 'audit!~', limit: 1 })
      if (!next) return names
      const workspace = next[0].slice('audit!'.length, next[0].indexOf('!', 'audit!'.length))
      names.push(workspace)
      after = `${prefix(workspace)}~`
    }
  }

  /** Live entries as they are appended (the REST follow stream, tests). */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
