// The `huddle` command line.
import { Command, InvalidArgumentError, Option } from 'commander'
import { parseDuration } from '../shared/duration.js'
import { ROLES, KINDS } from '../shared/roles.js'
import { loadSecret } from './auth/secret.js'
import { signToken } from './auth/tokens.js'
import { DEFAULTS } from './config.js'
import { serve } from './serve.js'
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
  .addOption(new Option('--durability <mode>', 'os: survive a process crash; fsync: also survive power loss').choices(['os', 'fsync']).default(DEFAULTS.durability))
  .option('--max-message <bytes>', 'largest accepted message in bytes', int, DEFAULTS.maxMessageBytes)
  .option('--rate <n>', 'messages per second per connection', int, DEFAULTS.ratePerSecond)
  .option('--burst <n>', 'burst allowance per connection', int, DEFAULTS.burst)
  .option('--unload-after <duration>', 'keep an idle document loaded this long', duration, DEFAULTS.unloadAfterMs)
  .option('--lease-grace <duration>', 'a disconnected session keeps its locks this long', duration, DEFAULTS.leaseGraceMs)
  .option('--broadcast-share <fraction>', 'CPU-saving mode: most of a core one room\'s broadcasts may take, always; a busy room merges updates into fewer messages to stay under it, adding latency in rooms of hundreds (default: wait only when the server is loaded)', share)
  .option('--queue-lag <duration>', 'a claim that has to wait shows in its lock\'s queue within this long, with the lock\'s next change (0: at once)', duration, DEFAULTS.queueLagMs)
  .option('--keep-alive <duration>', 'send a keep-alive to a connection quiet for this long', duration, DEFAULTS.keepAliveMs)
  .option('--ping-interval <duration>', 'ping sockets this often; drop those that miss a whole interval', duration, DEFAULTS.pingMs)
  .option('--max-buffered <bytes>', 'close a client that has more than this queued (it stopped reading)', int, DEFAULTS.maxBufferedBytes)
  .option('--compact-after <n>', 'compact a document\'s update log after this many updates', int, DEFAULTS.compactAfter)
  .action(async (flags, command: Command) => {
    if (flags.memory && command.getOptionValueSource('data') === 'cli') {
      throw new InvalidArgumentError('--memory writes nothing to disk, so it takes no --data directory: drop one of the two')
    }
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
      queueLagMs: flags.queueLag,
      broadcastShare: flags.broadcastShare ?? null,
      keepAliveMs: flags.keepAlive,
      pingMs: flags.pingInterval,
      compactAfter: flags.compactAfter,
      maxBufferedBytes: flags.maxBuffered,
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
  .option('--data <dir>', 'the server\'s data directory, to read its secret', DEFAULTS.dataDir)
  .action(async (flags) => {
    const secret = loadSecret(flags.data)
    const token = await signToken(secret.key, { actor: flags.actor, workspace: flags.workspace, role: flags.role, kind: flags.kind, name: flags.name, ttlMs: flags.ttl })
    process.stdout.write(`${token}\n`)
  })

registerClientCommands(program)

function int(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number')
  return value
}

function share(text: string): number {
  const value = Number(text)
  if (!(value > 0 && value <= 1)) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a share of a core: write a number above 0 and at most 1, e.g. 0.1`)
  return value
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
