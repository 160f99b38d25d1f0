// What a request to a node is about, so the node can tell whether it owns it: the workspace of a
// REST call, the share link a redemption names, the room of a WebSocket URL. Undefined or null
// for anything malformed: the local handlers then answer with their own reasons.
import { checkWorkspace, parseRoom, type RoomName } from '../../shared/names.js'

const API_WORKSPACE = /^\/api\/workspaces\/([^/]+)\//
const LINK_REDEEM = /^\/api\/links\/([^/]+)\/redeem$/

/** The workspace of a REST call under /api/workspaces/<ws>/. */
export function workspaceOf(pathname: string): string | undefined {
  const match = API_WORKSPACE.exec(pathname)
  if (!match) return undefined
  const workspace = decoded(match[1]!)
  return workspace === undefined || checkWorkspace(workspace) ? undefined : workspace
}

/** The share link a redemption (/api/links/<id>/redeem) names. */
export function redeemedLinkOf(pathname: string): string | undefined {
  const match = LINK_REDEEM.exec(pathname)
  return match ? decoded(match[1]!) : undefined
}

/** The room a WebSocket URL names. */
export function roomOf(url: string): RoomName | null {
  try {
    const path = new URL(url, 'http://localhost').pathname.replace(/^\/+/, '')
    const room = parseRoom(decodeURIComponent(path))
    return typeof room === 'string' ? null : room
  } catch {
    return null
  }
}

function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}
