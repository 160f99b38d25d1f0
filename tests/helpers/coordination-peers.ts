// The participants of the authority's end-to-end tests: identities, stock y-websocket peers of a
// workspace's coordination document and fixture client processes, and the ledger of what they
// did on purpose (the Watcher judges what it sees against it).
import * as Y from 'yjs'
import type { ApprovalRequest, ClaimValue } from '../../shared/coordination.js'
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

// ---------------------------------------------------------------------------------------------
// fixture client processes

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
