// A node of a cluster (`huddle serve --redis`): joins the cluster (Redis reachable, same secret),
// stores through Redis, decides for each client whether this node serves its workspace or relays
// it to the owner, gives up rooms whose lease it lost, and resumes the workspaces of dead owners.
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { Gauge, type Registry as MetricsRegistry } from 'prom-client'
import { CloseCode } from '../../shared/close-codes.js'
import type { RoomName } from '../../shared/names.js'
import type { Route } from '../http/routes.js'
import { log } from '../log.js'
import type { DocumentHook, UnloadReason } from '../rooms/hooks.js'
import type { Registry } from '../rooms/registry.js'
import { redeemedLinkOf, roomOf, workspaceOf } from './addressing.js'
import { ClientAddresses } from './client-address.js'
import { CredentialSync } from './credentials.js'
import { checkJoin } from './join-checks.js'
import * as K from './keys.js'
import { moveWorkspaceKeysFromGlobal } from './migrate.js'
import { Ownership, type Owner } from './ownership.js'
import { Fenced, Moving, RedisClient } from './redis.js'
import { RedisStore, type RedisStoreOptions } from './redis-store.js'
import { Rebalancer } from './rebalancer.js'
import { HANDED_OVER, type HandedOver, handedOverReason, NewOwners } from './handover.js'
import { proxyHttp, Relays } from './relay.js'
import { RelayProof } from './relay-proof.js'
import { Sweeper } from './sweeper.js'

export interface ClusterOptions {
  redis: string
  nodeId: string
  /** how long a lease lasts without renewal: the time a dead owner's rooms wait for a new one */
  ownerLeaseMs: number
  /** the URL other nodes reach this one at (default: from --host and the port) */
  advertise?: string
  compactAfter: number
  maxMessageBytes: number
  maxBufferedBytes: number
  pingMs: number
}

/** What the node needs from the server once it exists. */
export interface ServerParts {
  registry: Registry
  /** hands an upgrade to the local WebSocket front door */
  serveLocally(request: IncomingMessage, socket: Duplex, head: Buffer): void
  /** serves here a client this node relayed until its workspace moved here (rebalancing) */
  adopt(handed: HandedOver): void
  /** the connections of `workspace` served here that other nodes relay */
  relayed(workspace: string): Array<{ session: string; presenceClocks(): Array<[number, number]>; close(code: number, reason: string): void }>
  /**
   * This node took `workspace` with a new epoch: what it remembers of the workspace from an earlier
   * lease (the audit chain's head) may be behind what other owners wrote since, and must be reread.
   */
  acquired(workspace: string): void
  /** This node gave `workspace` up (lost or released its lease): what runs for it here must stop. */
  released(workspace: string): void
  /** Whether work of `workspace` not tied to a room is under way here (webhook deliveries). */
  busy(workspace: string): boolean
}

type StoreEvents = Pick<RedisStoreOptions, 'onError' | 'onBatch' | 'onCompacted'>

export class ClusterNode {
  readonly store: RedisStore
  readonly ownership: Ownership
  readonly relays: Relays
  /** the built-in hook every room gets on a cluster node (see hook()) */
  readonly hook: DocumentHook
  private parts: ServerParts | null = null
  private sweeper: Sweeper | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private credentials: CredentialSync | null = null
  private rebalancer: Rebalancer | null = null
  private url = ''
  private readonly loaded = new Map<string, number>()
  /** workspaces being handed over: nothing of them loads here any more, their lease still held */
  private readonly moving = new Map<string, Moving>()
  private readonly newOwners: NewOwners
  /** rebalancing since start: workspaces handed over to another node, clients served here when theirs moved here */
  private handedOver = 0
  private takenOver = 0

  readonly addresses: ClientAddresses
  readonly relayProof: RelayProof

  private constructor(
    readonly client: RedisClient,
    readonly options: ClusterOptions,
    events: StoreEvents,
    key: Uint8Array,
  ) {
    this.addresses = new ClientAddresses(key)
    this.relayProof = new RelayProof(key)
    const holder = `${options.nodeId}#${randomBytes(4).toString('hex')}`
    this.ownership = new Ownership(client, {
      holder,
      nodeId: options.nodeId,
      leaseMs: options.ownerLeaseMs,
      onLost: (workspace, reason) => this.lost(workspace, reason),
      onAcquired: (workspace) => this.parts?.acquired(workspace),
    })
    this.newOwners = new NewOwners(this.ownership, 2 * options.ownerLeaseMs)
    this.store = new RedisStore(client, this.ownership, { compactAfter: options.compactAfter, ...events, beforeQuit: () => this.leave() })
    this.relays = new Relays({
      nodeId: options.nodeId,
      proof: this.relayProof,
      maxMessageBytes: options.maxMessageBytes,
      maxBufferedBytes: options.maxBufferedBytes,
      pingMs: options.pingMs,
      takeOver: (handed) => void this.takeOver(handed),
    })
    this.hook = this.roomHook()
  }

  /** Connects to Redis and checks this node may join; throws the reason it may not. */
  static async join(options: ClusterOptions, key: Uint8Array, events: StoreEvents): Promise<ClusterNode> {
    const client = await RedisClient.connect(options.redis)
    try {
      await checkJoin(client, key)
      const moved = await moveWorkspaceKeysFromGlobal(client)
      if (moved > 0) log('moved keys an earlier version wrote under {global} to their workspaces', { keys: moved })
    } catch (error) {
      await client.close()
      throw error
    }
    return new ClusterNode(client, options, events, key)
  }

  /** Starts serving once the server listens at `url`. */
  start(url: string, parts: ServerParts): void {
    this.url = this.options.advertise ?? url
    this.parts = parts
    this.ownership.start(this.url)
    this.sweeper = new Sweeper(this.client, this.ownership, (workspace) => this.resume(workspace), Math.max(100, Math.floor(this.options.ownerLeaseMs / 4)))
    const beat = () => {
      const record = JSON.stringify({ url: this.url, owns: this.ownership.size, at: Date.now() })
      this.client.redis.set(`${K.NODE_PREFIX}${this.options.nodeId}`, record, 'PX', this.options.ownerLeaseMs).catch(() => undefined)
    }
    beat()
    this.heartbeat = setInterval(beat, Math.max(100, Math.floor(this.options.ownerLeaseMs / 3)))
    this.heartbeat.unref()
    this.rebalancer = new Rebalancer(
      () => this.ownership.workspaces(),
      (workspace, to) =>
        void this.handOver(workspace, to).catch((error: Error) =>
          log('could not hand a workspace over; its lease runs out instead', { workspace, to, error: error.message }),
        ),
      this.options.ownerLeaseMs,
    )
  }

  /** A WebSocket upgrade: served here if this node owns (or can take) the workspace, else relayed. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.routeUpgrade(request, socket, head).catch((error: Error) => {
      const reason = error instanceof Moving ? error.message : `storage unavailable: ${error.message}; reconnect`
      this.relays.refuse(request, socket, head, CloseCode.tryAgainLater, reason)
    })
  }

  private async routeUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const parts = this.parts!
    if (!this.client.reachable) {
      return this.relays.refuse(
        request,
        socket,
        head,
        CloseCode.tryAgainLater,
        `storage unavailable: Redis at ${this.client.url} is unreachable; reconnect shortly`,
      )
    }
    const room = roomOf(request.url ?? '/')
    // A bad room name is the front door's to refuse, with its reason.
    if (!room) return parts.serveLocally(request, socket, head)
    const moving = this.moving.get(room.workspace)
    if (moving) throw moving
    const relayedBy = this.relayProof.relayedBy(request)
    if (relayedBy !== null) {
      if (this.ownership.epochOf(room.workspace)) return this.serve(room.workspace, relayedBy, request, socket, head)
      return this.relays.refuse(
        request,
        socket,
        head,
        CloseCode.tryAgainLater,
        `node ${this.options.nodeId} no longer serves workspace ${room.workspace}; reconnect`,
      )
    }
    const owner = await this.ownership.ensure(room.workspace)
    if (socket.destroyed) return
    if (owner.self) return this.serve(room.workspace, '', request, socket, head)
    this.relays.relay(request, socket, head, owner)
  }

  /** Serves a client here, counted by the node that relays it ('' when it connected directly). */
  private serve(workspace: string, via: string, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.rebalancer?.count(workspace, via, socket)
    this.parts!.serveLocally(request, socket, head)
  }

  /**
   * Rebalancing (rebalancer.ts decides when): the relayed clients are handed over to the nodes
   * relaying them, with their sockets open (see takeOver and handover.ts); `to` takes the lease
   * kept for it. A client that connected here directly meanwhile gets 1013 and reconnects.
   */
  private async handOver(workspace: string, to: string): Promise<void> {
    log('handing a workspace over to the node its clients connect through', { workspace, to })
    // Its rooms go first and none loads again, so nothing more is accepted here; what they
    // queued is written before the lease goes, and the new owner reads it.
    const moving = new Moving(`workspace ${workspace} moves to node ${to}, which you connect through; reconnect`)
    this.moving.set(workspace, moving)
    try {
      for (const connection of this.parts?.relayed(workspace) ?? [])
        connection.close(HANDED_OVER, handedOverReason({ session: connection.session, presence: connection.presenceClocks() }))
      this.parts?.registry.evict((room) => room.workspace === workspace, moving)
      await this.store.flush()
      this.parts?.released(workspace)
      if (await this.ownership.handOver(workspace, to)) this.handedOver++
    } finally {
      this.moving.delete(workspace)
    }
  }

  /**
   * A client this node relayed to an owner that handed its workspace over stays connected: once
   * the workspace has its new owner, this node serves it as a direct client if that is this node,
   * else relays it there; if no new owner comes, the client gets 1013.
   */
  private async takeOver(handed: HandedOver): Promise<void> {
    const workspace = roomOf(handed.path)?.workspace ?? null
    const owner = await this.newOwners.of(handed, workspace)
    if (!owner || workspace === null) return
    this.takenOver++
    if (!owner.self) return this.relays.resume(handed, owner)
    this.rebalancer?.count(workspace, '', handed.client)
    this.parts!.adopt(handed)
  }

  /**
   * Keeps the share links and revocations `reload` reads current with what other nodes write;
   * returns what to await before judging a credential (see credentials.ts).
   */
  watchCredentials(reload: () => Promise<void>): () => Promise<void> {
    this.credentials = new CredentialSync(this.client, reload)
    const credentials = this.credentials
    return () => credentials.fresh()
  }

  /**
   * REST calls about a workspace go to its owner, like its WebSockets; so do redemptions of a share
   * link (`linkWorkspace` names its workspace), so one node counts a link's uses.
   */
  apiRoute(linkWorkspace: (id: string) => Promise<string | undefined>): Route {
    return async (request, response, url) => {
      if (this.relayProof.relayedBy(request) !== null) return false
      const id = redeemedLinkOf(url.pathname)
      const workspace = id !== undefined ? await linkWorkspace(id) : workspaceOf(url.pathname)
      // Unknown or malformed: the local API answers with its reason.
      if (workspace === undefined) return false
      let owner: Owner
      try {
        const moving = this.moving.get(workspace)
        if (moving) throw moving
        owner = await this.ownership.ensure(workspace)
      } catch (error) {
        if (!(error instanceof Moving)) throw error
        response.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' })
        response.end(JSON.stringify({ error: error.message }))
        return true
      }
      if (owner.self) return false
      proxyHttp(request, response, owner, { ...this.addresses.headers(request), ...this.relayProof.headers(this.options.nodeId) })
      return true
    }
  }

  /** For /healthz. */
  health(): Record<string, unknown> {
    const owns = this.ownership.workspaces()
    return {
      cluster: {
        node: this.options.nodeId,
        url: this.url,
        redis: this.client.reachable ? 'reachable' : 'unreachable',
        role: owns.length > 0 ? `owner of ${owns.length} workspace${owns.length === 1 ? '' : 's'}` : 'relay only',
        owns: owns.sort(),
        relayedConnections: this.relays.size,
      },
    }
  }

  registerMetrics(registry: MetricsRegistry): void {
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value())
        },
      })
    gauge('huddle_cluster_owned_workspaces', 'Workspaces whose lease this node holds', () => this.ownership.size)
    gauge('huddle_cluster_leases_acquired', 'Leases this node has taken since it started', () => this.ownership.acquired)
    gauge('huddle_cluster_leases_lost', 'Leases this node lost (ran out or taken by another node) since it started', () => this.ownership.lost)
    gauge('huddle_cluster_relayed_connections', 'Client connections this node relays to other owners', () => this.relays.size)
    gauge('huddle_cluster_relays_opened', 'Client connections relayed since start', () => this.relays.opened)
    gauge('huddle_cluster_relay_frames_to_owner', 'Frames relayed from clients to owner nodes since start', () => this.relays.framesToOwner)
    gauge('huddle_cluster_relay_frames_from_owner', 'Frames relayed from owner nodes to clients since start', () => this.relays.framesFromOwner)
    gauge('huddle_cluster_workspaces_handed_over', 'Workspaces this node handed over to the node their clients connect through', () => this.handedOver)
    gauge(
      'huddle_cluster_clients_taken_over',
      'Clients this node kept connected when their workspace moved (served here, or relayed to the new owner)',
      () => this.takenOver,
    )
    gauge('huddle_cluster_redis_up', '1 while Redis is reachable', () => (this.client.reachable ? 1 : 0))
  }

  /** Rooms load only on the owner; it gives a workspace up once its last room unloads idle. */
  private roomHook(): DocumentHook {
    return {
      matches: () => true,
      beforeLoad: async (room: RoomName) => {
        if (!this.ownership.epochOf(room.workspace)) throw new Fenced(`node ${this.options.nodeId} does not own workspace ${room.workspace}; reconnect`)
        const moving = this.moving.get(room.workspace)
        if (moving) throw moving
      },
      onLoad: (room: RoomName) => {
        this.loaded.set(room.workspace, (this.loaded.get(room.workspace) ?? 0) + 1)
      },
      onUnload: (room: RoomName, _doc, reason: UnloadReason) => {
        const left = (this.loaded.get(room.workspace) ?? 1) - 1
        if (left > 0) return void this.loaded.set(room.workspace, left)
        this.loaded.delete(room.workspace)
        if (reason === 'idle') void this.releaseIdle(room.workspace)
      },
    }
  }

  /** Webhook deliveries still under way keep the lease: they run on the owner only. */
  private async releaseIdle(workspace: string): Promise<void> {
    try {
      await this.store.flush()
      if (this.loaded.has(workspace) || !this.ownership.epochOf(workspace)) return
      if (this.parts?.busy(workspace)) {
        setTimeout(() => void this.releaseIdle(workspace), this.options.ownerLeaseMs).unref()
        return
      }
      this.parts?.released(workspace)
      await this.ownership.release(workspace, true)
    } catch (error) {
      log('could not release an idle workspace; its lease runs out instead', { workspace, error: (error as Error).message })
    }
  }

  /** After a crash of its owner: load the coordination document so its authority runs its timers. */
  private async resume(workspace: string): Promise<void> {
    const owner: Owner = await this.ownership.ensure(workspace)
    if (!owner.self || !this.parts) return
    log('resuming a workspace whose owner is gone', { workspace, epoch: owner.epoch })
    await this.parts.registry.open({ room: workspace, workspace, path: null })
  }

  private lost(workspace: string, reason: string): void {
    log('this node no longer owns a workspace; closing its rooms', { workspace, reason })
    this.parts?.released(workspace)
    this.parts?.registry.evict(
      (room) => room.workspace === workspace,
      new Fenced(`node ${this.options.nodeId} no longer owns workspace ${workspace}; reconnect`),
    )
  }

  /** At shutdown, after the last writes: leases go, so other nodes take over at once. */
  private async leave(): Promise<void> {
    this.sweeper?.stop()
    this.credentials?.stop()
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.rebalancer?.stop()
    this.relays.closeAll(CloseCode.shuttingDown, 'server shutting down; reconnect shortly')
    this.relays.close()
    await this.ownership.releaseAll()
    await this.client.redis.del(`${K.NODE_PREFIX}${this.options.nodeId}`).catch(() => undefined)
  }
}
