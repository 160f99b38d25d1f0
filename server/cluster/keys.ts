// Redis key layout of cluster mode. Every key of one workspace carries the hash tag `{<ws>}`, so
// Redis Cluster keeps a workspace in one slot: the scripts that append a document update, its audit
// entry and the authority checkpoint atomically, after checking the lease epoch, may only touch
// keys of one slot. The tag is the workspace rather than the room because the audit chain and the
// authority are per workspace, so one owner must hold all of a workspace's rooms.
//
//   huddle:{ws}:lease        hash {epoch, node, url}, expires: the owner's lease
//   huddle:{ws}:epoch        the last epoch handed out (never expires, only grows)
//   huddle:{ws}:handover     the node a released lease is kept for (rebalancing), expires
//   huddle:{ws}:kv           hash: store key -> value (audit entries, the authority checkpoint, history,
//                            change sets, webhook endpoints with their delivery state and logs)
//   huddle:{ws}:idx          sorted set of the kv hash's keys (score 0), for ordered range reads
//   huddle:{ws}:docs         sorted set of the workspace's stored room names
//   huddle:{ws}:log:<room>   stream of Yjs updates (field u; e: the epoch that appended it)
//   huddle:{ws}:state:<room> the compacted state; huddle:{ws}:sv:<room> its state vector
//   huddle:{global}:kv/idx   keys that belong to no workspace (session bindings, links, revocations)
//   huddle:{global}:credentials  counter bumped by every write of a share link or revocation
//   huddle:workspaces        sorted set of every workspace with stored data
//   huddle:owned             workspaces whose owner may have died holding work (see sweeper.ts)
//   huddle:node:<id>         a live node's heartbeat {url, startedAt}, expires
//   huddle:secret-check      HMAC of a fixed text under the cluster's secret
import { WORKSPACE_RE } from '../../shared/names.js'

export const GLOBAL_TAG = '{global}'
export const WORKSPACES = 'huddle:workspaces'
export const OWNED = 'huddle:owned'
export const SECRET_CHECK = 'huddle:secret-check'
export const NODE_PREFIX = 'huddle:node:'

/** Store key families every node keeps in memory: a write of one bumps CREDENTIALS (credentials.ts). */
export const CREDENTIAL_FAMILIES = ['link!', 'revoked!']
export const CREDENTIALS = `huddle:${GLOBAL_TAG}:credentials`

export const isCredential = (key: string) => CREDENTIAL_FAMILIES.some((family) => key.startsWith(family))

/** Store key families (the text before the first '!') whose second part is a room or workspace. */
export const WORKSPACE_FAMILIES = new Set(['doc', 'audit', 'authority', 'hist', 'changeset', 'webhook', 'webhook-log'])

/** Whether `key` (or a range bound) is of a family kept under the tags of workspaces. */
export function inWorkspaceFamily(key: string): boolean {
  const bang = key.indexOf('!')
  return bang >= 0 && WORKSPACE_FAMILIES.has(key.slice(0, bang))
}

/** The workspace a store key belongs to, or null for a cluster-wide key. */
export function workspaceOfKey(key: string): string | null {
  if (!inWorkspaceFamily(key)) return null
  const rest = key.slice(key.indexOf('!') + 1)
  const end = rest.search(/[!/]/)
  const workspace = end < 0 ? rest : rest.slice(0, end)
  return WORKSPACE_RE.test(workspace) ? workspace : null
}

export function workspaceOfRoom(room: string): string {
  const slash = room.indexOf('/')
  return slash < 0 ? room : room.slice(0, slash)
}

export function tagOf(workspace: string | null): string {
  return workspace === null ? GLOBAL_TAG : `{${workspace}}`
}

export const leaseIn = (tag: string) => `huddle:${tag}:lease`
export const docsIn = (tag: string) => `huddle:${tag}:docs`
export const lease = (ws: string) => leaseIn(tagOf(ws))
export const epoch = (ws: string) => `huddle:${tagOf(ws)}:epoch`
export const handover = (ws: string) => `huddle:${tagOf(ws)}:handover`
export const kv = (tag: string) => `huddle:${tag}:kv`
export const idx = (tag: string) => `huddle:${tag}:idx`
export const docs = (ws: string) => docsIn(tagOf(ws))
export const log = (room: string) => `huddle:${tagOf(workspaceOfRoom(room))}:log:${room}`
export const state = (room: string) => `huddle:${tagOf(workspaceOfRoom(room))}:state:${room}`
export const sv = (room: string) => `huddle:${tagOf(workspaceOfRoom(room))}:sv:${room}`
