// Name rules of docs/design.md §2, shared by server and client so a mistake is reported before
// anything is sent. Each check returns null when the value is fine, else a message saying what
// to fix.

export const WORKSPACE_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/
export const PATH_SEGMENT_RE = /^[A-Za-z0-9._-]+$/
export const ACTOR_RE = /^[A-Za-z0-9._@-]{1,128}$/
export const SESSION_RE = /^[A-Za-z0-9_-]{16,64}$/
export const RESOURCE_RE = /^[A-Za-z0-9._:/@-]{1,200}$/
export const MAX_ROOM_LENGTH = 256

export type NameError = string | null

export function checkWorkspace(ws: unknown): NameError {
  if (typeof ws !== 'string' || !WORKSPACE_RE.test(ws)) {
    return `bad workspace name ${show(ws)}: use 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`
  }
  return null
}

export function checkActor(actor: unknown): NameError {
  if (typeof actor !== 'string' || !ACTOR_RE.test(actor)) {
    return `bad actor id ${show(actor)}: use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '@' or '-'`
  }
  return null
}

export function checkSession(session: unknown): NameError {
  if (typeof session !== 'string' || !SESSION_RE.test(session)) {
    return `bad session id ${show(session)}: use 16-64 characters of A-Z, a-z, 0-9, '_' or '-'`
  }
  return null
}

export function checkResource(resource: unknown): NameError {
  if (typeof resource !== 'string' || !RESOURCE_RE.test(resource)) {
    return `bad lock resource ${show(resource)}: use 1-200 characters of A-Z, a-z, 0-9 and . _ : / @ -`
  }
  return null
}

export interface RoomName {
  /** the whole room name, as in the URL path */
  room: string
  workspace: string
  /** the content path below the workspace; null for the workspace's coordination document */
  path: string | null
}

/** Parses `<workspace>` or `<workspace>/<path>`; returns an error message for a bad name. */
export function parseRoom(room: string): RoomName | string {
  if (room.length === 0) return 'missing room name: connect to ws://HOST:PORT/<workspace> or /<workspace>/<path>'
  if (room.length > MAX_ROOM_LENGTH) return `room name is ${room.length} characters long; the limit is ${MAX_ROOM_LENGTH}`
  const [workspace, ...segments] = room.split('/')
  const wsError = checkWorkspace(workspace)
  if (wsError) return wsError
  if (segments.length === 0) return { room, workspace: workspace!, path: null }
  for (const segment of segments) {
    if (!PATH_SEGMENT_RE.test(segment) || segment === '.' || segment === '..') {
      return `bad document path segment ${show(segment)} in ${show(room)}: use A-Z, a-z, 0-9, '.', '_' or '-' between slashes (no '.' or '..' segments, no empty ones)`
    }
  }
  return { room, workspace: workspace!, path: segments.join('/') }
}

/**
 * Quotes a value for a message, shortened; never throws, whatever a client sent (lib0 decodes a
 * `__proto__` key into a null-prototype object, which `String()` cannot convert).
 */
export function show(value: unknown): string {
  const text = describe(value)
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}
