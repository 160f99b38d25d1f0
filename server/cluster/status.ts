// `huddle cluster status`: the nodes of a cluster and which node owns which workspace, read from
// Redis (it works with every node down).
import type { Command } from 'commander'
import * as K from './keys.js'
import { RedisClient } from './redis.js'

export interface ClusterStatus {
  nodes: Array<{ id: string; url: string; owns: number }>
  workspaces: Array<{ workspace: string; owner: string | null; url: string | null; epoch: number; expiresInMs: number | null }>
}

export async function clusterStatus(url: string): Promise<ClusterStatus> {
  const client = await RedisClient.connect(url)
  try {
    const redis = client.redis
    const nodeKeys = await redis.keys(`${K.NODE_PREFIX}*`)
    const records = nodeKeys.length ? await redis.mget(...nodeKeys) : []
    const nodes = nodeKeys.flatMap((key, index) => {
      const record = records[index]
      if (!record) return []
      const parsed = JSON.parse(record) as { url: string; owns: number }
      return [{ id: key.slice(K.NODE_PREFIX.length), url: parsed.url, owns: parsed.owns }]
    })
    const names = await redis.zrange(K.WORKSPACES, 0, -1)
    const pipeline = redis.pipeline()
    for (const name of names) pipeline.hmget(K.lease(name), 'node', 'url').pttl(K.lease(name)).get(K.epoch(name))
    const replies = (await pipeline.exec()) ?? []
    const workspaces = names.map((workspace, index) => {
      const [node, nodeUrl] = (replies[index * 3]?.[1] ?? [null, null]) as [string | null, string | null]
      const ttl = replies[index * 3 + 1]?.[1] as number
      return {
        workspace,
        owner: node ? node.replace(/#[0-9a-f]+$/, '') : null,
        url: nodeUrl,
        epoch: Number(replies[index * 3 + 2]?.[1] ?? 0),
        expiresInMs: ttl >= 0 ? ttl : null,
      }
    })
    return { nodes: nodes.sort((a, b) => a.id.localeCompare(b.id)), workspaces }
  } finally {
    await client.close()
  }
}

export function formatStatus(status: ClusterStatus): string {
  const lines = [`nodes (${status.nodes.length}):`]
  for (const node of status.nodes) lines.push(`  ${node.id}  ${node.url}  owns ${node.owns}`)
  lines.push(`workspaces (${status.workspaces.length}):`)
  for (const ws of status.workspaces) {
    lines.push(
      `  ${ws.workspace}  ${ws.owner ? `owner ${ws.owner} (epoch ${ws.epoch}, lease ${ws.expiresInMs} ms left)` : `no owner (last epoch ${ws.epoch})`}`,
    )
  }
  return lines.join('\n')
}

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('cluster mode (several `huddle serve --redis` nodes): see docs/cluster.md')
  cluster
    .command('status')
    .description('list the live nodes and the owner of every workspace')
    .requiredOption('--redis <url>', "the cluster's Redis, redis://HOST:PORT[/DB]")
    .option('--json', 'print JSON')
    .action(async (flags: { redis: string; json?: boolean }) => {
      const status = await clusterStatus(flags.redis)
      process.stdout.write(`${flags.json ? JSON.stringify(status, null, 2) : formatStatus(status)}\n`)
    })
}
