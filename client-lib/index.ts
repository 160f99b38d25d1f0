// The Huddle client library, for browsers and Node. It imports nothing Node-only: in Node, pass
// a WebSocket implementation (`ws`) or import `./node.js`, which does.
import type * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import { checkSession, checkWorkspace } from '../shared/names.js'
import { type ActivityEntry, ActivityFeed } from './activity.js'
import { HuddleApi } from './api.js'
import { Approvals } from './approvals.js'
import { Audit } from './audit.js'
import { type ConnectionState, type StateChange, WorkspaceConnection } from './connection.js'
import type { ClientContext } from './context.js'
import { Docs } from './docs.js'
import { ChangeSets } from './changesets.js'
import { check, HuddleError } from './errors.js'
import type { TokenIdentity } from './identity.js'
import { newSessionId } from './ids.js'
import { COORD, META } from '../shared/coordination.js'
import { Locks } from './locks.js'
import { Presence } from './presence.js'
import { serverUrls } from './urls.js'

export interface ConnectOptions {
  /** the server: http://host:port or ws://host:port (https/wss behind TLS) */
  url: string
  workspace: string
  /** a JWT from `huddle token` or a share link */
  token: string
  /** 16-64 characters of [A-Za-z0-9_-]; default: a new random one. Kept across reconnects. */
  session?: string
  /** the WebSocket class; default: the global one (browsers). In Node, pass `ws`'s WebSocket. */
  WebSocket?: typeof WebSocket
  /** the server's --lease-grace: how long a lock outlives a disconnect (default: what the server publishes) */
  leaseGraceMs?: number
  /** the longest pause between reconnect attempts (default 2500 ms; the backoff doubles up to it) */
  maxBackoffMs?: number
  /** give up when the first sync takes longer (default 10 s) */
  connectTimeoutMs?: number
}

const DEFAULT_GRACE_MS = 15_000

/** A live connection to one workspace's coordination document. */
export class Huddle {
  readonly locks: Locks
  readonly approvals: Approvals
  readonly presence: Presence
  readonly audit: Audit
  readonly api: HuddleApi
  /** content documents as text, and their history (client-lib/docs.ts, history.ts) */
  readonly docs: Docs
  /** proposed edits of several documents, applied all at once (client-lib/changesets.ts) */
  readonly changesets: ChangeSets

  /** @internal use `connect()` */
  constructor(
    private readonly ctx: ClientContext,
    readonly workspace: string,
  ) {
    this.api = ctx.api
    this.locks = new Locks(ctx)
    this.approvals = new Approvals(ctx)
    this.presence = new Presence(ctx)
    const closed = new AbortController()
    ctx.conn.on('state', (change) => change.state === 'closed' && closed.abort())
    this.audit = new Audit(ctx.api, (listener) => ctx.feed.subscribe(listener), closed.signal)
    this.docs = new Docs(ctx, workspace)
    this.changesets = new ChangeSets(ctx.api, () => ctx.session)
  }

  /** This client's session id (the prefix of its claim and approval keys). */
  get session(): string {
    return this.ctx.session
  }

  /** Who the token says we are. */
  get identity(): TokenIdentity {
    return this.ctx.identity
  }

  /** The coordination document. Read it freely; write only through this library. */
  get doc(): Y.Doc {
    return this.ctx.conn.doc
  }

  get provider(): WebsocketProvider {
    return this.ctx.conn.provider
  }

  get state(): ConnectionState {
    return this.ctx.conn.state
  }

  /** Calls `listener` on every connection state change; returns the unsubscribe function. */
  onState(listener: (change: StateChange) => void): () => void {
    return this.ctx.conn.on('state', listener)
  }

  /** Calls `listener` for every new activity entry (the recent audit events the server mirrors). */
  onActivity(listener: (entry: ActivityEntry) => void): () => void {
    return this.ctx.feed.subscribe(listener)
  }

  /** Closes every open document, releases every lock, withdraws every waiting claim, and closes the connection. */
  async close(): Promise<void> {
    this.docs.closeAll()
    if (this.ctx.conn.state === 'closed') return
    await this.locks.releaseAll()
    this.ctx.conn.close()
  }
}

/** Connects and resolves after the first sync, or rejects with what to fix. */
export async function connect(options: ConnectOptions): Promise<Huddle> {
  check(checkWorkspace(options.workspace))
  const session = options.session ?? newSessionId()
  check(checkSession(session))
  const api = new HuddleApi(options)
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket
  if (!WebSocketImpl)
    throw new HuddleError(
      'invalid-argument',
      'no WebSocket here: pass {WebSocket} (in Node: import { WebSocket } from "ws"), or import the client from its node entry',
    )
  if (options.leaseGraceMs !== undefined && !(options.leaseGraceMs > 0))
    throw new HuddleError('invalid-argument', `leaseGraceMs must be a positive number of milliseconds, not ${options.leaseGraceMs}`)
  const conn = new WorkspaceConnection({
    wsUrl: serverUrls(options.url).ws,
    workspace: options.workspace,
    token: options.token,
    session,
    WebSocket: WebSocketImpl,
    maxBackoffMs: options.maxBackoffMs ?? 2500,
  })
  const { doc } = conn
  const ctx: ClientContext = {
    conn,
    session,
    identity: api.identity,
    feed: new ActivityFeed(doc.getArray<ActivityEntry>(COORD.activity)),
    api,
    // The server publishes its --lease-grace in `meta`; an explicit option overrides it.
    get leaseGraceMs() {
      const published = doc.getMap(COORD.meta).get(META.leaseGraceMs)
      return options.leaseGraceMs ?? (typeof published === 'number' && published > 0 ? published : DEFAULT_GRACE_MS)
    },
    maps: {
      claims: doc.getMap(COORD.claims),
      locks: doc.getMap(COORD.locks),
      queue: doc.getMap(COORD.queue),
      outcomes: doc.getMap(COORD.outcomes),
      approvals: doc.getMap(COORD.approvals),
      sessions: doc.getMap(COORD.sessions),
    },
  }
  const huddle = new Huddle(ctx, options.workspace)
  try {
    await conn.firstSync(options.connectTimeoutMs ?? 10_000)
  } catch (error) {
    conn.close()
    throw error
  }
  return huddle
}

export { HuddleApi, type ApiOptions, type AuditEntry, type AuditPage } from './api.js'
export type { ActivityEntry } from './activity.js'
export type { ApprovalHandle, DecidedOptions, RequestOptions } from './approvals.js'
export type { Approvals } from './approvals.js'
export type { Audit, FollowOptions } from './audit.js'
export type { ConnectionState, StateChange } from './connection.js'
export type { ChangeSetInfo, ChangeSets, ChangeSetStatus, ProposeOptions } from './changesets.js'
export { DEFAULT_TEXT, type DocumentConflict, DocumentHandle, type DocumentInfo, type Docs, type OpenOptions, type TextChange } from './docs.js'
export { HuddleError, type ErrorCode } from './errors.js'
export { inboxItems, type InboxItem, type InboxKind, type InboxPerson } from './inbox.js'
export { verifyWebhook, type VerifyOptions, type WebhookEvent, type WebhookHeaders } from './webhooks.js'
export {
  DocumentHistory,
  type BlameLine,
  type DiffChange,
  type DiffOptions,
  type DocDiff,
  type LastEdit,
  type VersionActor,
  type VersionContent,
  type VersionInfo,
} from './history.js'
export type { TokenIdentity } from './identity.js'
export { Lock, type AcquireOptions, type Blocker, type Locks, type WaitInfo } from './locks.js'
export { connectLocks, LockClient, type LockClientOptions, type LockOnlyAcquireOptions } from './lock-only.js'
export { PRESENCE_STATUSES, type OnlineMember, type Presence, type PresenceStatus, type PresenceUpdate } from './presence.js'
export { type ApprovalInfo, type LockInfo, type VoteInfo, displayIds, findApproval, isFinal } from './views.js'
export type { ApprovalCancel, ApprovalRequest, ApprovalState, ApprovalStatus, Decision, LockHolder, LockMode, LockWaiter } from '../shared/coordination.js'
