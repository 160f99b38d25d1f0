// Clients of a workspace's coordination document for the authority's end-to-end tests: the
// identities, the stock y-websocket peers and fixture processes, the legitimate writes they make
// (recorded in the ledger the Watcher judges against) and waiting for what they see.
import * as Y from 'yjs'
import {
  type ApprovalRequest,
  type ClaimValue,
  COORD,
  COORDINATION_TYPES,
  type LockValue,
  lockQueues,
  type OutcomeValue,
  type QueueEntry,
  voteField,
} from '../../shared/coordination.js'
import type { Kind, Role } from '../../shared/roles.js'
import { connectPeer, mintToken, newSession, type Peer, type PeerOptions, waitFor } from './clients.js'
import { ChildScript, distScript, type ServerLike, type TestServer } from './server.js'

// ---------------------------------------------------------------------------------------------
// identities and the ledger of legitimate writes

export interface Who {
  actor: string
  role: Role
  kind: Kind
  token: string
}

export async function who(actor: string, role: Role, kind: Kind = 'human', workspace = '*'): Promise<Who> {
  ledger.identities.set(actor, { role, kind })
  return { actor, role, kind, token: await mintToken(actor, role, workspace, { kind }) }
}

/**
 * Everything the tests did on purpose. The watcher judges what it sees against it: whatever is
 * in the document and not here (or not allowed by the rules) is a forgery that got through.
 */
export const ledger = {
  /** client id → its session and actor (the test's own clients) */
  clients: new Map<number, { session: string; actor: string }>(),
  /** session id → actor */
  sessions: new Map<string, string>(),
  identities: new Map<string, { role: Role; kind: Kind }>(),
  /** claim key → the value its session wrote */
  claims: new Map<string, ClaimValue>(),
  /** claim keys their session deleted */
  released: new Set<string>(),
  /** approval key → the request its session wrote */
  requests: new Map<string, ApprovalRequest>(),
  registerClient(clientID: number, session: string, actor: string): void {
    ledger.clients.set(clientID, { session, actor })
    ledger.sessions.set(session, actor)
  },
}

// ---------------------------------------------------------------------------------------------
// clients of the coordination document

export interface CoordPeer extends Peer {
  session: string
  who: Who
  workspace: string
}

export interface JoinOptions extends Omit<PeerOptions, 'token' | 'session'> {
  session?: string
}

/** A stock y-websocket provider on room `<workspace>` with `params: {token, session}`. */
export async function joinCoord(server: ServerLike, workspace: string, identity: Who, options: JoinOptions = {}): Promise<CoordPeer> {
  const session = options.session ?? newSession()
  const doc = options.doc ?? new Y.Doc()
  ledger.registerClient(doc.clientID, session, identity.actor)
  const peer = await connectPeer(server as TestServer, workspace, { ...options, doc, token: identity.token, session })
  return Object.assign(peer, { session, who: identity, workspace })
}

export const claimsOf = (doc: Y.Doc) => doc.getMap<ClaimValue>(COORD.claims)
export const locksOf = (doc: Y.Doc) => doc.getMap<LockValue>(COORD.locks)
export const queueMapOf = (doc: Y.Doc) => doc.getMap<QueueEntry>(COORD.queue)
export const outcomesOf = (doc: Y.Doc) => doc.getMap<OutcomeValue>(COORD.outcomes)
export const approvalsOf = (doc: Y.Doc) => doc.getMap<Y.Map<unknown>>(COORD.approvals)

/** Claims `resources` under `<session>:<id>` (recorded as legitimate); returns the claim key. */
export function claim(peer: CoordPeer, id: string, value: ClaimValue): string {
  const key = `${peer.session}:${id}`
  ledger.claims.set(key, JSON.parse(JSON.stringify(value)) as ClaimValue)
  claimsOf(peer.doc).set(key, value)
  return key
}

/** Deletes the peer's own claim: release, or cancel while queued. */
export function release(peer: CoordPeer, key: string): void {
  ledger.released.add(key)
  claimsOf(peer.doc).delete(key)
}

export async function waitOutcome(
  peer: Peer,
  key: string,
  states: string[] = ['granted', 'timeout', 'expired', 'revoked', 'invalid'],
  timeoutMs = 8000,
): Promise<OutcomeValue> {
  return waitFor(
    () => {
      const outcome = outcomesOf(peer.doc).get(key)
      return outcome && states.includes(outcome.state) ? outcome : null
    },
    timeoutMs,
    () =>
      `claim ${key}: no outcome in ${states.join('/')} (outcome: ${JSON.stringify(outcomesOf(peer.doc).get(key))}, locks: ${JSON.stringify(locksOf(peer.doc).toJSON())})`,
  )
}

export function holdersOf(doc: Y.Doc, resource: string): string[] {
  return (locksOf(doc).get(resource)?.holders ?? []).map((holder) => holder.claim)
}

/** The claim keys waiting for `resource`, in arrival order (`queue` entries sorted by seq). */
export function queueOf(doc: Y.Doc, resource: string): string[] {
  return (lockQueues(queueMapOf(doc).entries()).get(resource) ?? []).map((waiter) => waiter.claim)
}

export function queueEntryOf(doc: Y.Doc, key: string): QueueEntry | undefined {
  return queueMapOf(doc).get(key)
}

/** Creates the approval's Y.Map with its request, in one transaction; returns the key. */
export function requestApproval(peer: CoordPeer, id: string, fields: Omit<ApprovalRequest, 'requester'> & { requester?: string }): string {
  const key = `${peer.session}:${id}`
  const value: ApprovalRequest = { requester: peer.who.actor, ...fields }
  ledger.requests.set(key, JSON.parse(JSON.stringify(value)) as ApprovalRequest)
  const map = new Y.Map<unknown>()
  peer.doc.transact(() => {
    approvalsOf(peer.doc).set(key, map)
    map.set('request', value)
  })
  return key
}

export function approvalMap(doc: Y.Doc, key: string): Y.Map<unknown> {
  const map = approvalsOf(doc).get(key)
  if (!(map instanceof Y.Map)) throw new Error(`no approval map ${key} (have ${[...approvalsOf(doc).keys()].join(', ')})`)
  return map
}

export function vote(peer: CoordPeer, key: string, decision: 'approve' | 'reject', reason?: string): void {
  approvalMap(peer.doc, key).set(voteField(peer.who.actor), { decision, at: Date.now(), ...(reason ? { reason } : {}) })
}

export function cancelApproval(peer: CoordPeer, key: string, reason?: string): void {
  approvalMap(peer.doc, key).set('cancel', { at: Date.now(), ...(reason ? { reason } : {}) })
}

export interface StatusValue {
  state: string
  at: number
  by?: string[]
  reason?: string
}

export function statusOf(doc: Y.Doc, key: string): StatusValue | undefined {
  const map = approvalsOf(doc).get(key)
  return map instanceof Y.Map ? (map.get('status') as StatusValue | undefined) : undefined
}

export async function waitStatus(peer: Peer, key: string, state: string, timeoutMs = 8000): Promise<StatusValue> {
  return waitFor(
    () => {
      const status = statusOf(peer.doc, key)
      return status?.state === state ? status : null
    },
    timeoutMs,
    () => `approval ${key}: status never became ${state} (is ${JSON.stringify(statusOf(peer.doc, key))})`,
  )
}

/** The coordination document as JSON, plus any other top-level type that holds live content. */
export function coordJson(doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of COORDINATION_TYPES) out[name] = sortKeys(name === 'activity' ? doc.getArray(name).toJSON() : doc.getMap(name).toJSON())
  for (const [name, type] of doc.share) {
    if (!(COORDINATION_TYPES as readonly string[]).includes(name)) {
      if (hasLiveContent(type)) out[`unknown:${name}`] = true
    } else if (name !== 'activity') {
      // list content inside a map type is invisible to toJSON()
      let items = 0
      for (let item = type._start; item !== null; item = item.right) if (!item.deleted) items++
      if (items > 0) out[`list:${name}`] = items
    }
  }
  return out
}

/** A JSON value with every object's keys sorted (Yjs map order differs between replicas). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  )
}

/** Canonical JSON text: equal values give equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

/** Waits until `peer`'s document equals the watcher's (the server's corrections reached both). */
export async function waitConverged(peer: Peer, reference: Peer, timeoutMs = 5000): Promise<void> {
  await waitFor(
    () => JSON.stringify(coordJson(peer.doc)) === JSON.stringify(coordJson(reference.doc)),
    timeoutMs,
    () => `documents differ:\n peer:    ${JSON.stringify(coordJson(peer.doc))}\n watcher: ${JSON.stringify(coordJson(reference.doc))}`,
  )
}

/** Waits until `observer` has integrated everything `writer` has written so far. */
export async function waitSeen(observer: Peer, writer: Peer, timeoutMs = 5000): Promise<void> {
  const target = Y.getState(writer.doc.store, writer.doc.clientID)
  await waitFor(
    () => Y.getState(observer.doc.store, writer.doc.clientID) >= target,
    timeoutMs,
    () => `the observer never received client ${writer.doc.clientID}'s clock ${target}`,
  )
}

/** Distinct client ids in a document's state vector. */
export function clientIds(doc: Y.Doc): Set<number> {
  return new Set(Y.decodeStateVector(Y.encodeStateVector(doc)).keys())
}

// biome-ignore lint/suspicious/noExplicitAny: any shared type, whatever its event type
export function hasLiveContent(type: Y.AbstractType<any>): boolean {
  for (const item of type._map.values()) if (!item.deleted) return true
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) return true
  return false
}

// ---------------------------------------------------------------------------------------------
// fixture client processes and waiting

/** A fixture client process (tests/fixtures/coord-client.ts) connected to `workspace`. */
export function runCoordClient(server: ServerLike, workspace: string, identity: Who, session: string, env: Record<string, string>): ChildScript {
  ledger.sessions.set(session, identity.actor)
  return ChildScript.run(distScript('tests/fixtures/coord-client.js'), {
    HUDDLE_URL: server.wsUrl,
    HUDDLE_TOKEN: identity.token,
    HUDDLE_WORKSPACE: workspace,
    HUDDLE_SESSION: session,
    ...env,
  })
}

/** Registers a fixture client's Yjs client id once it printed `ready <clientID>`. */
export async function clientReady(child: ChildScript, session: string, actor: string): Promise<number> {
  const match = await child.line(/^ready (\d+)$/)
  const id = Number(match[1])
  ledger.registerClient(id, session, actor)
  return id
}

/**
 * Resolves once `condition()` holds, checking now and after every transaction of `doc` (faster
 * than polling when thousands of round trips are needed); fails after `timeoutMs`.
 */
export function until(doc: Y.Doc, condition: () => boolean, timeoutMs: number, message: () => string): Promise<void> {
  if (condition()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      doc.off('afterTransaction', onTransaction)
      reject(new Error(`timed out after ${timeoutMs} ms: ${message()}`))
    }, timeoutMs)
    const onTransaction = () => {
      if (!condition()) return
      clearTimeout(timer)
      doc.off('afterTransaction', onTransaction)
      resolve()
    }
    doc.on('afterTransaction', onTransaction)
  })
}

/** Closes the peer's socket from the client side and opens a new one (same doc, same session). */
export async function reconnect(peer: Peer, timeoutMs = 5000): Promise<void> {
  peer.provider.disconnect()
  peer.terminal = null
  peer.provider.connect()
  await waitFor(
    () => peer.provider.synced || peer.terminal,
    timeoutMs,
    () => `reconnect of ${peer.provider.roomname} never synced`,
  )
  const terminal = peer.terminal as { code: number; reason: string } | null
  if (terminal) throw new Error(`reconnect refused: ${terminal.code} ${terminal.reason}`)
}
