// The webhooks of every workspace: endpoints created, listed, removed and redelivered by the REST
// API, one delivery worker per endpoint, woken whenever the audit log of its workspace grows.
// In a cluster the workers of a workspace run on its owner only (take/drop follow the lease), so an
// event is not sent once per node, and their writes are fenced with the workspace's other writes.
import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { AuditLog } from '../audit/log.js'
import { log } from '../log.js'
import type { Storage as Store } from '../store/storage.js'
import { type DeliveryRecord, type Endpoint, EndpointStore, freshDelivery, UNREADABLE_SECRET } from './endpoints.js'
import type { Format } from './payload.js'
import { SecretSealer } from './sealed-secret.js'
import { Worker, type WorkerOptions } from './worker.js'

export interface NewEndpoint {
  url: string
  events: string[]
  format: Format
  secret: string
}

/** What an admin sees of an endpoint: its settings and health, never its secret. */
export interface EndpointView {
  id: string
  url: string
  events: string[]
  format: Format
  createdAt: number
  createdBy: string
  enabled: boolean
  disabled: Endpoint['disabled']
  health: {
    lastSuccessAt: number | null
    lastFailureAt: number | null
    failures: number
    failingSince: number | null
    attempts: number
    nextAttemptAt: number | null
  }
  /** the last audit sequence number handled; later wanted entries are waiting */
  cursor: number
  pendingRedeliveries: number
}

export class Webhooks {
  private readonly workers = new Map<string, Worker>()
  /** cluster mode: the workspaces this node delivers for, each with the loading of its endpoints */
  private readonly taken = new Map<string, { loaded: Promise<void> }>()
  private readonly unsubscribe: () => void

  private constructor(
    private readonly audit: AuditLog,
    private readonly endpoints: EndpointStore,
    private readonly deps: { store: Store; options: WorkerOptions },
  ) {
    this.unsubscribe = audit.subscribe((entry) => {
      for (const worker of this.workers.values()) if (worker.endpoint.workspace === entry.workspace) worker.wake()
    })
  }

  /** `perWorkspace` (cluster mode): no endpoint delivers until take() is called for its workspace. */
  static async start(store: Store, audit: AuditLog, options: WorkerOptions, serverSecret: Uint8Array, perWorkspace = false): Promise<Webhooks> {
    const endpoints = new EndpointStore(store, new SecretSealer(serverSecret))
    const webhooks = new Webhooks(audit, endpoints, { store, options })
    if (!perWorkspace) for (const endpoint of await endpoints.all()) webhooks.run(endpoint)
    return webhooks
  }

  private run(endpoint: Endpoint): void {
    const key = workerKey(endpoint.workspace, endpoint.id)
    if (this.workers.has(key)) return
    this.workers.set(key, new Worker(endpoint, { ...this.deps, audit: this.audit, endpoints: this.endpoints }))
  }

  /** Cluster mode: this node now owns `workspace`; its endpoints deliver from here, as stored. */
  take(workspace: string): void {
    if (this.taken.has(workspace)) return
    const turn = { loaded: Promise.resolve() }
    turn.loaded = this.load(workspace, turn)
    this.taken.set(workspace, turn)
  }

  private async load(workspace: string, turn: { loaded: Promise<void> }): Promise<void> {
    for (;;) {
      try {
        const endpoints = await this.endpoints.of(workspace)
        if (this.taken.get(workspace) === turn) for (const endpoint of endpoints) this.run(endpoint)
        return
      } catch (error) {
        log('could not load the webhooks of a workspace this node took; retrying', { workspace, error: (error as Error).message })
        await delay(1000)
        if (this.taken.get(workspace) !== turn) return
      }
    }
  }

  /** Cluster mode: this node no longer owns `workspace`; its owner delivers now. */
  async drop(workspace: string): Promise<void> {
    this.taken.delete(workspace)
    const dropped = [...this.workers].filter(([, worker]) => worker.endpoint.workspace === workspace)
    for (const [key] of dropped) this.workers.delete(key)
    await Promise.all(dropped.map(([, worker]) => worker.stop()))
  }

  /** Resolves once the endpoints of `workspace` delivered from this node are loaded (cluster mode). */
  async ready(workspace: string): Promise<void> {
    await this.taken.get(workspace)?.loaded
  }

  /** Whether an endpoint of `workspace` still has events to send (its owner keeps it meanwhile). */
  busy(workspace: string): boolean {
    for (const worker of this.workers.values()) if (worker.endpoint.workspace === workspace && worker.busy) return true
    return false
  }

  /** Stores the endpoint and audits its creation; that entry is its `ping`, delivered first. */
  async create(workspace: string, input: NewEndpoint, actor: string): Promise<Endpoint> {
    const id = `wh_${randomBytes(9).toString('base64url')}`
    await this.audit.ready(workspace)
    const entry = this.audit.append(workspace, {
      type: 'webhook-created',
      actor,
      data: { id, host: new URL(input.url).host, events: input.events, format: input.format },
    })
    const endpoint: Endpoint = {
      id,
      workspace,
      ...input,
      createdAt: entry.at,
      createdBy: actor,
      ...freshDelivery(entry.seq - 1),
    }
    await this.endpoints.save(endpoint)
    this.run(endpoint)
    return endpoint
  }

  list(workspace: string): EndpointView[] {
    return [...this.workers.values()].filter((worker) => worker.endpoint.workspace === workspace).map((worker) => view(worker.endpoint))
  }

  get(workspace: string, id: string): EndpointView | null {
    const worker = this.workers.get(workerKey(workspace, id))
    return worker ? view(worker.endpoint) : null
  }

  async remove(workspace: string, id: string, actor: string): Promise<boolean> {
    const key = workerKey(workspace, id)
    const worker = this.workers.get(key)
    if (!worker) return false
    this.workers.delete(key)
    await worker.stop()
    await this.endpoints.remove(worker.endpoint)
    await this.audit.appendLater(workspace, { type: 'webhook-deleted', actor, data: { id } })
    return true
  }

  async deliveries(workspace: string, id: string, limit: number): Promise<DeliveryRecord[] | null> {
    const worker = this.workers.get(workerKey(workspace, id))
    return worker ? this.endpoints.deliveries(worker.endpoint, limit) : null
  }

  /**
   * Sends audit entries again: every wanted one from sequence `from` on (in order, then onwards as
   * usual), and/or the entries `seqs` first. Re-enables a disabled endpoint.
   */
  async redeliver(workspace: string, id: string, request: { from?: number; seqs?: number[] }): Promise<EndpointView | null | { refused: string }> {
    const worker = this.workers.get(workerKey(workspace, id))
    if (!worker) return null
    // Enabled again it would sign with what it cannot open: receivers would reject every delivery.
    if (this.endpoints.unreadable(worker.endpoint)) return { refused: UNREADABLE_SECRET }
    await worker.update((endpoint) => {
      if (request.from !== undefined) endpoint.cursor = Math.min(endpoint.cursor, request.from - 1)
      if (request.seqs) endpoint.redeliver.push(...request.seqs.filter((seq) => !endpoint.redeliver.includes(seq)))
      Object.assign(endpoint, { disabled: null, attempts: 0, nextAt: 0, failingSince: null })
    })
    return view(worker.endpoint)
  }

  async close(): Promise<void> {
    this.unsubscribe()
    this.taken.clear()
    await Promise.all([...this.workers.values()].map((worker) => worker.stop()))
    this.workers.clear()
  }
}

function workerKey(workspace: string, id: string): string {
  return `${workspace}!${id}`
}

function view(endpoint: Endpoint): EndpointView {
  const { id, url, events, format, createdAt, createdBy, disabled, cursor } = endpoint
  return {
    id,
    url,
    events,
    format,
    createdAt,
    createdBy,
    enabled: disabled === null,
    disabled,
    cursor,
    health: {
      lastSuccessAt: endpoint.lastSuccessAt,
      lastFailureAt: endpoint.lastFailureAt,
      failures: endpoint.failures,
      failingSince: endpoint.failingSince,
      attempts: endpoint.attempts,
      nextAttemptAt: endpoint.attempts > 0 ? endpoint.nextAt : null,
    },
    pendingRedeliveries: endpoint.redeliver.length,
  }
}
