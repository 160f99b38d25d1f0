// The `huddle` command line.
import { Command, InvalidArgumentError, Option } from 'commander'
import { parseDuration } from '../shared/duration.js'
import { ROLES, KINDS } from '../shared/roles.js'
import { loadSecret } from './auth/secret.js'
import { signToken } from './auth/tokens.js'
import { DEFAULTS } from './config.js'
import { serve } from './serve.js'
import { registerClusterCommands } from './cluster/status.js'
import { redisUrlError } from './cluster/redis.js'
import { registerClientCommands } from '../client-lib/cli/index.js'

const program = new Command('huddle')
  .description('Real-time coordination for humans and AI agents: shared documents, locks, approvals, presence.')
  .showHelpAfterError('(run `huddle help <command>` for the options)')

program
  .command('serve')
  .description('run the server (WebSocket sync at ws://HOST:PORT/<workspace>[/<path>], health at /healthz, metrics at /metrics)')
  .option('--port <n>', 'port to listen on (0 picks a free one)', int, DEFAULTS.port)
  .option('--host <addr>', 'address to listen on', DEFAULTS.host)
  .option('--data <dir>', 'data directory (LevelDB and the generated secret)', DEFAULTS.dataDir)
  .option('--memory', 'keep everything in memory, nothing on disk: all data is lost when the server exits')
  .addOption(
    new Option('--durability <mode>', 'os: survive a process crash; fsync: also survive power loss').choices(['os', 'fsync']).default(DEFAULTS.durability),
  )
  .option('--max-message <bytes>', 'largest accepted message in bytes', int, DEFAULTS.maxMessageBytes)
  .option('--rate <n>', 'messages per second per connection', int, DEFAULTS.ratePerSecond)
  .option('--burst <n>', 'burst allowance per connection', int, DEFAULTS.burst)
  .option('--unload-after <duration>', 'keep an idle document loaded this long', duration, DEFAULTS.unloadAfterMs)
  .option('--lease-grace <duration>', 'a disconnected session keeps its locks this long', duration, DEFAULTS.leaseGraceMs)
  .option(
    '--broadcast-share <fraction>',
    "CPU-saving mode: most of a core one room's broadcasts may take, always; a busy room merges updates into fewer messages to stay under it, adding latency in rooms of hundreds (default: wait only when the server is loaded)",
    share,
  )
  .option('--keep-alive <duration>', 'send a keep-alive to a connection quiet for this long', duration, DEFAULTS.keepAliveMs)
  .option('--ping-interval <duration>', 'ping sockets this often; drop those that miss a whole interval', duration, DEFAULTS.pingMs)
  .option('--max-buffered <bytes>', 'close a client that has more than this queued (it stopped reading)', int, DEFAULTS.maxBufferedBytes)
  .option(
    '--max-connections <n>',
    'refuse WebSocket connections above this many with 1013 (keep it under the open-file limit, `ulimit -n`)',
    positive,
    DEFAULTS.maxConnections,
  )
  .option(
    '--link-attempts <n>',
    'wrong share-link passwords allowed per link and per client address in a minute; then 429 with Retry-After',
    positive,
    DEFAULTS.linkAttemptsPerMinute,
  )
  .option('--compact-after <n>', "compact a document's update log after this many updates", int, DEFAULTS.compactAfter)
  .option('--webhooks-allow-private', 'let webhooks go to loopback and private addresses (local receivers, tests)')
  .option(
    '--webhooks-retry-scale <factor>',
    'multiply the webhook retry schedule (5 s … 24 h) and the failing-for-a-day limit, e.g. 0.001 for tests',
    positiveNumber,
    DEFAULTS.webhooksRetryScale,
  )
  .option('--webhooks-timeout <duration>', 'a webhook receiver must answer within this long', duration, DEFAULTS.webhooksTimeoutMs)
  .option('--lock-waiting-after <duration>', 'report a claim still waiting after this long (the lock.waiting webhook event)', duration, DEFAULTS.lockWaitingMs)
  .option('--public-url <url>', "the dashboard's address as people open it, for links in webhooks (default: http://HOST:PORT)")
  .option('--redis <url>', 'run as a node of a cluster sharing this Redis (redis://HOST:PORT[/DB], AOF on) instead of LevelDB; see docs/cluster.md')
  .option('--node-id <id>', "cluster mode: this node's name (default: <hostname>-<pid>)")
  .option(
    '--owner-lease <duration>',
    "cluster mode: a room's owner holds it this long without renewing; a dead owner's rooms move after it",
    duration,
    DEFAULTS.ownerLeaseMs,
  )
  .option('--advertise <url>', 'cluster mode: the http://HOST:PORT other nodes reach this one at (default: from --host and --port)')
  .option('--no-history', 'keep no document history (no attribution, versions, diff, blame or revert)')
  .option('--history-quiet <duration>', 'a changed document gets a version after this long without changes', duration, DEFAULTS.historyQuietMs)
  .option('--history-max <duration>', '... or this long into continuous editing', duration, DEFAULTS.historyMaxMs)
  .option('--history-keep-all <duration>', 'keep every version this long, then one per hour', duration, DEFAULTS.historyKeepAllMs)
  .option(
    '--history-hourly <duration>',
    'keep one version per hour this long, then one per day (labelled versions are always kept)',
    duration,
    DEFAULTS.historyHourlyMs,
  )
  .option('--history-sweep <duration>', 'apply retention to every document this often, in the background', duration, DEFAULTS.historySweepMs)
  .action(async (flags, command: Command) => {
    if (flags.memory && command.getOptionValueSource('data') === 'cli') {
      throw new InvalidArgumentError('--memory writes nothing to disk, so it takes no --data directory: drop one of the two')
    }
    if (flags.memory && flags.redis) throw new InvalidArgumentError('--redis keeps the data in Redis, --memory in this process: drop one of the two')
    const badRedis = flags.redis ? redisUrlError(flags.redis) : null
    if (badRedis) throw new InvalidArgumentError(badRedis)
    for (const name of ['nodeId', 'ownerLease', 'advertise'] as const) {
      if (!flags.redis && command.getOptionValueSource(name) === 'cli')
        throw new InvalidArgumentError(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for cluster mode: add --redis redis://HOST:PORT`)
    }
    if (flags.ownerLease < 300) throw new InvalidArgumentError('--owner-lease must be at least 300ms: renewals go out three times per lease')
    await serve({
      ...DEFAULTS,
      port: flags.port,
      host: flags.host,
      dataDir: flags.data,
      memory: flags.memory === true,
      durability: flags.durability,
      maxMessageBytes: flags.maxMessage,
      ratePerSecond: flags.rate,
      burst: flags.burst,
      unloadAfterMs: flags.unloadAfter,
      leaseGraceMs: flags.leaseGrace,
      broadcastShare: flags.broadcastShare ?? null,
      keepAliveMs: flags.keepAlive,
      pingMs: flags.pingInterval,
      compactAfter: flags.compactAfter,
      maxBufferedBytes: flags.maxBuffered,
      webhooksAllowPrivate: flags.webhooksAllowPrivate === true,
      webhooksRetryScale: flags.webhooksRetryScale,
      webhooksTimeoutMs: flags.webhooksTimeout,
      lockWaitingMs: flags.lockWaitingAfter,
      publicUrl: flags.publicUrl ? publicUrl(flags.publicUrl) : null,
      maxConnections: flags.maxConnections,
      linkAttemptsPerMinute: flags.linkAttempts,
      redis: flags.redis ?? null,
      nodeId: flags.nodeId ?? '',
      ownerLeaseMs: flags.ownerLease,
      advertise: flags.advertise ?? null,
      history: flags.history !== false,
      historyQuietMs: flags.historyQuiet,
      historyMaxMs: flags.historyMax,
      historyKeepAllMs: flags.historyKeepAll,
      historyHourlyMs: flags.historyHourly,
      historySweepMs: flags.historySweep,
    })
  })

program
  .command('token')
  .description('print a signed token (uses HUDDLE_SECRET or the secret in --data)')
  .requiredOption('--actor <id>', 'who the token is for, e.g. alice or ci-bot')
  .requiredOption('--workspace <ws>', 'the workspace it opens, or * for all')
  .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
  .addOption(new Option('--kind <kind>', 'human or agent (agents never vote)').choices(KINDS).default('human'))
  .option('--name <display>', 'display name (default: the actor id)')
  .option('--ttl <duration>', 'lifetime, e.g. 1h or 30d', duration, parseDuration('30d'))
  .option('--data <dir>', "the server's data directory, to read its secret", DEFAULTS.dataDir)
  .action(async (flags) => {
    const secret = loadSecret(flags.data)
    const token = await signToken(secret.key, {
      actor: flags.actor,
      workspace: flags.workspace,
      role: flags.role,
      kind: flags.kind,
      name: flags.name,
      ttlMs: flags.ttl,
    })
    process.stdout.write(`${token}\n`)
  })

registerClusterCommands(program)
registerClientCommands(program)

function int(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number')
  return value
}

function positive(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a whole number of at least 1`)
  return value
}

function share(text: string): number {
  const value = Number(text)
  if (!(value > 0 && value <= 1))
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not a share of a core: write a number above 0 and at most 1, e.g. 0.1`)
  return value
}

function positiveNumber(text: string): number {
  const value = Number(text)
  if (!(value > 0 && Number.isFinite(value))) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a positive number: write e.g. 0.001`)
  return value
}

function publicUrl(text: string): string {
  if (!/^https?:\/\/[^/\s]+/.test(text)) {
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not an http(s) address: write e.g. https://huddle.example.com`)
  }
  return text.replace(/\/+$/, '')
}

function duration(text: string): number {
  try {
    return parseDuration(text)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`huddle: ${error.message}\n`)
  process.exit(1)
})
