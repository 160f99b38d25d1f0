// Scenario D's agents, in the client processes: Huddle client-library connections (connect(),
// locks.acquire(), lock.release(), or connectLocks() for lock-only agents) that claim resources in
// a loop and log every grant. If the client library is not built, stock y-websocket providers write
// the claims themselves, as docs/design.md §4 describes (claims[<session>:<id>] = {resources,
// mode}; outcome `granted`); lock-only agents then cannot run.
import { randomBytes } from 'node:crypto'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { nowUs } from './hist.js'
import type { LockAgentArgs, LockEvent, LockLoopArgs } from './rpc.js'
import { COORD } from '../../shared/coordination.js'

interface HeldLock {
  token: number
  release(): Promise<void>
}

interface Agent {
  acquire(resource: string): Promise<HeldLock>
  close(): Promise<void>
}

type ConnectOptions = { url: string; workspace: string; token: string; connectTimeoutMs?: number }

interface ClientLib {
  connect(options: ConnectOptions): Promise<{
    locks: { acquire(resources: string | string[]): Promise<HeldLock> }
    close(): Promise<void>
  }>
  connectLocks(options: ConnectOptions): Promise<{ acquire(resources: string | string[]): Promise<HeldLock>; close(): Promise<void> }>
}

const agents = new Map<string, Agent[]>()
let clientLib: ClientLib | null | undefined

async function loadClientLib(): Promise<ClientLib | null> {
  if (clientLib !== undefined) return clientLib
  // BENCH_RAW_LOCKS=1: stock providers writing claims (what the client library adds is then not measured)
  if (process.env.BENCH_RAW_LOCKS === '1') return (clientLib = null)
  try {
    // a computed specifier: the bench builds even while the client library is not there
    const specifier = new URL('../../client-lib/node.js', import.meta.url).href
    clientLib = (await import(specifier)) as ClientLib
  } catch {
    clientLib = null
  }
  return clientLib
}

async function libAgent(lib: ClientLib, args: LockAgentArgs): Promise<Agent> {
  const options = { url: args.url, workspace: args.workspace, token: args.token, connectTimeoutMs: 30_000 }
  if (args.lockOnly) return lib.connectLocks(options)
  const huddle = await lib.connect(options)
  return {
    acquire: (resource) => huddle.locks.acquire(resource),
    close: () => huddle.close(),
  }
}

/** The fallback: the protocol of docs/design.md §4 spoken by a stock provider. */
function rawAgent(args: LockAgentArgs): Promise<Agent> {
  const doc = new Y.Doc()
  const session = randomBytes(16).toString('base64url')
  const provider = new WebsocketProvider(args.url.replace(/^http/, 'ws'), args.workspace, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: args.token, session },
    disableBc: true,
  })
  const claims = doc.getMap(COORD.claims)
  const outcomes = doc.getMap(COORD.outcomes)
  let seq = 0
  const agent: Agent = {
    acquire: (resource) =>
      new Promise<HeldLock>((resolve, reject) => {
        const key = `${session}:c${seq++}`
        const check = () => {
          const outcome = outcomes.get(key) as { state: string; token?: number } | undefined
          if (!outcome) return
          outcomes.unobserve(check)
          if (outcome.state !== 'granted') return reject(new Error(`claim ${key}: ${outcome.state}`))
          resolve({
            token: outcome.token ?? 0,
            release: async () => {
              claims.delete(key)
            },
          })
        }
        outcomes.observe(check)
        claims.set(key, { resources: [resource], mode: 'exclusive' })
      }),
    close: async () => provider.destroy(),
  }
  return new Promise((resolve) => provider.on('sync', (synced: boolean) => synced && resolve(agent)))
}

async function lockConnect(args: LockAgentArgs): Promise<{ ok: number; failed: number; errors: string[]; mode: string }> {
  const lib = await loadClientLib()
  if (args.lockOnly && !lib) return { ok: 0, failed: args.count, errors: ['lock-only agents need the built client library'], mode: 'lock-only' }
  const list = agents.get(args.group) ?? []
  agents.set(args.group, list)
  const errors: string[] = []
  let ok = 0
  // a few at a time: each connection replays the coordination document
  for (let i = 0; i < args.count; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, args.count - i) }, async () => {
        try {
          list.push(lib ? await libAgent(lib, args) : await rawAgent(args))
          ok++
        } catch (error) {
          if (errors.length < 5) errors.push((error as Error).message)
        }
      }),
    )
  }
  return { ok, failed: args.count - ok, errors, mode: !lib ? 'y-websocket provider' : args.lockOnly ? 'client-lib, lock-only' : 'client-lib' }
}

async function lockLoop(args: LockLoopArgs): Promise<{ events: LockEvent[]; errors: string[] }> {
  const list = agents.get(args.group) ?? []
  const events: LockEvent[] = []
  const errors: string[] = []
  const end = performance.now() + args.durationMs
  await Promise.all(
    list.map(async (agent) => {
      for (let round = 0; round < args.maxRounds && performance.now() < end; round++) {
        const resource = args.resources[Math.floor(Math.random() * args.resources.length)]!
        const claimedUs = nowUs()
        let lock: HeldLock
        try {
          lock = await agent.acquire(resource)
        } catch (error) {
          if (errors.length < 5) errors.push((error as Error).message)
          return
        }
        const grantedUs = nowUs()
        if (args.holdMs > 0) await new Promise((resolve) => setTimeout(resolve, args.holdMs))
        const releasedUs = nowUs()
        await lock.release()
        events.push({ token: lock.token, claimedUs, grantedUs, releasedUs, resource })
      }
    }),
  )
  return { events, errors }
}

async function lockClose(args: { group: string }): Promise<void> {
  const list = agents.get(args.group) ?? []
  agents.delete(args.group)
  await Promise.all(list.map((agent) => agent.close().catch(() => undefined)))
}

export const lockCommands = { lockConnect, lockLoop, lockClose }
