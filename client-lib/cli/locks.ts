// `huddle lock RES... -- CMD` (flock for a team), `huddle locks` and `huddle unlock --force`.
import { type ChildProcess, spawn } from 'node:child_process'
import { constants } from 'node:os'
import type { Command } from 'commander'
import { describeHolder, describeWait, formatDuration } from '../describe.js'
import { HuddleError } from '../errors.js'
import type { Lock, WaitInfo } from '../locks.js'
import {
  action,
  type ConnectionFlags,
  durationArg,
  onSignals,
  openApi,
  openClient,
  printJson,
  table,
  warn,
  withConnectionOptions,
  withLeaseGraceOption,
} from './settings.js'

interface LockFlags extends ConnectionFlags {
  shared?: boolean
  wait?: number
  ttl?: number
  note?: string
}

/** Exit status when the lock was lost while the command ran (EX_TEMPFAIL: try again). */
const LOST_EXIT = 75
const PROGRESS_EVERY_MS = 10_000
const KILL_AFTER_MS = 10_000

export function registerLockCommands(program: Command): void {
  withLeaseGraceOption(withConnectionOptions(program.command('lock')))
    .description('run a command while holding locks, like flock: huddle lock db -- ./migrate.sh')
    .argument('<resource...>', 'the resources to lock, then -- and the command to run')
    .option('--shared', 'take shared locks (other shared holders may run at the same time)')
    .option('--wait <duration>', 'give up after waiting this long, e.g. 30s (default: wait for ever)', durationArg)
    .option('--ttl <duration>', 'the server takes the locks back this long after granting them, e.g. 10m', durationArg)
    .option('--note <text>', 'shown to others next to the lock')
    .addHelpText(
      'after',
      `
The command runs with HUDDLE_FENCING_TOKEN set to the lock's fencing token: a number that grows
with every grant, for the protected resource to reject writes from an older holder.
Exit status: the command's (128+n when a signal n killed it); 1 when the locks could not be
taken; ${LOST_EXIT} when they were lost while the command ran (it is sent SIGTERM).`,
    )
    .action(action(async (args: string[], flags: LockFlags) => runLocked(splitCommand(args, process.argv), flags)))

  withConnectionOptions(program.command('locks'))
    .description('list the locks of the workspace: holders, tokens and who waits')
    .option('--json', 'print JSON')
    .action(
      action(async (flags: ConnectionFlags & { json?: boolean }) => {
        const locks = await openApi(flags).locks()
        if (flags.json) return printJson(locks)
        if (locks.length === 0) return void process.stdout.write('no locks are held or waited for\n')
        const now = Date.now()
        const rows = locks.map((lock) => [
          lock.resource,
          lock.holders.map((h) => describeHolder(h, now)).join(', ') || 'free',
          lock.queue.map((w) => `${w.actor} (${w.mode}, ${formatDuration(now - w.queuedAt)})`).join(', ') || '-',
        ])
        process.stdout.write(table(['RESOURCE', 'HELD BY', 'WAITING'], rows))
      }),
    )

  withConnectionOptions(program.command('unlock'))
    .description('force-release a lock (admin): every holder loses it, with outcome "revoked"')
    .argument('<resource>')
    .option('--force', 'required: this takes the lock away from whoever holds it')
    .option('--reason <text>', 'told to the holders and written to the audit log')
    .action(
      action(async (resource: string, flags: ConnectionFlags & { force?: boolean; reason?: string }) => {
        if (!flags.force) {
          throw new HuddleError(
            'invalid-argument',
            `unlock takes ${resource} away from its holder: add --force to confirm (admin only). A \`huddle lock\` releases its own locks when its command ends`,
          )
        }
        await openApi(flags).forceRelease(resource, flags.reason)
        process.stdout.write(`released ${resource}\n`)
      }),
    )
}

/** Commander merges everything after `--` into the variadic resources; split it off again (argv is what the CLI parses). */
function splitCommand(args: string[], rawArgs: string[]): { resources: string[]; command: string[] } {
  const dashes = rawArgs.indexOf('--')
  const command = dashes < 0 ? [] : rawArgs.slice(dashes + 1)
  const resources = args.slice(0, args.length - command.length)
  if (command.length === 0) throw new HuddleError('invalid-argument', 'no command to run: put it after --, e.g. huddle lock db -- ./migrate.sh')
  if (resources.length === 0) throw new HuddleError('invalid-argument', 'no resource to lock: name at least one before --, e.g. huddle lock db -- ./migrate.sh')
  return { resources, command }
}

async function runLocked({ resources, command }: { resources: string[]; command: string[] }, flags: LockFlags): Promise<number> {
  const client = await openClient(flags)
  let child: ChildProcess | null = null
  let interrupted: NodeJS.Signals | null = null
  const waiting = new AbortController()
  // Before the command starts, a signal withdraws the claim; once it runs, the command gets it
  // and decides (huddle exits when it does, releasing the lock on the way).
  const offSignals = onSignals((signal) => {
    if (child) return void child.kill(signal)
    interrupted = signal
    waiting.abort(new Error(`interrupted by ${signal}`))
  })
  const progress = new WaitProgress()
  try {
    let lock: Lock
    try {
      lock = await client.locks.acquire(resources, {
        mode: flags.shared ? 'shared' : 'exclusive',
        ...(flags.wait !== undefined ? { waitMs: flags.wait } : {}),
        ...(flags.ttl !== undefined ? { ttlMs: flags.ttl } : {}),
        ...(flags.note !== undefined ? { note: flags.note } : {}),
        signal: waiting.signal,
        onWait: (info) => progress.update(info),
      })
    } catch (error) {
      if (interrupted) return 128 + constants.signals[interrupted]
      throw error
    } finally {
      progress.stop()
    }
    if (interrupted) return 128 + constants.signals[interrupted] // it came as the grant did
    if (progress.waited) warn(`got ${resources.join(', ')} (token ${lock.token}) after ${formatDuration(Date.now() - progress.since)}`)
    client.presence.set({ activity: `running ${command[0]} holding ${resources.join(', ')}` })
    // HUDDLE_SESSION: huddle commands the command runs join this session, so they write as the
    // holder of the lock (a guarded document refuses every other session's writes).
    child = spawn(command[0]!, command.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, HUDDLE_FENCING_TOKEN: String(lock.token), HUDDLE_SESSION: client.session },
    })
    let lost = false
    lock.signal.addEventListener('abort', () => {
      lost = true
      warn(`${(lock.signal.reason as Error).message}; stopping the command (SIGTERM)`)
      child?.kill('SIGTERM')
      setTimeout(() => child?.kill('SIGKILL'), KILL_AFTER_MS).unref()
    })
    const status = await exitStatus(child, command[0]!)
    return lost ? LOST_EXIT : status
  } finally {
    offSignals()
    await client.close()
  }
}

/** The command's exit status the way a shell reports it. */
function exitStatus(child: ChildProcess, name: string): Promise<number> {
  return new Promise((resolve) => {
    let spawnError: NodeJS.ErrnoException | null = null
    child.once('error', (error) => (spawnError = error))
    child.once('close', (code, signal) => {
      if (spawnError) {
        warn(`cannot run ${name}: ${spawnError.code === 'ENOENT' ? 'command not found' : spawnError.message}`)
        return resolve(spawnError.code === 'ENOENT' ? 127 : 126)
      }
      resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1))
    })
  })
}

/** Shows on stderr what the claim waits for: at each change, and every 10 s while it waits. */
class WaitProgress {
  readonly since = Date.now()
  waited = false
  private last: WaitInfo | null = null
  private timer: ReturnType<typeof setInterval> | null = null

  update(info: WaitInfo): void {
    this.waited = true
    this.last = info
    this.print()
    if (!this.timer) this.timer = setInterval(() => this.print(), PROGRESS_EVERY_MS)
  }

  private print(): void {
    if (this.last) warn(describeWait(this.last))
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}
