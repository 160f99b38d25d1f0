// The relay of a node that does not own a client's workspace: the client's WebSocket is accepted
// here and carried, frame for frame, over a WebSocket of its own to the owner (which admits it with
// the client's own token and session, as if it had connected directly), and the owner's frames and
// close code come back the same way. One node-to-node socket per client keeps what y-websocket
// relies on — order, no loss, and a close that tells the client to resync — which Redis pub/sub
// gives none of (at most once, no backpressure, nothing when a subscriber reconnects). REST calls
// about a workspace are forwarded to its owner too (proxyHttp).
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { type RawData, WebSocket, WebSocketServer } from 'ws'
import { CloseCode } from '../../shared/close-codes.js'
import { truncateReason } from '../net/connection.js'
import type { RelayProof } from './relay-proof.js'
import { askToRepublish, HANDED_OVER, type HandedOver, parseHandedOver, SYNC_FROM_EMPTY } from './handover.js'

export interface RelayOptions {
  nodeId: string
  /** signs what this node relays (a relayed connection is never relayed further) */
  proof: RelayProof
  maxMessageBytes: number
  maxBufferedBytes: number
  pingMs: number
  /** the owner handed the client's workspace over to this node: serve the client here */
  takeOver(handed: HandedOver): void
}

export interface Target {
  node: string
  url: string
}

interface Pair {
  client: WebSocket
  upstream: WebSocket
  alive: boolean
  upstreamAlive: boolean
}

export class Relays {
  private readonly wss: WebSocketServer
  private readonly pairs = new Set<Pair>()
  private readonly timer: NodeJS.Timeout
  /** relayed connections since start, frames each way */
  opened = 0
  framesToOwner = 0
  framesFromOwner = 0

  constructor(private readonly options: RelayOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false })
    this.timer = setInterval(() => this.sweep(), options.pingMs)
    this.timer.unref()
  }

  get size(): number {
    return this.pairs.size
  }

  /** Accepts the client and connects it to the owner's node. */
  relay(request: IncomingMessage, socket: Duplex, head: Buffer, target: Target): void {
    this.wss.handleUpgrade(request, socket, head, (client) => this.pipe(client, request.url ?? '/', target))
  }

  /** Accepts the client only to close it at once with a code and a reason it can act on. */
  refuse(request: IncomingMessage, socket: Duplex, head: Buffer, code: number, reason: string): void {
    if (socket.destroyed) return
    this.wss.handleUpgrade(request, socket, head, (client) => client.close(code, truncateReason(reason)))
  }

  /**
   * A client relayed here whose workspace moved (handover.ts) to node `target`, not this one: it
   * is relayed there now, under the session it had, and resynced as its new owner cannot know
   * what it has.
   */
  resume(handed: HandedOver, target: Target): void {
    const url = new URL(handed.path, 'http://relay')
    if (!url.searchParams.has('session')) url.searchParams.set('session', handed.session)
    const ask = askToRepublish(handed.presence)
    this.pipe(handed.client, `${url.pathname}${url.search}`, target, [[Buffer.from(SYNC_FROM_EMPTY), true], ...handed.take()])
    if (ask) handed.client.send(ask)
  }

  private pipe(client: WebSocket, path: string, target: Target, preamble: Array<[RawData, boolean]> = []): void {
    this.opened++
    const url = `${target.url.replace(/^http/, 'ws')}${path}`
    const upstream = new WebSocket(url, {
      headers: this.options.proof.headers(this.options.nodeId),
      perMessageDeflate: false,
      maxPayload: this.options.maxMessageBytes,
      handshakeTimeout: 5000,
    })
    const pair: Pair = { client, upstream, alive: true, upstreamAlive: true }
    this.pairs.add(pair)
    let why = `lost the connection to node ${target.node}, which serves this workspace; reconnect`
    const early: Array<[RawData, boolean]> = [...preamble]
    let earlyBytes = 0
    // Before the owner answers, and after it handed the client over, what the client sends waits.
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (upstream.readyState === WebSocket.OPEN) return this.toOwner(upstream, data, isBinary)
      earlyBytes += rawLength(data)
      if (earlyBytes > this.options.maxBufferedBytes) return client.close(CloseCode.tryAgainLater, 'too much sent before the owner node answered; reconnect')
      early.push([data, isBinary])
    }
    const onPong = () => (pair.alive = true)
    const onClose = () => {
      this.pairs.delete(pair)
      if (upstream.readyState === WebSocket.OPEN) upstream.close(1000)
      else upstream.terminate()
    }
    client.on('message', onMessage)
    client.on('pong', onPong)
    if (preamble.length === 0) client.on('error', () => undefined)
    client.on('close', onClose)
    upstream.on('pong', () => (pair.upstreamAlive = true))
    upstream.on('open', () => {
      for (const [data, isBinary] of early.splice(0)) this.toOwner(upstream, data, isBinary)
    })
    upstream.on('message', (data, isBinary) => {
      if (client.bufferedAmount > this.options.maxBufferedBytes) {
        client.close(CloseCode.tryAgainLater, `you are not reading fast enough: more than ${this.options.maxBufferedBytes} bytes queued; reconnect to resync`)
        return
      }
      this.framesFromOwner++
      client.send(data, { binary: isBinary })
    })
    upstream.on('unexpected-response', (_request, response) => {
      why = `node ${target.node}, which serves this workspace, refused the relay (HTTP ${response.statusCode}); reconnect`
      upstream.terminate()
    })
    upstream.on('error', (error) => {
      why = `cannot reach node ${target.node}, which serves this workspace (${error.message}); reconnect in a few seconds`
    })
    upstream.on('close', (code, reason) => {
      if (client.readyState !== WebSocket.OPEN && client.readyState !== WebSocket.CONNECTING) return
      const handed = code === HANDED_OVER ? parseHandedOver(reason.toString()) : null
      if (handed) {
        this.pairs.delete(pair)
        const take = () => {
          client.off('message', onMessage).off('pong', onPong).off('close', onClose)
          return early.splice(0) as Array<[Buffer, boolean]>
        }
        return this.options.takeOver({ ...handed, client, path, from: target.node, take })
      }
      if (code === HANDED_OVER) why = `the workspace moved from node ${target.node}; reconnect`
      if (sendable(code) && code !== HANDED_OVER) client.close(code, reason.toString())
      else client.close(CloseCode.tryAgainLater, truncateReason(why))
    })
  }

  private toOwner(upstream: WebSocket, data: RawData, isBinary: boolean): void {
    this.framesToOwner++
    upstream.send(data, { binary: isBinary })
  }

  /**
   * Clients that stopped answering pings are cut off (the owner sees its relay close); so are
   * owners, else a client relayed to a paused or unreachable owner would wait for it forever (the
   * relay answers the client's pings): it gets 1013 and reconnects, to whichever node owns now.
   */
  private sweep(): void {
    for (const pair of this.pairs) {
      if (!pair.alive) {
        pair.client.terminate()
        continue
      }
      if (!pair.upstreamAlive) {
        pair.upstream.terminate()
        continue
      }
      pair.alive = false
      if (pair.client.readyState === WebSocket.OPEN) pair.client.ping()
      if (pair.upstream.readyState === WebSocket.OPEN) {
        pair.upstreamAlive = false
        pair.upstream.ping()
      }
    }
  }

  closeAll(code: number, reason: string): void {
    for (const pair of this.pairs) pair.client.close(code, reason)
  }

  close(): void {
    clearInterval(this.timer)
    for (const pair of this.pairs) pair.upstream.terminate()
    this.wss.close()
  }
}

/** Codes a WebSocket endpoint may send (1005, 1006 and 1015 only describe what happened locally). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

/** A REST call about a workspace, forwarded to its owner with `headers` added. */
export function proxyHttp(request: IncomingMessage, response: ServerResponse, owner: { node: string; url: string }, headers: Record<string, string>): void {
  const upstream = httpRequest(`${owner.url}${request.url ?? '/'}`, { method: request.method, headers: { ...request.headers, ...headers } }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(response)
  })
  upstream.on('error', (error) => {
    if (response.headersSent) return void response.destroy()
    response.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '2' })
    response.end(JSON.stringify({ error: `node ${owner.node}, which serves this workspace, is unreachable (${error.message}); retry in a few seconds` }))
  })
  request.pipe(upstream)
}
