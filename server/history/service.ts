// The history operations behind every interface (REST, and through it the client library, CLI,
// MCP and dashboard): list, take and read versions, diff, blame, revert, last edit.
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import type { BlameLine, DocDiff, EditInfo, Point, VersionContent, VersionInfo } from '../../shared/history.js'
import type { RoomName } from '../../shared/names.js'
import type { Identity } from '../../shared/roles.js'
import type { AuditLog } from '../audit/log.js'
import { log } from '../log.js'
import type { Writer } from '../rooms/hooks.js'
import type { Room } from '../rooms/room.js'
import type { Storage } from '../store/storage.js'
import { decodeAttribution, IdIndex } from './attribution.js'
import { blameText } from './blame.js'
import { docOf, jsonOf, mainText, sharedTypes } from './content.js'
import { diffDocs } from './diff.js'
import { numberOfKey, sectionRange } from './keys.js'
import { readAttribution, type HistoryRecorder } from './recorder.js'
import { restore } from './revert.js'
import { type ActorInfo, readActor, readActors, readVersions, readVersionState, type VersionMeta } from './versions.js'

export class HistoryError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message)
  }
}

export interface HistoryDeps {
  store: Storage
  recorder: HistoryRecorder
  audit: AuditLog
  /** opens (loading if needed) a content document */
  openRoom(name: RoomName): Promise<Room>
  /** why `writer` may not change the document now (a guarding lock held by another session), or null */
  guard(room: RoomName, writer: Writer): string | null
}

export class HistoryService {
  constructor(private readonly deps: HistoryDeps) {}

  async versions(room: RoomName): Promise<VersionInfo[]> {
    await this.mustExist(room)
    const [versions, actors] = await Promise.all([readVersions(this.deps.store, room.room), readActors(this.deps.store, room.room)])
    return versions.reverse().map((version) => publicVersion(version, actors))
  }

  async label(room: RoomName, label: string): Promise<VersionInfo> {
    await this.mustExist(room)
    const live = await this.deps.openRoom(room)
    await live.written()
    const version = await this.deps.recorder.takeVersion(room.room, 'label', label)
    return publicVersion(version, await readActors(this.deps.store, room.room))
  }

  async version(room: RoomName, id: number): Promise<VersionContent> {
    const { meta, state } = await this.versionState(room, id)
    const doc = docOf(state)
    try {
      const text = mainText(doc)
      return {
        id: meta.id,
        at: meta.at,
        ...(meta.label !== undefined ? { label: meta.label } : {}),
        ...(text !== undefined ? { text } : {}),
        json: jsonOf(doc),
      }
    } finally {
      doc.destroy()
    }
  }

  async diff(room: RoomName, from: Point | undefined, to: Point): Promise<DocDiff> {
    await this.mustExist(room)
    const start = from ?? (await this.latest(room))
    const [a, b, records] = await Promise.all([this.docAt(room, start), this.docAt(room, to), readAttribution(this.deps.store, room.room)])
    try {
      const attribution = { inserted: new IdIndex(records, 'inserted'), deleted: new IdIndex(records, 'deleted') }
      const { patch, changes } = diffDocs(a, b, attribution, { from: pointLabel(start), to: pointLabel(to) })
      return { from: start, to, patch, changes }
    } finally {
      a.destroy()
      b.destroy()
    }
  }

  async blame(room: RoomName, name = 'body'): Promise<{ name: string; lines: BlameLine[] }> {
    await this.mustExist(room)
    const live = await this.deps.openRoom(room)
    await live.written()
    const text = sharedTypes(live.doc).get(name)
    if (text?.kind !== 'text') {
      const texts = [...sharedTypes(live.doc)].filter(([, shared]) => shared.kind === 'text').map(([key]) => key)
      throw new HistoryError(
        404,
        `${room.room} has no text named ${JSON.stringify(name)}; its texts: ${texts.length ? texts.join(', ') : 'none'} (pass ?name=<text>)`,
      )
    }
    const [records, actors, versions] = await Promise.all([
      readAttribution(this.deps.store, room.room),
      readActors(this.deps.store, room.room),
      readVersions(this.deps.store, room.room),
    ])
    const lines = blameText(text.type, new IdIndex(records, 'inserted')).map(({ text: line, record }): BlameLine => {
      if (!record) return { text: line, actor: null, at: null, version: null }
      const actor = actors.get(record.actor)
      return {
        text: line,
        actor: record.actor,
        ...(actor ? { name: actor.name, kind: actor.kind } : {}),
        at: record.at,
        version: versions.find((version) => version.attrSeq > record.seq)?.id ?? null,
      }
    })
    return { name, lines }
  }

  /**
   * Makes the document hold `id`'s content again as a new change by `identity` (in `session`, the
   * caller's own, which lets a guarding lock's holder revert); returns the version after.
   */
  async revert(room: RoomName, id: number, identity: Identity, session?: string): Promise<VersionInfo> {
    const { state } = await this.versionState(room, id)
    const writer = { identity, session: session ?? `revert-${randomBytes(9).toString('base64url')}` }
    this.mustBeFree(room, writer)
    const live = await this.deps.openRoom(room)
    const before = await this.deps.recorder.takeVersion(room.room, 'before-revert')
    // Checked again in the turn of the change: a lock may have been granted meanwhile.
    this.mustBeFree(room, writer)
    const source = docOf(state)
    try {
      live.doc.transact(() => {
        restore(live.doc, source)
        // Same turn as the change: the audit entry shares its batch.
        this.deps.audit.append(room.workspace, {
          type: 'revert',
          actor: identity.actor,
          session: writer.session,
          data: { room: room.room, version: id, before: before.id },
        })
      }, writer)
    } finally {
      source.destroy()
    }
    await live.written()
    const after = await this.deps.recorder.takeVersion(room.room, 'revert', undefined, id)
    return publicVersion(after, await readActors(this.deps.store, room.room))
  }

  /** Who changed the document last and when, from the server's attribution (null: never recorded). */
  async lastEdit(room: string): Promise<EditInfo | null> {
    const [row] = await this.deps.store.readRange({ ...sectionRange(room, 'a'), reverse: true, limit: 1 })
    if (!row) return null
    const record = decodeAttribution(numberOfKey(row[0]), row[1])
    // Only the one actor's entry: last-edits asks this for every document of a workspace.
    const actor = await readActor(this.deps.store, room, record.actor)
    return { actor: record.actor, ...(actor ? { name: actor.name, kind: actor.kind } : {}), at: record.at }
  }

  /** Audits a refused history write (a revert or a label), in the background. */
  refused(room: RoomName, identity: Identity, session: string | null, reason: string, what: 'revert' | 'label'): void {
    this.deps.audit
      .appendLater(room.workspace, {
        type: 'refused',
        actor: identity.actor,
        ...(session ? { session } : {}),
        data: { reason, room: room.room, [what]: true },
      })
      .catch((error: Error) => log('audit entry not written', { error: error.message }))
  }

  private mustBeFree(room: RoomName, writer: Writer): void {
    const reason = this.deps.guard(room, writer)
    if (!reason) return
    this.refused(room, writer.identity, writer.session, reason, 'revert')
    throw new HistoryError(409, `revert refused: ${reason}`)
  }

  private async mustExist(room: RoomName): Promise<void> {
    const [name] = await this.deps.store.listDocs(room.room, 1)
    if (name !== room.room)
      throw new HistoryError(404, `no document ${room.path} in workspace ${room.workspace}: GET /api/workspaces/${room.workspace}/documents lists them`)
  }

  private async latest(room: RoomName): Promise<number> {
    const versions = await readVersions(this.deps.store, room.room)
    const last = versions[versions.length - 1]
    if (!last) throw new HistoryError(404, `${room.room} has no versions yet: one is taken after 30 s without changes, or POST versions {label} takes one now`)
    return last.id
  }

  private async versionState(room: RoomName, id: number): Promise<{ meta: VersionMeta; state: Uint8Array }> {
    await this.mustExist(room)
    const versions = await readVersions(this.deps.store, room.room)
    const meta = versions.find((version) => version.id === id)
    const state = meta && (await readVersionState(this.deps.store, room.room, id))
    if (!meta || !state) throw new HistoryError(404, `${room.room} has no version ${id}; ${nearby(versions, id)}`)
    return { meta, state }
  }

  private async docAt(room: RoomName, point: Point): Promise<Y.Doc> {
    if (point !== 'current') return docOf((await this.versionState(room, point)).state)
    const live = await this.deps.openRoom(room)
    await live.written()
    return docOf(Y.encodeStateAsUpdate(live.doc))
  }
}

function publicVersion(version: VersionMeta, actors: Map<string, ActorInfo>): VersionInfo {
  return {
    id: version.id,
    at: version.at,
    ...(version.label !== undefined ? { label: version.label } : {}),
    reason: version.reason,
    actors: version.actors.map((id) => actors.get(id) ?? { id, name: id, kind: 'unknown' }),
    bytes: version.bytes,
    ...(version.restored !== undefined ? { restored: version.restored } : {}),
  }
}

function nearby(versions: VersionMeta[], id: number): string {
  if (versions.length === 0) return 'it has no versions yet'
  const closest = [...versions]
    .sort((a, b) => Math.abs(a.id - id) - Math.abs(b.id - id))
    .slice(0, 5)
    .map((version) => version.id)
    .sort((a, b) => a - b)
  return `versions near it: ${closest.join(', ')} (GET versions lists them all)`
}

function pointLabel(point: Point): string {
  return point === 'current' ? 'current' : `version ${point}`
}
