// A suite's redis-server (redis-server.ts) and cluster nodes (`huddle serve --redis`) on it.
import { Redis } from 'ioredis'
import type { Test } from 'uvu'
import { cleanupClients } from './clients.js'
import { RedisServer } from './redis-server.js'
import { makeTempDir, type StartOptions, TestServer } from './server.js'

export { RedisServer }

/**
 * The lifecycle of a cluster test file: a redis-server and a client of it (to inspect keys)
 * before the first test, handed to `use`; the nodes a test pushed to `nodes` go after it, and
 * the client and redis-server after the last test.
 */
export function withRedis(suite: Test, nodes: TestServer[], use: (redis: RedisServer, inspect: Redis) => void): void {
  let redis: RedisServer | undefined
  let inspect: Redis | undefined
  suite.before(async () => {
    redis = await RedisServer.start(makeTempDir('huddle-redis-'))
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
