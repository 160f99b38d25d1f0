// Assembles the server: storage, rooms, the WebSocket front door and HTTP, and shuts them down in
// the order that loses nothing: stop accepting, flush, close sockets with 1001, close the database.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { CloseCode } from '../shared/close-codes.js'
import type { RoomName } from '../shared/names.js'
import { SessionBindings } from './auth/sessions.js'
import type { ServerOptions } from './config.js'
import { healthRoute, metricsRoute, notFound, type Route, sendJson } from './http/routes.js'
import { log } from './log.js'
import { createMetrics } from './metrics.js'
import type { Refusal } from './net/connection.js'
import { LogThrottle } from './net/rate-limit.js'
import { WebSocketEndpoint } from './net/websocket.js'
import { type DocumentHook, TryAgainLater } from './rooms/hooks.js'
import { Registry } from './rooms/registry.js'
import type { Room } from './rooms/room.js'
import { Store } from './store/index.js'
import type { Storage } from './store/storage.js'
import { ClusterNode } from './cluster/node.js'
import { Fenced } from './cluster/redis.js'
import { AuditLog } from './audit/log.js'
import { CoordinationAuthority } from './authority/coordination.js'
import { DocumentGuard } from './documents/guard.js'
import { apiRoute } from './http/api.js'
import { dashboardRoute } from './http/dashboard.js'
import { requestUrl } from './http/request.js'
import { ShareLinks } from './auth/share-links.js'
import { FailedAttempts } from './auth/attempts.js'
import { RevokedTokens } from './auth/revoked-tokens.js'
import type { RevocationCheck } from './auth/tokens.js'
import { webhooksRoute } from './http/webhooks-api.js'
import { Webhooks } from './webhooks/service.js'
import { WaitingClaims } from './webhooks/waiting.js'
import { historyRecorder, retentionSweeper } from './history/index.js'
import { HistoryService } from './history/service.js'
import { historyRoute } from './http/history-api.js'
import { ChangeSets } from './documents/changesets.js'
import { changesetsRoute } from './http/changesets-api.js'

export interface HuddleServer {
  port: number
  host: string
  store: Storage
  /** this node, in cluster mode (--redis) */
  cluster: ClusterNode | null
  registry: Registry
  audit: AuditLog
  authority: CoordinationAuthority
  webhooks: Webhooks
  close(): Promise<void>
}

export interface StartOptions extends ServerOptions {
  key: Uint8Array
  /** validators for a deployment's own documents, run after the built-in authority */
  hooks?: DocumentHook[]
}

export async function startServer(options: StartOptions): Promise<HuddleServer> {
  // The gauges are read at scrape time, after `door` and `rooms` below exist.
  const metrics = createMetrics({ connections: () => door.connections.size, documents: () => rooms.size })
  const storeEvents = {
    onError: (error: Error) => log('background compaction failed; the update log is kept and retried later', { error: error.message }),
    onBatch: (durationMs: number) => {
      metrics.batches.inc()
      metrics.persistSeconds.observe(durationMs / 1000)
    },
    onCompacted: (from: 'live' | 'log') => metrics.compactions.labels(from).inc(),
  }
  const cluster = options.redis === null ? null : await ClusterNode.join(clusterOptions(options), options.key, storeEvents)
  const store: Storage = cluster
    ? cluster.store
    : await Store.open({ dir: options.memory ? null : options.dataDir, durability: options.durability, compactAfter: options.compactAfter, ...storeEvents })
  const links = await ShareLinks.load(store, options.key)
  const revokedTokens = await RevokedTokens.load(store)
  const revoked: RevocationCheck = (identity) => revokedTokens.reason(identity) ?? (identity.link ? links.revokedReason(identity.link) : null)
  const fresh = cluster?.watchCredentials(async () => {
    await Promise.all([links.reload(), revokedTokens.reload()])
  })
  const audit = new AuditLog(store)
  const auth = { key: options.key, revoked, audit, ...(fresh ? { fresh } : {}) }
  const sessions = new SessionBindings(store)
  sessions.prune().catch((error: Error) => log('could not drop expired session bindings; retried at the next start', { error: error.message }))
  const authority = new CoordinationAuthority(store, audit, { leaseGraceMs: options.leaseGraceMs })
  const recorder = options.history ? historyRecorder(store, options) : null
  const sweeper = options.history ? retentionSweeper(store, options) : null
  sweeper?.start()
  let resumed: Promise<void> = Promise.resolve()
  const guard = new DocumentGuard({ holders: (workspace, resource) => authority.holders(workspace, resource), resumed: () => resumed })
  const changesets: ChangeSets = new ChangeSets({
    store,
    audit,
    recorder,
    authority: (workspace) => authority.get(workspace),
    holders: (workspace, resource) => authority.holders(workspace, resource),
    openRoom: (room): Promise<Room> => rooms.open(room),
  })
  // The change sets' hook comes after the authority's: it reads the state the authority loaded.
  const hooks = [...(cluster ? [cluster.hook] : []), authority, changesets.resumeHook(), guard, ...(recorder ? [recorder] : []), ...(options.hooks ?? [])]
  const hooksFor = (room: RoomName) => hooks.filter((hook) => hook.matches(room))
  const rooms = new Registry({
    loadDoc: (room) => store.loadDoc(room),
    forgetDoc: (room) => store.forget(room),
    trackDoc: (room, live) => store.track?.(room, live),
    appendUpdate: (room, update, batch) => store.appendUpdate(room, update, batch),
    prepare: (room) => audit.ready(room.workspace),
    recordRefusal: (room, writer, reason, detail) =>
      audit.append(room.workspace, { type: 'refused', actor: writer.identity.actor, session: writer.session, data: { reason, room: room.room, ...detail } }),
    countSent: (sockets, frame) => metrics.traffic.countSent(sockets, frame.payloads.length, frame.bytes),
    hooksFor,
    pacing: { share: options.broadcastShare },
    onFailed: (room, error, cause) => {
      if (cause === 'hook') {
        log('a document hook failed; its changes were discarded and the document reloads from storage', { room: room.name.room, error: error.stack })
        for (const member of [...room.members])
          member.refuse(CloseCode.internalError, 'the document was reloaded after an internal error (nothing you saved was lost); reconnect to resync')
        return
      }
      // A lost lease (cluster mode) leaves the other workspaces' heads current and still in use.
      if (error instanceof Fenced) audit.markStale(room.name.workspace)
      else audit.markStale()
      log('storage failure; closing the document', { room: room.name.room, error: error.message })
      // Redis gone or the room's ownership moved (cluster mode): nothing is wrong with the client.
      const [code, reason] =
        error instanceof TryAgainLater
          ? [CloseCode.tryAgainLater, error.message]
          : [CloseCode.internalError, 'storage failure: your last change was not saved; reconnect to retry']
      for (const member of [...room.members]) member.refuse(code, reason)
    },
    unloadAfterMs: options.unloadAfterMs,
  })
  const refused = (refusal: Refusal) => {
    metrics.refusals.labels(String(refusal.code)).inc()
    log('refused', { code: refusal.code, reason: refusal.reason, room: refusal.room?.room, actor: refusal.actor, session: refusal.session })
    if (!refusal.room) return
    audit
      .appendLater(refusal.room.workspace, {
        type: 'refused',
        ...(refusal.actor ? { actor: refusal.actor } : {}),
        ...(refusal.session ? { session: refusal.session } : {}),
        data: { code: refusal.code, reason: refusal.reason, room: refusal.room.room },
      })
      .catch((error: Error) => log('audit entry not written', { error: error.message }))
  }
  // No verified identity for the workspace: nothing goes into its audit chain (anyone could write
  // there, and create the workspace by doing so), only into the counter and, throttled, the log.
  const throttle = new LogThrottle(20, 10_000)
  const unverified = (refusal: Refusal) => {
    metrics.refusals.labels(String(refusal.code)).inc()
    metrics.unverifiedRefusals.labels(String(refusal.code)).inc()
    if (throttle.allow((count) => log('refused connections not logged (over 20 per 10 s)', { count }))) {
      log('refused before authentication', { code: refusal.code, reason: refusal.reason, room: refusal.room?.room, actor: refusal.actor })
    }
  }
  // Forgeries were audited by the room when the hook refused them, in the batch of the undo.
  const forged = (refusal: Refusal) => {
    metrics.refusals.labels(String(refusal.code)).inc()
    log('write refused', { reason: refusal.reason, room: refusal.room?.room, actor: refusal.actor, session: refusal.session })
  }
  const door = new WebSocketEndpoint(options, {
    ...auth,
    sessions,
    registry: rooms,
    events: {
      onMessage: (type, bytes) => metrics.traffic.countReceived(type, bytes),
      onRefusal: refused,
      onForgery: forged,
    },
    onUnverified: unverified,
  })

  let dashboardUrl = options.publicUrl ?? ''
  const webhooks = await Webhooks.start(
    store,
    audit,
    {
      allowPrivate: options.webhooksAllowPrivate,
      retryScale: options.webhooksRetryScale,
      timeoutMs: options.webhooksTimeoutMs,
      dashboardUrl: () => dashboardUrl,
      slackIntervalMs: 1000,
    },
    options.key,
    cluster !== null,
  )
  const waiting = new WaitingClaims(audit, options.lockWaitingMs)
  const routes: Route[] = [
    healthRoute({
      startedAt: Date.now(),
      documents: () => rooms.size,
      connections: () => door.connections.size,
      ...(cluster ? { extra: () => cluster.health() } : {}),
    }),
    metricsRoute(metrics),
    dashboardRoute(),
    ...(cluster
      ? [
          cluster.apiRoute(async (id) => {
            await fresh?.()
            return links.workspaceOf(id)
          }),
        ]
      : []),
    webhooksRoute({ ...auth, webhooks, allowPrivate: options.webhooksAllowPrivate }),
    ...(recorder
      ? [
          historyRoute({
            ...auth,
            listDocuments: (workspace) => listDocuments(store, workspace),
            history: new HistoryService({
              store,
              recorder,
              audit,
              openRoom: (room) => rooms.open(room),
              guard: (room, writer) => guard.refusal(room, writer),
            }),
          }),
        ]
      : []),
    changesetsRoute({ ...auth, changesets }),
    apiRoute({
      ...auth,
      links,
      linkAttempts: new FailedAttempts(options.linkAttemptsPerMinute),
      ...(cluster ? { clientAddress: (request: IncomingMessage) => cluster.addresses.of(request) } : {}),
      revokedTokens,
      listDocuments: (workspace) => listDocuments(store, workspace),
      authority,
      openWorkspace: (workspace) => rooms.open({ room: workspace, workspace, path: null }),
    }),
  ]
  const http = createServer((request, response) => {
    const url = requestUrl(request.url)
    if (!url) return sendJson(response, 400, { error: 'malformed request target: send a path like /api/workspaces/<ws>/audit' })
    route(routes, request, response, url).catch((error: Error) => {
      log('http handler failed', { path: url.pathname, error: error.message })
      if (!response.headersSent) sendJson(response, 500, { error: `internal error: ${error.message}` })
    })
  })
  http.on('upgrade', (request, socket, head) => (cluster ? cluster.upgrade(request, socket, head) : door.handleUpgrade(request, socket, head)))
  cluster?.registerMetrics(metrics.registry)
  await listen(http, options.port, options.host)
  const address = http.address() as AddressInfo
  dashboardUrl ||= `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${address.port}`

  // In a cluster the owner of a workspace resumes it, or the sweeper after its owner died.
  if (cluster)
    cluster.start(`http://${options.host}:${address.port}`, {
      registry: rooms,
      serveLocally: (request, socket, head) => door.handleUpgrade(request, socket, head),
      adopt: (handed) => door.adopt(handed),
      relayed: (workspace) => door.relayed((room) => room.workspace === workspace),
      acquired: (workspace) => {
        audit.markStale(workspace)
        webhooks.take(workspace)
      },
      released: (workspace) => void webhooks.drop(workspace),
      busy: (workspace) => webhooks.busy(workspace),
    })
  else resumed = resumeWorkspaces(audit, rooms)

  let closing: Promise<void> | null = null
  return {
    port: address.port,
    host: options.host,
    store,
    cluster,
    registry: rooms,
    audit,
    authority,
    webhooks,
    close: () => {
      waiting.close()
      changesets.close()
      return (closing ??= webhooks
        .close()
        .then(() => sweeper?.stop())
        .then(() => shutdown(http, door, rooms, store)))
    },
  }
}

function clusterOptions(options: StartOptions) {
  return {
    redis: options.redis!,
    nodeId: options.nodeId || `${hostname()}-${process.pid}`,
    ownerLeaseMs: options.ownerLeaseMs,
    ...(options.advertise ? { advertise: options.advertise } : {}),
    compactAfter: options.compactAfter,
    maxMessageBytes: options.maxMessageBytes,
    maxBufferedBytes: options.maxBufferedBytes,
    pingMs: options.pingMs,
  }
}

/**
 * After a restart, load every workspace once so its authority picks up what is due: grace periods
 * of sessions that were connected, lock and approval deadlines. Workspaces with nothing pending
 * unload again after the idle delay.
 */
async function resumeWorkspaces(audit: AuditLog, rooms: Registry): Promise<void> {
  try {
    for (const workspace of await audit.workspaces()) await rooms.open({ room: workspace, workspace, path: null })
  } catch (error) {
    log('could not resume workspaces after start; they resume when next opened', { error: (error as Error).message })
  }
}

/** Content documents of a workspace, without the dashboard's own bookkeeping under `.huddle/`. */
async function listDocuments(store: Storage, workspace: string): Promise<string[]> {
  const rooms = await store.listDocs(`${workspace}/`)
  return rooms.map((room) => room.slice(workspace.length + 1)).filter((path) => !path.startsWith('.huddle/'))
}

async function route(routes: Route[], request: Parameters<Route>[0], response: Parameters<Route>[1], url: URL): Promise<void> {
  for (const handler of routes) if (await handler(request, response, url)) return
  notFound(response, url)
}

/**
 * Connections the kernel may hold before the server accepts them (capped by net.core.somaxconn).
 * Node's default, 511, overflows when a thousand clients reconnect at once after a restart: the
 * dropped handshakes are retried by the clients' kernels only a second later.
 */
const LISTEN_BACKLOG = 4096

function listen(http: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is in use: stop the other server or pass --port <another port>`) : error)
    })
    http.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve())
  })
}

async function shutdown(http: Server, endpoint: WebSocketEndpoint, registry: Registry, store: Storage): Promise<void> {
  endpoint.stopAccepting()
  http.close()
  await store.flush()
  endpoint.closeAll(CloseCode.shuttingDown, 'server shutting down; reconnect shortly')
  endpoint.close()
  registry.closeAll()
  await store.close()
  http.closeAllConnections()
}
