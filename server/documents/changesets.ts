// Change sets (docs/design.md §12): proposed edits of several documents, applied by the server
// all at once or not at all. Applying writes every document's change, the record's new status and
// the audit entry in one turn, hence one store batch (server/store/group-commit.ts). A change set
// with an approval is applied when its approval is approved; after a crash between the two, the
// approved decision (already in the audit log) is found again when the workspace loads.
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import type { ChangeSetStatus } from '../../shared/changesets.js'
import type { LockHolder } from '../../shared/coordination.js'
import type { RoomName } from '../../shared/names.js'
import type { Identity } from '../../shared/roles.js'
import { replaceText } from '../../shared/text-edit.js'
import type { AuditEntry } from '../audit/chain.js'
import type { AuditLog } from '../audit/log.js'
import type { WorkspaceAuthority } from '../authority/workspace.js'
import type { HistoryRecorder } from '../history/recorder.js'
import { log } from '../log.js'
import type { DocumentHook } from '../rooms/hooks.js'
import type { Room } from '../rooms/room.js'
import type { Storage } from '../store/storage.js'
import { approvalDetails, BODY, revertedText, storedDoc } from './changeset-content.js'
import { type ChangeSetRecord, listRecords, publicView, readRecord, type StoredDoc, writeRecord } from './changeset-records.js'
import {
  type ChangeSetAction,
  ChangeSetError,
  type DocChange,
  guardConflict,
  isStatus,
  manualApplyRefusal,
  type Proposal,
  transition,
} from './changeset-rules.js'

/** The session part of approval keys the server makes for change sets (`changesets:<id>`). */
const APPROVAL_SESSION = 'changesets'

export interface ChangeSetDeps {
  store: Storage
  audit: AuditLog
  recorder: HistoryRecorder | null
  /** the loaded authority of a workspace */
  authority(workspace: string): WorkspaceAuthority | undefined
  holders(workspace: string, resource: string): readonly LockHolder[] | undefined
  openRoom(name: RoomName): Promise<Room>
}

type ManualAction = 'apply' | 'cancel' | 'revert'
/** the status each manual action leads to (changeset-rules.ts `transition`) */
const MANUAL_TARGET: Record<ManualAction, ChangeSetStatus> = { apply: 'applied', cancel: 'cancelled', revert: 'reverted' }

export class ChangeSets {
  /** one operation at a time per workspace: an apply never races a cancel or another apply */
  private readonly queues = new Map<string, Promise<unknown>>()
  private readonly unsubscribe: () => void

  constructor(private readonly deps: ChangeSetDeps) {
    this.unsubscribe = deps.audit.subscribe((entry) => this.onAudit(entry))
  }

  /** The hook that finishes change sets whose approval was decided while the server was down. */
  resumeHook(): DocumentHook {
    return {
      matches: (room) => room.path === null,
      onLoad: (room) => {
        setImmediate(() => this.resume(room.workspace))
      },
    }
  }

  close(): void {
    this.unsubscribe()
  }

  async propose(workspace: string, identity: Identity, proposal: Proposal): Promise<{ id: string; status: string; reason?: string }> {
    const authority = await this.loadedAuthority(workspace)
    const id = `cs-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
    const docs = await Promise.all(proposal.docs.map((change) => this.prepare(workspace, change)))
    const now = Date.now()
    const record: ChangeSetRecord = {
      id,
      workspace,
      title: proposal.title,
      status: 'pending',
      createdAt: now,
      updatedAt: now,
      proposer: { actor: identity.actor, name: identity.name, kind: identity.kind, role: identity.role, ...opt('session', proposal.session) },
      docs,
    }
    const conflict = this.conflict(record)
    return this.serial(workspace, async () => {
      if (conflict) return this.finish(record, 'conflict', { reason: conflict })
      if (proposal.approval) {
        const { expiresInMs, ...who } = proposal.approval
        record.approval = { key: `${APPROVAL_SESSION}:${id}`, ...who }
        const refusal = authority.submit({
          type: 'request',
          at: now,
          key: record.approval.key,
          session: APPROVAL_SESSION,
          actor: identity.actor,
          request: {
            title: `Change set: ${proposal.title}`.slice(0, 200),
            action: 'changeset.apply',
            details: approvalDetails(record),
            requester: identity.actor,
            ...who,
            ...(expiresInMs !== undefined ? { expiresAt: now + expiresInMs } : {}),
          },
        })
        if (refusal) throw new ChangeSetError(400, `the approval could not be requested: ${refusal}`)
      }
      // Same turn as the approval request: the record and the request are written together.
      const written = writeRecord(this.deps.store, record)
      this.audit(record, 'changeset.proposed', identity.actor, { docs: docs.map((doc) => doc.path), approval: record.approval?.key ?? null })
      await written
      return { id, status: record.status }
    })
  }

  async get(workspace: string, id: string): Promise<ReturnType<typeof publicView>> {
    return publicView(await this.mustRead(workspace, id))
  }

  async list(workspace: string): Promise<Array<ReturnType<typeof publicView>>> {
    return (await listRecords(this.deps.store, workspace)).map((record) => publicView(record, false))
  }

  async apply(workspace: string, id: string, identity: Identity): Promise<ReturnType<typeof publicView>> {
    return this.act(workspace, id, 'apply', async (record) => {
      const waiting = manualApplyRefusal(record.approval !== undefined, id)
      if (waiting) throw new ChangeSetError(409, waiting)
      return publicView(await this.applyNow(record, identity.actor))
    })
  }

  async cancel(workspace: string, id: string, identity: Identity): Promise<ReturnType<typeof publicView>> {
    const proposerOnly = (record: ChangeSetRecord) => {
      if (identity.actor !== record.proposer.actor && identity.role !== 'admin')
        throw new ChangeSetError(403, `only its proposer ${record.proposer.actor} (or an admin) can cancel change set ${id}`)
    }
    return this.act(
      workspace,
      id,
      'cancel',
      async (record, authority) => {
        const decided = record.approval && decisionOf(authority, record.approval.key)
        if (decided) throw new ChangeSetError(409, `the approval of change set ${id} is already ${decided}; GET changesets/${id} shows the outcome`)
        // The approval's cancel is audited by the authority; its decision entry finds the record already cancelled.
        const done = this.finish(record, 'cancel', { by: identity.actor })
        if (record.approval)
          authority.submit({
            type: 'cancel',
            at: Date.now(),
            key: record.approval.key,
            session: APPROVAL_SESSION,
            actor: record.proposer.actor,
            cancel: { at: Date.now() },
          })
        return publicView(await done)
      },
      proposerOnly,
    )
  }

  async revert(workspace: string, id: string, identity: Identity): Promise<ReturnType<typeof publicView>> {
    return this.act(workspace, id, 'revert', async (record) => {
      const rooms = await this.openAll(record, 'before-revert')
      const goals = record.docs.map((doc, index) => revertedText(doc, textOf(rooms[index]!)))
      const stuck = record.docs.filter((_doc, index) => goals[index] === null).map((doc) => doc.path)
      if (stuck.length > 0)
        throw new ChangeSetError(
          409,
          `${stuck.join(', ')} changed since in the lines the change set touched; revert those by hand (GET docs/<path>/versions has the version taken before the change set)`,
        )
      const writer = writerOf(identity, `changeset-revert-${randomBytes(6).toString('base64url')}`)
      rooms.forEach((room, index) => room.doc.transact(() => replaceText(room.doc.getText(BODY), goals[index]!), writer))
      const done = this.finish(record, 'revert', { by: identity.actor })
      await Promise.all(rooms.map((room) => room.written()))
      return publicView(await done)
    })
  }

  /**
   * The common start of apply, cancel and revert: in the workspace's queue, the record read, `check`
   * run (who may), and `action` refused (409) unless the record's status allows it.
   */
  private async act<T>(
    workspace: string,
    id: string,
    action: ManualAction,
    run: (record: ChangeSetRecord, authority: WorkspaceAuthority) => Promise<T>,
    check?: (record: ChangeSetRecord) => void,
  ): Promise<T> {
    const authority = await this.loadedAuthority(workspace)
    return this.serial(workspace, async () => {
      const record = await this.mustRead(workspace, id)
      check?.(record)
      const next = transition(record.status, action, id)
      if (next !== MANUAL_TARGET[action]) throw new ChangeSetError(409, next)
      return run(record, authority)
    })
  }

  // ---- applying ---------------------------------------------------------------------------

  /** Applies a pending change set (conflict instead when a guard stops it); returns the new record. */
  private async applyNow(record: ChangeSetRecord, by: string, resumed = false): Promise<ChangeSetRecord> {
    const rooms = await this.openAll(record, 'before-changeset')
    // From here to the writes, no await: one batch holds every document, the record and the audit entry.
    const conflict = this.conflict(record)
    if (conflict) return this.finish(record, 'conflict', { reason: conflict })
    const { proposer } = record
    const writer = writerOf(proposer, proposer.session ?? `changeset-${record.id}`)
    const docs = record.docs.map((doc, index): StoredDoc => {
      const room = rooms[index]!
      const before = textOf(room)
      room.doc.transact(() => Y.applyUpdate(room.doc, Buffer.from(doc.change, 'base64')), writer)
      return { ...doc, before, after: textOf(room), ...(before !== doc.base ? { moved: true } : {}) }
    })
    const audited = { ...(record.approval ? { approval: record.approval.key } : {}), ...(resumed ? { resumed } : {}) }
    const done = this.finish({ ...record, docs }, record.approval ? 'approved' : 'apply', { by }, audited)
    await Promise.all(rooms.map((room) => room.written()))
    return done
  }

  private async openAll(record: ChangeSetRecord, reason: 'before-changeset' | 'before-revert'): Promise<Room[]> {
    const names = record.docs.map((doc): RoomName => ({ room: `${record.workspace}/${doc.path}`, workspace: record.workspace, path: doc.path }))
    await this.deps.audit.ready(record.workspace)
    const rooms = await Promise.all(names.map((name) => this.deps.openRoom(name)))
    const recorder = this.deps.recorder
    if (recorder) await Promise.all(rooms.map((room) => (room.doc.share.size > 0 ? recorder.takeVersion(room.name.room, reason) : null)))
    // Taking versions yielded: a room may have been unloaded meanwhile; open() returns the loaded one.
    return Promise.all(names.map((name) => this.deps.openRoom(name)))
  }

  /** Writes the record's next status and its audit entry in the same turn; resolves once written. */
  private finish(
    record: ChangeSetRecord,
    action: ChangeSetAction,
    extra: { reason?: string; by?: string },
    audited: Record<string, unknown> = {},
  ): Promise<ChangeSetRecord> {
    const status = transition(record.status, action, record.id)
    if (!isStatus(status)) throw new ChangeSetError(409, status)
    const next: ChangeSetRecord = { ...record, status, updatedAt: Date.now(), ...extra }
    const written = writeRecord(this.deps.store, next)
    const moved = next.docs.filter((doc) => doc.moved).map((doc) => doc.path)
    this.audit(next, `changeset.${status}`, extra.by ?? next.proposer.actor, {
      docs: next.docs.map((doc) => doc.path),
      ...(moved.length > 0 ? { moved } : {}),
      ...opt('reason', extra.reason),
      ...audited,
    })
    return written.then(() => next)
  }

  // ---- approvals --------------------------------------------------------------------------

  private onAudit(entry: AuditEntry): void {
    const data = entry.data as { key?: unknown; state?: unknown } | undefined
    if (entry.type !== 'decision' || typeof data?.key !== 'string' || !data.key.startsWith(`${APPROVAL_SESSION}:`)) return
    const id = data.key.slice(APPROVAL_SESSION.length + 1)
    // Called inside the authority's transaction: settle after it.
    setImmediate(() => this.settle(entry.workspace, id, String(data.state)))
  }

  /** `resumed`: the decision was found at load, e.g. made just before a crash. */
  private settle(workspace: string, id: string, state: string, resumed = false): void {
    this.serial(workspace, async () => {
      const record = await readRecord(this.deps.store, workspace, id)
      if (record?.status !== 'pending' || !record.approval) return
      // Applied for its proposer: the approval only let it through.
      if (state === 'approved') await this.applyNow(record, record.proposer.actor, resumed)
      else if (state === 'rejected' || state === 'expired') await this.finish(record, state, { reason: `its approval was ${state}` })
      else if (state === 'cancelled') await this.finish(record, 'cancel', { reason: 'its approval was cancelled' })
    }).catch((error: Error) => log('change set not settled; retried when the workspace next loads', { workspace, id, error: error.message }))
  }

  /** Settles every pending change set whose approval was decided (e.g. before a crash). */
  private resume(workspace: string): void {
    listRecords(this.deps.store, workspace)
      .then((records) => {
        const authority = this.deps.authority(workspace)
        if (!authority) return
        for (const record of records) {
          const state = record.status === 'pending' && record.approval ? decisionOf(authority, record.approval.key) : null
          if (state) this.settle(workspace, record.id, state, true)
        }
      })
      .catch((error: Error) => log('change sets not resumed', { workspace, error: error.message }))
  }

  // ---- helpers ----------------------------------------------------------------------------

  /** The stored form of one proposed document: its text now, the new text, and the change between. */
  private async prepare(workspace: string, change: DocChange): Promise<StoredDoc> {
    const room = await this.deps.openRoom({ room: `${workspace}/${change.path}`, workspace, path: change.path })
    return storedDoc(Y.encodeStateAsUpdate(room.doc), change)
  }

  private conflict(record: ChangeSetRecord): string | null {
    return guardConflict(
      record.docs.map((doc) => doc.path),
      (resource) => this.deps.holders(record.workspace, resource) ?? [],
      record.proposer,
    )
  }

  private async loadedAuthority(workspace: string): Promise<WorkspaceAuthority> {
    await this.deps.openRoom({ room: workspace, workspace, path: null })
    await this.deps.audit.ready(workspace)
    const authority = this.deps.authority(workspace)
    if (!authority) throw new ChangeSetError(503, `workspace ${workspace} is unloading; retry`)
    return authority
  }

  private async mustRead(workspace: string, id: string): Promise<ChangeSetRecord> {
    const record = /^[A-Za-z0-9._-]{1,128}$/.test(id) ? await readRecord(this.deps.store, workspace, id) : undefined
    if (!record)
      throw new ChangeSetError(404, `no change set ${JSON.stringify(id)} in workspace ${workspace}: GET /api/workspaces/${workspace}/changesets lists them`)
    return record
  }

  private audit(record: ChangeSetRecord, type: string, actor: string, data: Record<string, unknown>): void {
    this.deps.audit.append(record.workspace, { type, actor, data: { changeset: record.id, title: record.title, ...data } })
  }

  private serial<T>(workspace: string, task: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(workspace) ?? Promise.resolve()).then(task, task)
    const tail = run.catch(() => undefined)
    this.queues.set(workspace, tail)
    tail.then(() => {
      if (this.queues.get(workspace) === tail) this.queues.delete(workspace)
    })
    return run
  }
}

/** The final state of an approval, or null while it is pending (or unknown). */
function decisionOf(authority: WorkspaceAuthority, key: string): string | null {
  const approvals = authority.state.approvals
  const state = Object.hasOwn(approvals, key) ? approvals[key]!.status.state : null
  return state === 'pending' ? null : state
}

function textOf(room: Room): string {
  return room.doc.getText(BODY).toString()
}

function writerOf(who: { actor: string; name: string; kind: Identity['kind']; role: Identity['role'] }, session: string) {
  return { identity: { actor: who.actor, name: who.name, kind: who.kind, role: who.role, workspace: '*' }, session }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}
