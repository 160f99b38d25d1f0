// Helpers for the authority's end-to-end tests (tests/authority-*.test.ts): identities, stock
// y-websocket clients of a workspace's coordination document, the legitimate writes they make,
// a watcher that checks every state it observes against the rules of docs/design.md §4, REST calls,
// child processes (a client to SIGKILL, or a server started from another entry script).
import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'node:http'
import { join } from 'node:path'
import * as Y from 'yjs'
import type { ApprovalRequest, ClaimValue, LockValue, OutcomeValue } from '../../shared/coordination.js'
import { COORDINATION_TYPES } from '../../shared/coordination.js'
import { type Kind, type Role, roleAtLeast } from '../../shared/roles.js'
import { connectPeer, mintToken, newSession, type Peer, type PeerOptions, waitFor, withTimeout } from './clients.js'
import { makeTempDir, removeTempDir, ROOT, TEST_SECRET, TestServer } from './server.js'

// ---------------------------------------------------------------------------------------------
// servers

/** What the helpers need of a server: a `huddle serve` TestServer or a ScriptServer. */
export interface ServerLike {
  readonly wsUrl: string
  readonly httpUrl: string
}

/** A `huddle serve` process with generous rate limits (the tests send a lot) plus `args`. */
export function startHuddle(args: string[] = [], dataDir?: string): Promise<TestServer> {
  return TestServer.start({ args: ['--rate', '100000', '--burst', '100000', ...args], ...(dataDir ? { dataDir } : {}) })
}

const LISTENING_RE = /huddle listening on http:\/\/([^\s:]+):(\d+)/
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

/** A compiled script under dist/ (e.g. 'tests/fixtures/custom-server.js'). */
export function distScript(path: string): string {
  return join(ROOT, 'dist', path)
}

/**
 * A server started from another entry script (a deployment embedding `startServer`), spawned with
 * `--port 0 --host 127.0.0.1 --data <dir> ...args`; it must print the same listening line.
 */
export class ScriptServer implements ServerLike {
  host = '127.0.0.1'
  port = 0
  stdout = ''
  stderr = ''
  child!: ChildProcess
  private exited!: Promise<void>

  private constructor(readonly script: string, readonly dataDir: string, readonly args: string[], readonly env: Record<string, string>) {}

  static async start(script: string, options: { args?: string[]; env?: Record<string, string> } = {}): Promise<ScriptServer> {
    const server = new ScriptServer(script, makeTempDir('huddle-script-'), options.args ?? [], options.env ?? {})
    await server.spawn()
    return server
  }

  get wsUrl(): string {
    return `ws://${this.host}:${this.port}`
  }

  get httpUrl(): string {
    return `http://${this.host}:${this.port}`
  }

  private spawn(): Promise<void> {
    const env = { ...process.env, HUDDLE_SECRET: TEST_SECRET, ...this.env }
    const child = spawn(process.execPath, [this.script, '--port', '0', '--host', '127.0.0.1', '--data', this.dataDir, ...this.args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    children.add(child)
    this.exited = new Promise((resolve) => child.once('exit', () => {
      children.delete(child)
      resolve()
    }))
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-20_000)))
    child.stdout!.setEncoding('utf8')
    return withTimeout(new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: string) => {
        this.stdout += chunk
        const match = LISTENING_RE.exec(this.stdout)
        if (match && this.port === 0) {
          this.host = match[1]!
          this.port = Number(match[2])
          resolve()
        }
      })
      void this.exited.then(() => reject(new Error(`${this.script} exited before listening\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)))
    }), 15_000, () => `${this.script} printed no listening line\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)
  }

  /** For the client helpers, which are typed for TestServer but only use its URLs. */
  get asTestServer(): TestServer {
    return this as unknown as TestServer
  }

  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM')
      await withTimeout(this.exited, 10_000, 'script server did not stop').catch(() => this.child.kill('SIGKILL'))
    }
    removeTempDir(this.dataDir)
  }
}

/** A child process running a compiled fixture, with its stdout split into lines. */
export class ChildScript {
  readonly lines: string[] = []
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(readonly child: ChildProcess) {
    children.add(child)
    let partial = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      this.lines.push(...parts)
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-20_000)))
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    }))
  }

  static run(script: string, env: Record<string, string>): ChildScript {
    return new ChildScript(spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  /** The first line matching `pattern` (waiting for it). */
  async line(pattern: RegExp, timeoutMs = 8000): Promise<RegExpExecArray> {
    return waitFor(() => {
      for (const line of this.lines) {
        const match = pattern.exec(line)
        if (match) return match
      }
      return null
    }, timeoutMs, () => `child never printed ${pattern}; stdout: ${this.lines.join('\n')}\nstderr: ${this.stderr}`)
  }

  /** kill -9, and wait for the exit. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL')
    await this.exited
  }
}

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

export const claimsOf = (doc: Y.Doc) => doc.getMap<ClaimValue>('claims')
export const locksOf = (doc: Y.Doc) => doc.getMap<LockValue>('locks')
export const outcomesOf = (doc: Y.Doc) => doc.getMap<OutcomeValue>('outcomes')
export const approvalsOf = (doc: Y.Doc) => doc.getMap<Y.Map<unknown>>('approvals')

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

export async function waitOutcome(peer: Peer, key: string, states: string[] = ['granted', 'timeout', 'expired', 'revoked', 'invalid'], timeoutMs = 8000): Promise<OutcomeValue> {
  return waitFor(() => {
    const outcome = outcomesOf(peer.doc).get(key)
    return outcome && states.includes(outcome.state) ? outcome : null
  }, timeoutMs, () => `claim ${key}: no outcome in ${states.join('/')} (outcome: ${JSON.stringify(outcomesOf(peer.doc).get(key))}, locks: ${JSON.stringify(locksOf(peer.doc).toJSON())})`)
}

export function holdersOf(doc: Y.Doc, resource: string): string[] {
  return (locksOf(doc).get(resource)?.holders ?? []).map((holder) => holder.claim)
}

export function queueOf(doc: Y.Doc, resource: string): string[] {
  return (locksOf(doc).get(resource)?.queue ?? []).map((waiter) => waiter.claim)
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
  approvalMap(peer.doc, key).set(`vote:${peer.who.actor}`, { decision, at: Date.now(), ...(reason ? { reason } : {}) })
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
  return waitFor(() => {
    const status = statusOf(peer.doc, key)
    return status?.state === state ? status : null
  }, timeoutMs, () => `approval ${key}: status never became ${state} (is ${JSON.stringify(statusOf(peer.doc, key))})`)
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
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]))
}

/** Canonical JSON text: equal values give equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

/** Waits until `peer`'s document equals the watcher's (the server's corrections reached both). */
export async function waitConverged(peer: Peer, reference: Peer, timeoutMs = 5000): Promise<void> {
  await waitFor(() => JSON.stringify(coordJson(peer.doc)) === JSON.stringify(coordJson(reference.doc)), timeoutMs,
    () => `documents differ:\n peer:    ${JSON.stringify(coordJson(peer.doc))}\n watcher: ${JSON.stringify(coordJson(reference.doc))}`)
}

/** Waits until `observer` has integrated everything `writer` has written so far. */
export async function waitSeen(observer: Peer, writer: Peer, timeoutMs = 5000): Promise<void> {
  const target = Y.getState(writer.doc.store, writer.doc.clientID)
  await waitFor(() => Y.getState(observer.doc.store, writer.doc.clientID) >= target, timeoutMs, () => `the observer never received client ${writer.doc.clientID}'s clock ${target}`)
}

/** Distinct client ids in a document's state vector. */
export function clientIds(doc: Y.Doc): Set<number> {
  return new Set(Y.decodeStateVector(Y.encodeStateVector(doc)).keys())
}

export function hasLiveContent(type: Y.AbstractType<any>): boolean {
  for (const item of type._map.values()) if (!item.deleted) return true
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) return true
  return false
}

// ---------------------------------------------------------------------------------------------
// the watcher

const SERVER_ONLY = ['locks', 'outcomes', 'sessions', 'meta', 'activity']
const FINAL = ['approved', 'rejected', 'expired', 'cancelled']

interface Grant {
  claim: string
  token: number
  resource: string
  holder: LockValue['holders'][number]
}

/**
 * A viewer that checks the whole coordination document after every transaction it observes
 * (observeDeep on every type, and afterTransaction for types nobody should have created), and
 * records the order in which claims showed up in each lock and were granted.
 */
export class Watcher {
  readonly violations: string[] = []
  /** transactions (received updates) checked */
  checks = 0
  /** resource → claim keys in the order they first appeared in its lock (holders, then queue) */
  readonly arrival = new Map<string, string[]>()
  /** grants in the order the watcher saw them */
  readonly grants: Grant[] = []
  /** every queue entry seen, by claim key */
  readonly waiters = new Map<string, LockValue['queue'][number]>()
  /** resource → the largest number of holders seen at once */
  readonly maxHolders = new Map<string, number>()
  /**
   * resource → every hold the watcher saw: from the check (transaction) where the claim appeared
   * among the holders to the one where it was gone (`to` undefined while still held)
   */
  readonly holds = new Map<string, Array<{ claim: string; from: number; to?: number; fromMs: number; toMs?: number }>>()
  /** every state of each approval's status, in order */
  readonly statusHistory = new Map<string, string[]>()
  private readonly seenClaims = new Set<string>()
  private readonly seenHolders = new Set<string>()
  private readonly seenActivity = new Map<number, string>()
  private readonly requestSeen = new Map<string, string>()
  private readonly voteSeen = new Map<string, string>()
  private readonly statusSeen = new Map<string, StatusValue>()
  private maxToken = 0
  private lastFence = 0
  private lastChecked: Y.Transaction | null = null

  private constructor(readonly peer: CoordPeer) {
    const doc = peer.doc
    for (const name of COORDINATION_TYPES) {
      const type = name === 'activity' ? doc.getArray(name) : doc.getMap(name)
      type.observeDeep((_events, transaction) => this.check(transaction))
    }
    doc.on('afterTransaction', (transaction: Y.Transaction) => this.check(transaction))
  }

  static async start(server: ServerLike, workspace: string, actor = `watcher-${newSession().slice(0, 6)}`): Promise<Watcher> {
    const identity = await who(actor, 'viewer')
    const doc = new Y.Doc()
    // Attach the checks before the first sync, so the initial state is checked too.
    const session = newSession()
    ledger.registerClient(doc.clientID, session, actor)
    const peerPromise = joinCoord(server, workspace, identity, { doc, session })
    const watcher = new Watcher({ doc, session, who: identity, workspace } as CoordPeer)
    const peer = await peerPromise
    Object.assign(watcher, { peer })
    return watcher
  }

  get doc(): Y.Doc {
    return this.peer.doc
  }

  /** Fails with every violation seen so far. */
  assertClean(): void {
    if (this.violations.length > 0) throw new Error(`the watcher saw ${this.violations.length} invalid state(s):\n${this.violations.slice(0, 15).join('\n')}`)
  }

  private violation(text: string): void {
    if (this.violations.length < 200) this.violations.push(`[check ${this.checks}] ${text}`)
  }

  private check(transaction: Y.Transaction): void {
    if (transaction === this.lastChecked) return
    this.lastChecked = transaction
    this.checks++
    const doc = this.doc
    try {
      this.checkTopLevel(doc)
      this.checkServerOnly(doc)
      this.checkClaims(doc)
      this.checkLocks(doc)
      this.trackHolds(doc)
      this.checkOutcomes(doc)
      this.checkMeta(doc)
      this.checkSessions(doc)
      this.checkActivity(doc)
      this.checkApprovals(doc)
    } catch (error) {
      this.violation(`check crashed: ${(error as Error).stack}`)
    }
  }

  private isClient(client: number): boolean {
    return ledger.clients.has(client) && ledger.clients.get(client)!.session !== this.peer.session
  }

  private checkTopLevel(doc: Y.Doc): void {
    for (const [name, type] of doc.share) {
      if (!(COORDINATION_TYPES as readonly string[]).includes(name)) {
        if (hasLiveContent(type)) this.violation(`unknown top-level type ${name} has content: ${JSON.stringify(type.toJSON?.() ?? null)}`)
        continue
      }
      if (name === 'activity') {
        for (const item of type._map.values()) if (!item.deleted) this.violation(`activity has a map entry`)
      } else {
        for (let item = type._start; item !== null; item = item.right) if (!item.deleted) this.violation(`${name} has list content`)
      }
    }
  }

  private checkServerOnly(doc: Y.Doc): void {
    for (const name of SERVER_ONLY) {
      const type = doc.share.get(name)!
      for (const [key, item] of type._map) {
        if (!item.deleted && this.isClient(item.id.client)) this.violation(`${name}.${key} was written by client ${item.id.client} (${JSON.stringify(ledger.clients.get(item.id.client))})`)
      }
      for (let item = type._start; item !== null; item = item.right) {
        if (!item.deleted && this.isClient(item.id.client)) this.violation(`${name} holds list content of client ${item.id.client}`)
      }
    }
  }

  private writerOk(item: Y.Item | undefined, allowed: (owner: { session: string; actor: string }) => boolean): boolean {
    if (!item) return true
    const owner = ledger.clients.get(item.id.client)
    return !owner || !this.isClient(item.id.client) || allowed(owner)
  }

  private checkClaims(doc: Y.Doc): void {
    const claims = claimsOf(doc)
    const sessions = doc.getMap('sessions')
    for (const [key, item] of claims._map) {
      if (item.deleted) continue
      const value = claims.get(key)
      const legit = ledger.claims.get(key)
      if (!legit) this.violation(`claim ${key} was never written by its session: ${JSON.stringify(value)}`)
      else if (canonical(value) !== canonical(legit)) this.violation(`claim ${key} is ${JSON.stringify(value)}, its session wrote ${JSON.stringify(legit)}`)
      const session = key.slice(0, key.indexOf(':'))
      if (!this.writerOk(item, (owner) => owner.session === session)) this.violation(`claim ${key} written by another session's client ${item.id.client}`)
      this.seenClaims.add(key)
    }
    for (const key of this.seenClaims) {
      const session = key.slice(0, key.indexOf(':'))
      if (!claims.has(key) && !ledger.released.has(key) && sessions.has(session)) this.violation(`claim ${key} vanished while its session ${session} is alive and never released it`)
    }
  }

  private checkLocks(doc: Y.Doc): void {
    const locks = locksOf(doc)
    const outcomes = outcomesOf(doc)
    const fence = doc.getMap('meta').get('fence') as number | undefined
    const fresh: Grant[] = []
    for (const [resource, lock] of locks.entries()) {
      if (!lock || !Array.isArray(lock.holders) || !Array.isArray(lock.queue)) {
        this.violation(`locks.${resource} is malformed: ${JSON.stringify(lock)}`)
        continue
      }
      const order = this.arrival.get(resource) ?? []
      for (const entry of [...lock.holders, ...lock.queue]) if (!order.includes(entry.claim)) order.push(entry.claim)
      this.arrival.set(resource, order)
      this.maxHolders.set(resource, Math.max(this.maxHolders.get(resource) ?? 0, lock.holders.length))
      if (lock.holders.some((h) => h.mode === 'exclusive') && lock.holders.length > 1) this.violation(`locks.${resource}: an exclusive holder shares it: ${JSON.stringify(lock.holders)}`)
      for (const [index, entry] of [...lock.holders, ...lock.queue].entries()) {
        const holding = index < lock.holders.length
        const value = ledger.claims.get(entry.claim)
        if (!value) {
          this.violation(`locks.${resource} lists ${entry.claim}, which no session claimed`)
          continue
        }
        if (entry.session !== entry.claim.slice(0, entry.claim.indexOf(':')) || entry.mode !== value.mode || !value.resources.includes(resource)) {
          this.violation(`locks.${resource} entry ${JSON.stringify(entry)} does not match claim ${JSON.stringify(value)}`)
        }
        // All or nothing: held (or queued) on every one of its resources at once.
        for (const other of value.resources) {
          const there = locks.get(other)
          const list = holding ? there?.holders : there?.queue
          if (!list?.some((e) => e.claim === entry.claim)) this.violation(`${entry.claim} is ${holding ? 'held' : 'queued'} on ${resource} but not on ${other}`)
        }
        const outcome = outcomes.get(entry.claim)
        if (!holding) {
          if (!this.waiters.has(entry.claim)) this.waiters.set(entry.claim, entry as LockValue['queue'][number])
          if (outcome) this.violation(`queued claim ${entry.claim} already has an outcome ${JSON.stringify(outcome)}`)
          continue
        }
        const holder = entry as LockValue['holders'][number]
        if (outcome?.state !== 'granted' || outcome.token !== holder.token) this.violation(`holder ${entry.claim} of ${resource} has token ${holder.token} but outcome ${JSON.stringify(outcome)}`)
        if (fence === undefined || holder.token > fence) this.violation(`holder token ${holder.token} is above meta.fence ${fence}`)
        if (!this.seenHolders.has(entry.claim)) {
          this.seenHolders.add(entry.claim)
          fresh.push({ claim: entry.claim, token: holder.token, resource, holder })
        }
      }
    }
    // Grants that arrive in one (merged) update are granted in token order, but the map lists them
    // in its own order: each must be above every token seen before this update, and all distinct.
    fresh.sort((a, b) => a.token - b.token)
    for (const [index, grant] of fresh.entries()) {
      if (grant.token <= this.maxToken) this.violation(`new grant ${grant.claim} has token ${grant.token}, not above ${this.maxToken}`)
      if (index > 0 && grant.token === fresh[index - 1]!.token) this.violation(`grants ${fresh[index - 1]!.claim} and ${grant.claim} share token ${grant.token}`)
    }
    if (fresh.length) this.maxToken = Math.max(this.maxToken, fresh[fresh.length - 1]!.token)
    this.grants.push(...fresh)
  }

  private trackHolds(doc: Y.Doc): void {
    const locks = locksOf(doc)
    const resources = new Set([...this.holds.keys(), ...locks.keys()])
    for (const resource of resources) {
      const now = new Set((locks.get(resource)?.holders ?? []).map((holder) => holder.claim))
      const list = this.holds.get(resource) ?? []
      for (const hold of list) {
        if (hold.to === undefined && !now.has(hold.claim)) {
          hold.to = this.checks
          hold.toMs = Date.now()
        }
      }
      for (const claim of now) {
        if (!list.some((hold) => hold.claim === claim && hold.to === undefined)) list.push({ claim, from: this.checks, fromMs: Date.now() })
      }
      this.holds.set(resource, list)
    }
  }

  private checkOutcomes(doc: Y.Doc): void {
    for (const [key, outcome] of outcomesOf(doc).entries()) {
      if (!ledger.claims.has(key)) this.violation(`outcome for ${key}, which no session claimed`)
      if (!['granted', 'timeout', 'expired', 'revoked', 'invalid'].includes(outcome?.state)) this.violation(`outcome ${key} is malformed: ${JSON.stringify(outcome)}`)
    }
  }

  private checkMeta(doc: Y.Doc): void {
    const meta = doc.getMap('meta')
    for (const key of meta.keys()) if (key !== 'fence' && key !== 'leaseGraceMs') this.violation(`meta.${key} exists`)
    const grace = meta.get('leaseGraceMs')
    if (grace !== undefined && (typeof grace !== 'number' || grace < 0)) this.violation(`meta.leaseGraceMs is ${JSON.stringify(grace)}`)
    const fence = meta.get('fence')
    if (fence === undefined) return
    if (typeof fence !== 'number' || fence < this.lastFence) this.violation(`meta.fence went from ${this.lastFence} to ${JSON.stringify(fence)}`)
    else this.lastFence = fence
  }

  private checkSessions(doc: Y.Doc): void {
    for (const [session, value] of doc.getMap<{ actor: string }>('sessions').entries()) {
      const actor = ledger.sessions.get(session)
      if (actor === undefined || value?.actor !== actor) this.violation(`sessions.${session} = ${JSON.stringify(value)} (expected actor ${actor})`)
    }
  }

  private checkActivity(doc: Y.Doc): void {
    const entries = doc.getArray<{ seq: number; type: string }>('activity').toArray()
    let previous = -Infinity
    for (const entry of entries) {
      if (typeof entry?.seq !== 'number' || typeof entry.type !== 'string') {
        this.violation(`activity entry is malformed: ${JSON.stringify(entry)}`)
        continue
      }
      if (entry.seq <= previous) this.violation(`activity seq ${entry.seq} after ${previous}`)
      previous = entry.seq
      const seen = this.seenActivity.get(entry.seq)
      const text = `${entry.type}@${JSON.stringify((entry as { at?: number }).at)}`
      if (seen !== undefined && seen !== text) this.violation(`activity entry ${entry.seq} changed from ${seen} to ${text}`)
      this.seenActivity.set(entry.seq, text)
    }
    const first = entries[0]?.seq ?? Infinity
    const present = new Set(entries.map((entry) => entry.seq))
    for (const seq of this.seenActivity.keys()) {
      if (seq >= first && !present.has(seq)) this.violation(`activity entry ${seq} vanished from the middle`)
    }
  }

  private checkApprovals(doc: Y.Doc): void {
    const approvals = approvalsOf(doc)
    for (const [key, item] of approvals._map) {
      if (item.deleted) continue
      const map = approvals.get(key)
      if (!(map instanceof Y.Map)) {
        this.violation(`approvals.${key} is not a Y.Map: ${JSON.stringify(map)}`)
        continue
      }
      const session = key.slice(0, key.indexOf(':'))
      if (!this.writerOk(item, (owner) => owner.session === session)) this.violation(`approvals.${key} created by another session's client ${item.id.client}`)
      const fields = map.toJSON() as Record<string, unknown>
      for (const sub of Object.keys(fields)) {
        if (!['request', 'status', 'cancel'].includes(sub) && !sub.startsWith('vote:')) this.violation(`approvals.${key} has unknown field ${sub}`)
      }
      const request = fields.request as ApprovalRequest | undefined
      const status = fields.status as StatusValue | undefined
      const previous = this.statusSeen.get(key)
      if (request === undefined && status === undefined) {
        if (Object.keys(fields).length > 0) this.violation(`approvals.${key} has ${Object.keys(fields).join(', ')} but no request`)
        continue
      }
      if (request === undefined || status === undefined) {
        this.violation(`approvals.${key} has ${request ? 'a request but no status' : 'a status but no request'}: ${JSON.stringify(fields)}`)
        continue
      }
      const legit = ledger.requests.get(key)
      if (!legit || canonical(legit) !== canonical(request)) this.violation(`approvals.${key}.request ${JSON.stringify(request)} is not what its session wrote (${JSON.stringify(legit)})`)
      if (!this.writerOk(map._map.get('request'), (owner) => owner.session === session)) this.violation(`approvals.${key}.request written by another session`)
      const requestText = canonical(request)
      if ((this.requestSeen.get(key) ?? requestText) !== requestText) this.violation(`approvals.${key}.request changed`)
      this.requestSeen.set(key, requestText)
      const statusItem = map._map.get('status')
      if (statusItem && this.isClient(statusItem.id.client)) this.violation(`approvals.${key}.status written by client ${statusItem.id.client}`)
      if (!['pending', ...FINAL].includes(status.state)) this.violation(`approvals.${key}.status is malformed: ${JSON.stringify(status)}`)
      if (previous && FINAL.includes(previous.state) && canonical(previous) !== canonical(status)) this.violation(`approvals.${key}: final status ${JSON.stringify(previous)} became ${JSON.stringify(status)}`)
      if (!previous || previous.state !== status.state) this.statusHistory.set(key, [...(this.statusHistory.get(key) ?? []), status.state])
      this.statusSeen.set(key, status)
      // votes
      const approves: string[] = []
      let rejecter: string | null = null
      for (const sub of Object.keys(fields).filter((name) => name.startsWith('vote:'))) {
        const actor = sub.slice('vote:'.length)
        const value = fields[sub] as { decision: string }
        const text = canonical(value)
        const seenKey = `${key}|${actor}`
        const seen = this.voteSeen.get(seenKey)
        if (seen === undefined && previous && FINAL.includes(previous.state)) this.violation(`vote:${actor} appeared on ${key} after it was ${previous.state}`)
        if (seen !== undefined && seen !== text) this.violation(`vote:${actor} on ${key} changed from ${seen} to ${text}`)
        this.voteSeen.set(seenKey, text)
        if (!this.writerOk(map._map.get(sub), (owner) => owner.actor === actor)) this.violation(`vote:${actor} on ${key} written by another actor's client`)
        const problem = this.ineligible(request, actor)
        if (problem) this.violation(`vote:${actor} on ${key} is stored but ${problem}`)
        if (value.decision === 'approve') approves.push(actor)
        else if (value.decision === 'reject') rejecter ??= actor
        else this.violation(`vote:${actor} on ${key} is malformed: ${text}`)
      }
      if (fields.cancel !== undefined && !this.writerOk(map._map.get('cancel'), (owner) => owner.actor === request.requester)) this.violation(`cancel of ${key} written by someone other than the requester`)
      const quorum = request.quorum ?? 1
      if (status.state === 'pending' && (rejecter || approves.length >= quorum || fields.cancel !== undefined)) this.violation(`approvals.${key} is pending but decided by its votes/cancel: ${JSON.stringify(fields)}`)
      if (status.state === 'approved' && !(status.by && status.by.length >= quorum && status.by.every((actor) => approves.includes(actor)))) this.violation(`approvals.${key} approved without the votes: ${JSON.stringify(fields)}`)
      if (status.state === 'rejected' && !(status.by?.length === 1 && (fields[`vote:${status.by[0]}`] as { decision?: string } | undefined)?.decision === 'reject')) this.violation(`approvals.${key} rejected without a rejection: ${JSON.stringify(fields)}`)
      if (status.state === 'cancelled' && fields.cancel === undefined) this.violation(`approvals.${key} cancelled without a cancel`)
    }
  }

  private ineligible(request: ApprovalRequest, actor: string): string | null {
    const identity = ledger.identities.get(actor)
    if (!identity) return `${actor} is unknown`
    if (identity.kind !== 'human') return `${actor} is an agent`
    if (!roleAtLeast(identity.role, 'approver')) return `${actor} has role ${identity.role}`
    if (actor === request.requester && !request.allowSelfApproval) return `${actor} is the requester`
    if (request.approvers && !request.approvers.some((entry) => entry === actor || (['viewer', 'editor', 'approver', 'admin'].includes(entry) && roleAtLeast(identity.role, entry as Role)))) return `${actor} is not among the approvers`
    return null
  }
}

// ---------------------------------------------------------------------------------------------
// REST

export interface ApiResponse<T = unknown> {
  status: number
  body: T
}

export function api<T = Record<string, unknown>>(server: ServerLike, method: string, path: string, token?: string): Promise<ApiResponse<T>> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.httpUrl}${path}`, { method, agent: false, headers: { connection: 'close', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => {
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: response.statusCode ?? 0, body: body as T })
      })
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

export interface AuditEntry {
  seq: number
  at: number
  type: string
  actor?: string
  session?: string
  data?: Record<string, unknown> & { input?: unknown; write?: { type: string; key: string; subKey?: string }; reason?: string }
  prev: string
  hash: string
}

/** Every audit entry of `workspace`, paging with after/limit. */
export async function fetchAudit(server: ServerLike, workspace: string, token: string, pageSize = 1000): Promise<AuditEntry[]> {
  const all: AuditEntry[] = []
  for (;;) {
    const after = all.length > 0 ? all[all.length - 1]!.seq : 0
    const response = await api<{ entries: AuditEntry[] }>(server, 'GET', `/api/workspaces/${workspace}/audit?after=${after}&limit=${pageSize}`, token)
    if (response.status !== 200) throw new Error(`GET audit: ${response.status} ${JSON.stringify(response.body)}`)
    all.push(...response.body.entries)
    if (response.body.entries.length < pageSize) return all
  }
}

/** The `refused` entries that record an undone write (not refused connections). */
export function refusedWrites(entries: AuditEntry[], session?: string): AuditEntry[] {
  return entries.filter((entry) => entry.type === 'refused' && entry.data?.write && (session === undefined || entry.session === session))
}

export async function getState(server: ServerLike, workspace: string, token: string): Promise<{ locks: Record<string, LockValue>; outcomes: Record<string, OutcomeValue>; approvals: Record<string, Record<string, unknown>>; sessions: Record<string, { actor: string; online: boolean }>; meta: { fence?: number } }> {
  const response = await api<Awaited<ReturnType<typeof getState>>>(server, 'GET', `/api/workspaces/${workspace}/state`, token)
  if (response.status !== 200) throw new Error(`GET state: ${response.status} ${JSON.stringify(response.body)}`)
  return response.body
}

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
  await waitFor(() => peer.provider.synced || peer.terminal, timeoutMs, () => `reconnect of ${peer.provider.roomname} never synced`)
  const terminal = peer.terminal as { code: number; reason: string } | null
  if (terminal) throw new Error(`reconnect refused: ${terminal.code} ${terminal.reason}`)
}
