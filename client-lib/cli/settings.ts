// Where the client commands find the server, the token and the workspace (flags first, then
// HUDDLE_URL, HUDDLE_TOKEN, HUDDLE_WORKSPACE), and how they report failures and exit.
// HUDDLE_SESSION joins an existing session: `huddle lock … -- cmd` sets it for its command, so
// the huddle commands that command runs write as the lock's holder (guarded documents).
import { type Command, InvalidArgumentError } from 'commander'
import { parseDuration } from '../../shared/duration.js'
import { HuddleApi } from '../api.js'
import { HuddleError } from '../errors.js'
import { tokenWorkspace } from '../identity.js'
import { connect, type Huddle } from '../node.js'

const DEFAULT_URL = 'http://127.0.0.1:1234'

export interface ConnectionFlags {
  url?: string
  token?: string
  workspace?: string
  leaseGrace?: number
}

export interface Settings {
  url: string
  token: string
  workspace: string
  leaseGraceMs?: number
  session?: string
}

export function withConnectionOptions(command: Command): Command {
  return command
    .option('--url <url>', `server address, http(s):// or ws(s):// (env HUDDLE_URL; default ${DEFAULT_URL})`)
    .option('--token <jwt>', 'your token (env HUDDLE_TOKEN)')
    .option('--workspace <ws>', 'the workspace (env HUDDLE_WORKSPACE; default: the one the token is for)')
}

/** For commands that hold locks: how long the server keeps them across a disconnect. */
export function withLeaseGraceOption(command: Command): Command {
  return command.option(
    '--lease-grace <duration>',
    "the server's --lease-grace: a lock is no longer trusted after a disconnect this long (env HUDDLE_LEASE_GRACE; default: what the server publishes)",
    durationArg,
  )
}

export function settings(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Settings {
  const token = flags.token ?? env.HUDDLE_TOKEN
  if (!token)
    throw new HuddleError(
      'unauthorized',
      'no token: pass --token or set HUDDLE_TOKEN (an admin mints one with `huddle token --actor <you> --workspace <ws> --role editor`)',
    )
  const workspace = flags.workspace ?? env.HUDDLE_WORKSPACE ?? tokenWorkspace(token)
  if (!workspace) throw new HuddleError('invalid-argument', 'no workspace: pass --workspace or set HUDDLE_WORKSPACE (your token works for every workspace)')
  const graceText = env.HUDDLE_LEASE_GRACE
  const leaseGraceMs = flags.leaseGrace ?? (graceText ? parseDuration(graceText) : undefined)
  return {
    url: flags.url ?? env.HUDDLE_URL ?? DEFAULT_URL,
    token,
    workspace,
    ...(leaseGraceMs !== undefined ? { leaseGraceMs } : {}),
    ...(env.HUDDLE_SESSION ? { session: env.HUDDLE_SESSION } : {}),
  }
}

export function openClient(flags: ConnectionFlags): Promise<Huddle> {
  return connect(settings(flags))
}

export function openApi(flags: ConnectionFlags): HuddleApi {
  return new HuddleApi(settings(flags))
}

export function durationArg(text: string): number {
  try {
    return parseDuration(text)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}

export function intArg(text: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError(`expected a whole number, not ${JSON.stringify(text)}`)
  return value
}

export function jsonArg(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message}); quote it for the shell, e.g. --details '{"pr": 42}'`)
  }
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

/** Prints `huddle: <message>` on stderr. */
export function warn(message: string): void {
  process.stderr.write(`huddle: ${message}\n`)
}

/** Exits once stdout and stderr are flushed (they may be pipes). */
export function exit(code: number): Promise<never> {
  return new Promise<never>(() => {
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
  })
}

/**
 * Wraps a command action: a HuddleError (or any error) becomes one line on stderr and exit 1;
 * the action's own number, if it returns one, is the exit status.
 */
export function action<A extends unknown[]>(run: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code: number
    try {
      code = (await run(...args)) ?? 0
    } catch (error) {
      warn(error instanceof Error ? error.message : String(error))
      code = 1
    }
    await exit(code)
  }
}

/** A fixed-width table; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows]
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)))
  return `${all.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n')}\n`
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** Runs `handler` on SIGINT, SIGTERM and SIGHUP; returns the function that removes it. */
export function onSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const signal of signals) process.on(signal, handler)
  return () => {
    for (const signal of signals) process.off(signal, handler)
  }
}
