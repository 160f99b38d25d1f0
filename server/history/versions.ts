// Versions on disk: metadata (JSON) and full state (one Yjs update) under separate keys, so a
// listing never reads the states.
import type { Storage } from '../store/storage.js'
import { nameKey, nameOfKey, numberKey, sectionRange } from './keys.js'

export type VersionReason = 'auto' | 'label' | 'before-revert' | 'before-changeset' | 'revert'

export interface VersionMeta {
  id: number
  at: number
  label?: string
  reason: VersionReason
  /** actors who changed the document since the previous version */
  actors: string[]
  /** size of the stored state */
  bytes: number
  /** the attribution seq the next record after this version gets: records below it are in it */
  attrSeq: number
  /** a hash of what the document held, to tell after a restart whether it changed since */
  fingerprint: string
  /** for a revert: the version it restored */
  restored?: number
}

export interface ActorInfo {
  id: string
  name: string
  kind: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T
}

/** Every version of a document, oldest first. */
export async function readVersions(store: Storage, room: string): Promise<VersionMeta[]> {
  const rows = await store.readRange(sectionRange(room, 'v'))
  return rows.map(([, value]) => decodeJson<VersionMeta>(value))
}

export async function readLastVersion(store: Storage, room: string): Promise<VersionMeta | null> {
  const [row] = await store.readRange({ ...sectionRange(room, 'v'), reverse: true, limit: 1 })
  return row ? decodeJson<VersionMeta>(row[1]) : null
}

export async function readVersionState(store: Storage, room: string, id: number): Promise<Uint8Array | undefined> {
  return store.get(numberKey(room, 's', id))
}

/** The display names and kinds of the actors who wrote a document, by actor id. */
export async function readActors(store: Storage, room: string): Promise<Map<string, ActorInfo>> {
  const rows = await store.readRange(sectionRange(room, 'w'))
  const actors = new Map<string, ActorInfo>()
  for (const [key, value] of rows) {
    const id = nameOfKey(key, room, 'w')
    actors.set(id, { id, ...decodeJson<{ name: string; kind: string }>(value) })
  }
  return actors
}

/** One actor's display name and kind in a document (undefined: it never wrote there). */
export async function readActor(store: Storage, room: string, id: string): Promise<ActorInfo | undefined> {
  const value = await store.get(nameKey(room, 'w', id))
  return value && { id, ...decodeJson<{ name: string; kind: string }>(value) }
}

export function deleteVersion(store: Storage, room: string, id: number): Promise<unknown> {
  return Promise.all([store.del(numberKey(room, 'v', id)), store.del(numberKey(room, 's', id))])
}
