// A real redis-server for cluster tests, on a free port with its own directory and its append-only
// file on (as docs/cluster.md requires), and cluster nodes (`huddle serve --redis`) on it.
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import type { Test } from 'uvu'
import { cleanupClients } from './clients.js'
import { makeTempDir, type StartOptions, TestServer } from './server.js'

const processes = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of processes) child.kill('SIGKILL')
})

export class RedisServer {
  child!: ChildProcess
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), makeTempDir('huddle-redis-'))
    await server.spawn()
    return server
  }

  /** Starts (again) on the same port and directory: what the append-only file kept comes back. */
  async spawn(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--save', '', '--protected-mode', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    processes.add(child)
    child.once('exit', () => processes.delete(child))
    this.child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000)
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}:\n${output}`))
      })
    })
  }

  /** kill -9, and wait for the exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}

/**
 * The lifecycle of a cluster test file: a redis-server and a client of it (to inspect keys)
 * before the first test, handed to `use`; the nodes a test pushed to `nodes` go after it, and
 * the client and redis-server after the last test.
 */
export function withRedis(suite: Test, nodes: TestServer[], use: (redis: RedisServer, inspect: Redis) => void): void {
  let redis: RedisServer | undefined
  let inspect: Redis | undefined
  suite.before(async () => {
    redis = await RedisServer.start()
    inspect = new Redis(redis.url)
    use(redis, inspect)
  })
  suite.after.each(async () => {
    cleanupClients()
    // A node the test paused (SIGSTOP) cannot exit until it runs again; for the others it is a no-op.
    for (const node of nodes) if (node.running) node.child.kill('SIGCONT')
    await Promise.all(nodes.splice(0).map((node) => node.dispose()))
  })
  suite.after(async () => {
    inspect?.disconnect()
    await redis?.kill()
  })
}

/** A suite's Redis and its nodes: `node()` starts one with the suite's flags, stopped after each test. */
export interface Cluster {
  readonly redis: RedisServer
  /** a plain client, to look at the keys */
  readonly inspect: Redis
  node(name: string, args?: string[], options?: StartOptions): Promise<TestServer>
}

export function withCluster(suite: Test, flags: string[]): Cluster {
  const nodes: TestServer[] = []
  let redis: RedisServer | undefined
  let inspect: Redis | undefined
  withRedis(suite, nodes, (started, client) => {
    redis = started
    inspect = client
  })
  return {
    get redis() {
      return redis!
    },
    get inspect() {
      return inspect!
    },
    async node(name, args = [], options = {}) {
      const started = await startNode(redis!, name, [...flags, ...args], options)
      nodes.push(started)
      return started
    },
  }
}

/** A `huddle serve --redis` node; `--node-id` defaults to `name`. */
export function startNode(redis: RedisServer, name: string, args: string[] = [], options: StartOptions = {}): Promise<TestServer> {
  return TestServer.start({ ...options, args: ['--redis', redis.url, '--node-id', name, ...args] })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}
