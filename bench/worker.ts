// A benchmark client process. The orchestrator (run.ts) forks several and spreads the clients of
// every scenario over them, so that no single process's event loop limits what is measured.
// Observers, cursor movers and pumps are raw sockets (bench/lib/rawws.ts); writers are real
// providers (y-websocket's WebsocketProvider, or Hocuspocus's own HocuspocusProvider).
import * as Y from 'yjs'
import { Histogram, nowUs } from './lib/hist.js'
import { RawWs, type RawMessage } from './lib/rawws.js'
import type { ActArgs, ConnectArgs, ConnectResult, GroupStats, PumpArgs, Reply, Request, StormArgs, StormResult, Target } from './lib/rpc.js'
import { marker, MSG_AWARENESS, MSG_SYNC, MSG_SYNC_REPLY, MSG_SYNC_STATUS, scanMarkers, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, Wire } from './lib/ywire.js'
import { lockCommands } from './lib/lock-agents.js'
import { every } from './lib/every.js'
import { openProvider } from './lib/providers.js'
import { type Client, type Group, groupFor, groups, newClient, newStats } from './lib/groups.js'

process.setMaxListeners(0)

/** how often silent raw clients send their dialect's keepalive (ywire.ts Wire.keepalive) */
const KEEPALIVE_MS = 15_000
setInterval(() => {
  for (const group of groups.values()) {
    const keepalive = group.wire.keepalive
    if (!keepalive) continue
    for (const client of group.clients) if (client.synced) client.ws?.send(client.wire?.keepalive ?? keepalive)
  }
}, KEEPALIVE_MS).unref()

function pathOf(target: Target): string {
  const room = target.dialect === 'hocuspocus' ? '' : target.room
  return `/${room}${target.token ? `?token=${target.token}` : ''}`
}

function onMessage(group: Group, client: Client, message: RawMessage): void {
  const data = message.data
  const stats = group.stats
  const wire = client.wire ?? group.wire
  const start = wire.bodyOffset(data)
  const type = data[start]
  const found = (sentUs: number, writer: number) => {
    if (writer === client.id) {
      if (group.kind === 'pump' && group.target.dialect !== 'hocuspocus') ack(group, client, sentUs)
      return
    }
    if (sentUs < stats.sinceUs) return
    const now = nowUs()
    stats.hist.record(now - sentUs)
    stats.deliveries++
    stats.lastReceiveUs = now
  }
  if (type === MSG_SYNC || type === MSG_SYNC_REPLY) {
    const sub = data[start + 1]
    if (sub === SYNC_STEP1) {
      client.ws?.send(wire.emptyStep2)
      if (group.target.dialect === 'hocuspocus') client.statusToSkip++
    } else if (sub === SYNC_STEP2) {
      if (!client.synced) {
        client.synced = true
        client.onSynced?.(message.length)
      }
    } else if (sub === SYNC_UPDATE) {
      if (client.probe) scanMarkers(data, start + 2, found)
    }
  } else if (type === MSG_AWARENESS) {
    if (client.probe) scanMarkers(data, start + 1, found)
  } else if (type === MSG_SYNC_STATUS && group.kind === 'pump') {
    if (client.statusToSkip > 0) client.statusToSkip--
    else ack(group, client, client.sentAt.shift() ?? nowUs())
  }
}

function ack(group: Group, client: Client, sentUs: number): void {
  if (client.inflight <= 0) return
  client.inflight--
  if (sentUs >= group.stats.sinceUs) {
    group.stats.acks++
    group.stats.hist.record(nowUs() - sentUs)
  }
  client.onAck?.()
}

/** Opens one raw client and resolves once it has the document. */
function openRaw(group: Group, client: Client, timeoutMs: number): Promise<number> {
  const wire = client.wire ?? group.wire
  const target = client.wire ? { ...group.target, room: client.wire.docName } : group.target
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no sync within ${timeoutMs} ms`)), timeoutMs)
    client.onSynced = (bytes) => {
      clearTimeout(timer)
      resolve(bytes)
    }
    RawWs.open(
      target.host,
      target.port,
      pathOf(target),
      {
        message: (message) => onMessage(group, client, message),
        close: (code) => {
          if (!group.closing) group.stats.closed++
          if (!client.synced) {
            clearTimeout(timer)
            reject(new Error(`closed (${code}) before sync`))
          }
        },
      },
      timeoutMs,
    ).then(
      (ws) => {
        client.ws = ws
        for (const frame of wire.opening()) ws.send(frame)
      },
      (error: Error) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** A writer of `group`: a real provider whose remote updates are scanned for latency markers. */
function openWriter(group: Group, id: number, timeoutMs: number): Promise<void> {
  const stats = () => group.stats
  const onRemote = (update: Uint8Array) =>
    scanMarkers(Buffer.from(update.buffer, update.byteOffset, update.byteLength), 0, (sentUs, writer) => {
      const current = stats()
      if (writer === id || sentUs < current.sinceUs) return
      const now = nowUs()
      current.hist.record(now - sentUs)
      current.deliveries++
      current.lastReceiveUs = now
    })
  return openProvider(group.target, id, timeoutMs, onRemote, (writer) => group.providers.push(writer))
}

async function connect(args: ConnectArgs): Promise<ConnectResult> {
  const group = groupFor(args.group, args.target, args.kind)
  const started = performance.now()
  const errors: string[] = []
  let ok = 0
  let next = 0
  const one = async () => {
    while (next < args.count) {
      const id = args.idBase + next++
      try {
        if (args.kind === 'writer') {
          await openWriter(group, id, args.timeoutMs)
        } else {
          const client = newClient(id)
          client.probe = id - args.idBase < (args.probes ?? args.count)
          if (args.roomPerClient) client.wire = new Wire(args.target.dialect, `${args.target.room}-${id}`)
          group.clients.push(client)
          await openRaw(group, client, args.timeoutMs)
        }
        ok++
      } catch (error) {
        if (errors.length < 5) errors.push((error as Error).message)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(args.concurrency, args.count)) }, one))
  return { ok, failed: args.count - ok, errors, ms: performance.now() - started }
}

async function storm(args: StormArgs): Promise<StormResult> {
  const group = groupFor(args.group, args.target, 'observer')
  const wait = (args.atUs - nowUs()) / 1000
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  const errors: string[] = []
  const syncedAtUs: number[] = []
  const bytes: number[] = []
  let failed = 0
  await Promise.all(
    Array.from({ length: args.count }, async (_, i) => {
      const client = newClient(i)
      group.clients.push(client)
      try {
        const size = await openRaw(group, client, args.timeoutMs)
        syncedAtUs.push(nowUs())
        bytes.push(size)
      } catch (error) {
        failed++
        if (errors.length < 5) errors.push((error as Error).message)
      }
    }),
  )
  return { syncedAtUs, bytes, failed, errors }
}

async function act(args: ActArgs): Promise<{ writes: number }> {
  const group = groups.get(args.group)
  if (!group) return { writes: 0 }
  const before = group.stats.writes
  if (group.kind === 'writer') {
    await Promise.all(
      group.providers.slice(0, args.limit).map((writer) =>
        every(args.hz, args.durationMs, () => {
          writer.doc.getMap('m').set(`w${writer.id}`, marker(nowUs(), writer.id))
          group.stats.writes++
        }),
      ),
    )
  } else if (group.kind === 'mover') {
    await Promise.all(
      group.clients
        .filter((client) => client.synced)
        .slice(0, args.limit)
        .map((client) =>
          every(args.hz, args.durationMs, () => {
            const x = Math.floor(Math.random() * 2000)
            const y = Math.floor(Math.random() * 20000)
            client.ws?.send(
              group.wire.awareness(
                client.clientID,
                ++client.clock,
                `{"cursor":{"anchor":${x},"head":${y}},"status":"active","t":"${marker(nowUs(), client.id)}"}`,
              ),
            )
            group.stats.writes++
          }),
        ),
    )
  }
  return { writes: group.stats.writes - before }
}

async function pump(args: PumpArgs): Promise<{ sent: number }> {
  const group = groups.get(args.group)
  if (!group) return { sent: 0 }
  const end = performance.now() + args.durationMs
  let sent = 0
  await Promise.all(
    group.clients
      .filter((client) => client.synced)
      .map(
        (client) =>
          new Promise<void>((resolve) => {
            const doc = new Y.Doc()
            const map = doc.getMap('m')
            const text = doc.getText('t')
            const wire = client.wire ?? group.wire
            const limit = args.maxUpdates ?? Infinity
            let last: Uint8Array | null = null
            doc.on('update', (update: Uint8Array) => {
              last = update
            })
            let seq = 0
            const fill = () => {
              while (client.inflight < args.window && seq < limit && performance.now() < end && client.ws && !client.ws.closed) {
                const now = nowUs()
                if (args.mode === 'text') text.insert(text.length, `${marker(now, client.id)} `)
                else map.set(`k${seq % 16}`, marker(now, client.id))
                seq++
                client.inflight++
                if (group.target.dialect === 'hocuspocus') client.sentAt.push(now)
                client.ws.send(wire.update(last!))
                sent++
              }
              if (performance.now() >= end || !client.ws || client.ws.closed || (seq >= limit && client.inflight === 0)) {
                client.onAck = null
                doc.destroy()
                resolve()
              }
            }
            client.onAck = fill
            fill()
            // acks may stop coming (a server that dropped us): never wait past the end for them
            setTimeout(() => {
              if (client.onAck === fill) {
                client.onAck = null
                resolve()
              }
            }, args.durationMs + 50).unref()
          }),
      ),
  )
  return { sent }
}

/** Sends one update as is (e.g. a whole document's state to seed a server). */
function sendRaw(args: { group: string; update: string }): void {
  const group = groups.get(args.group)
  const client = group?.clients[0]
  if (!group || !client?.ws) throw new Error(`no client in group ${args.group}`)
  client.ws.send(group.wire.update(Buffer.from(args.update, 'base64')))
}

function reset(args: { group: string; sinceUs?: number }): void {
  const group = groups.get(args.group)
  if (!group) return
  group.stats = newStats()
  group.stats.sinceUs = args.sinceUs ?? nowUs()
}

function stats(args: { group: string }): GroupStats {
  const group = groups.get(args.group)
  if (!group) return { hist: new Histogram().toJSON(), deliveries: 0, writes: 0, acks: 0, closed: 0, lastReceiveUs: 0 }
  const { hist, deliveries, writes, acks, closed, lastReceiveUs } = group.stats
  return { hist: hist.toJSON(), deliveries, writes, acks, closed, lastReceiveUs }
}

function close(args: { group: string }): void {
  const group = groups.get(args.group)
  if (!group) return
  group.closing = true
  for (const client of group.clients) client.ws?.close()
  for (const provider of group.providers) provider.destroy()
  groups.delete(args.group)
}

const commands: Record<string, (args: never) => unknown> = {
  connect,
  storm,
  sendRaw,
  act,
  pump,
  reset,
  stats,
  close,
  now: () => nowUs(),
  ...lockCommands,
}

process.on('message', (request: Request) => {
  const handler = commands[request.cmd]
  const reply = (message: Reply) => process.send?.(message)
  if (!handler) {
    reply({ id: request.id, ok: false, error: `unknown command ${request.cmd}` })
    return
  }
  Promise.resolve()
    .then(() => handler(request.args as never))
    .then(
      (result) => reply({ id: request.id, ok: true, result }),
      (error: Error) => reply({ id: request.id, ok: false, error: error.stack ?? String(error) }),
    )
})
process.on('disconnect', () => process.exit(0))
