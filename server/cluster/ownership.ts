// Which workspaces this node owns: one lease per workspace in Redis, each with an epoch that only
// grows. Taking a lease, renewing and releasing it are scripts (scripts.ts) that compare the epoch,
// so a node that was paused past its lease can neither renew nor release the new owner's, and its
// writes are refused by the store's fence. A lease this node cannot renew is given up (the callback
// drops its rooms) at once when another node holds it, and once the lease has run out when Redis
// cannot be reached.
import * as K from './keys.js'
import { Moving, type RedisClient } from './redis.js'
import type { Fence } from './redis-store.js'

export type Owner = { self: true; epoch: string } | { self: false; node: string; url: string; epoch: string }

export interface OwnershipOptions {
  /** this process: the node id and a per-process suffix, so a restarted node never reuses a lease */
  holder: string
  /** the node id (the holder without its suffix): a lease handed over names the node */
  nodeId: string
  leaseMs: number
  /** called once this node no longer owns `workspace` (its rooms must go) */
  onLost(workspace: string, reason: string): void
  /** called when this node takes `workspace` with a new epoch, before anything is served under it */
  onAcquired(workspace: string): void
}

interface Held {
  epoch: string
  /** Date.now() when the last successful renewal was sent */
  renewedAt: number
}

export class Ownership implements Fence {
  private readonly held = new Map<string, Held>()
  private readonly acquiring = new Map<string, Promise<Owner>>()
  private timer: NodeJS.Timeout | null = null
  private url = ''
  /** leases taken by this node since it started */
  acquired = 0
  lost = 0

  constructor(
    private readonly client: RedisClient,
    private readonly options: OwnershipOptions,
  ) {}

  /** Starts renewing, once the node knows the address other nodes reach it at. */
  start(url: string): void {
    this.url = url
    this.timer = setInterval(() => void this.renewAll(), Math.max(50, Math.floor(this.options.leaseMs / 3)))
    this.timer.unref()
  }

  epochOf(workspace: string): string | null {
    return this.held.get(workspace)?.epoch ?? null
  }

  get size(): number {
    return this.held.size
  }

  workspaces(): string[] {
    return [...this.held.keys()]
  }

  /** This node, if it owns `workspace` or could take it; else the node that holds it. */
  ensure(workspace: string): Promise<Owner> {
    const held = this.held.get(workspace)
    if (held) return Promise.resolve({ self: true, epoch: held.epoch })
    let pending = this.acquiring.get(workspace)
    if (!pending) {
      pending = this.acquire(workspace).finally(() => this.acquiring.delete(workspace))
      this.acquiring.set(workspace, pending)
    }
    return pending
  }

  private async acquire(workspace: string): Promise<Owner> {
    if (!this.url) throw new Error('cluster node is not listening yet')
    const sentAt = Date.now()
    const reply = (await this.client.script(
      'acquire',
      [K.lease(workspace), K.epoch(workspace), K.handover(workspace)],
      [this.options.holder, this.url, this.options.leaseMs, this.options.nodeId],
    )) as Array<Buffer | number>
    if (Number(reply[0]) !== 1 && String(reply[3]) === '')
      throw new Moving(`workspace ${workspace} is moving to node ${String(reply[2])}; reconnect in a moment`)
    if (Number(reply[0]) !== 1) return { self: false, epoch: String(reply[1]), node: String(reply[2]), url: String(reply[3]) }
    const epoch = String(reply[1])
    this.held.set(workspace, { epoch, renewedAt: sentAt })
    this.acquired++
    this.options.onAcquired(workspace)
    await this.client.call(() => this.client.redis.multi().zadd(K.WORKSPACES, 0, workspace).sadd(K.OWNED, workspace).exec())
    return { self: true, epoch }
  }

  /** Gives a workspace up; `done` also takes it off the list other nodes resume after a crash. */
  async release(workspace: string, done: boolean): Promise<void> {
    const held = this.held.get(workspace)
    if (!held) return
    this.held.delete(workspace)
    const released = await this.client.script('release', [K.lease(workspace)], [held.epoch])
    if (done && Number(released) === 1) await this.client.call(() => this.client.redis.srem(K.OWNED, workspace))
  }

  /**
   * Gives a workspace up for node `to` alone to take within two lease periods (rebalancing); after
   * that any node may. False when this node no longer held it.
   */
  async handOver(workspace: string, to: string): Promise<boolean> {
    const held = this.held.get(workspace)
    if (!held) return false
    this.held.delete(workspace)
    const done = await this.client.script('handover', [K.lease(workspace), K.handover(workspace)], [held.epoch, to, 2 * this.options.leaseMs])
    return Number(done) === 1
  }

  /** At shutdown: every lease goes at once, so other nodes take the rooms without waiting for it to
   * run out; the workspaces stay listed, so one of them resumes their timers. */
  async releaseAll(): Promise<void> {
    this.stop()
    await Promise.allSettled(this.workspaces().map((workspace) => this.release(workspace, false)))
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  private async renewAll(): Promise<void> {
    await Promise.all(this.workspaces().map((workspace) => this.renew(workspace)))
  }

  private async renew(workspace: string): Promise<void> {
    const held = this.held.get(workspace)
    if (!held) return
    const sentAt = Date.now()
    try {
      const renewed = await this.client.script('renew', [K.lease(workspace)], [held.epoch, this.options.leaseMs])
      if (this.held.get(workspace) !== held) return
      if (Number(renewed) === 1) held.renewedAt = sentAt
      else this.lose(workspace, held, `its lease (epoch ${held.epoch}) ran out or another node took it`)
    } catch (error) {
      if (this.held.get(workspace) === held && Date.now() - held.renewedAt >= this.options.leaseMs) {
        this.lose(workspace, held, `its lease could not be renewed for ${this.options.leaseMs} ms (${(error as Error).message})`)
      }
    }
  }

  private lose(workspace: string, held: Held, reason: string): void {
    if (this.held.get(workspace) !== held) return
    this.held.delete(workspace)
    this.lost++
    this.options.onLost(workspace, reason)
  }
}
