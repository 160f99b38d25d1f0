// The servers under test, each in its own process: Huddle (`huddle serve`, persistence on, data on
// disk), Huddle in memory (`huddle serve --memory`: the same server on memory-level, so the pair
// shows what the disk costs), the reference y-websocket server and Hocuspocus.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signToken } from '../../server/auth/tokens.js'
import { cpuSeconds, cpuSplit, memory, type Memory } from './proc.js'
import type { Dialect } from './ywire.js'

/** the repository root (this file runs from dist/bench/lib/) */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const RESULTS = join(ROOT, 'bench', 'results')
export const BENCH_SECRET = 'huddle-bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz'
export const WORKSPACE = 'bench'
/**
 * HUDDLE_BENCH_BASELINE=<another built checkout> adds `huddle-base`, the same server from that
 * checkout (e.g. `git archive HEAD` before a change), to scenarios A, B, C and E: how a server
 * change is measured, interleaved with the change itself.
 */
export const BASELINE = process.env.HUDDLE_BENCH_BASELINE ?? null
/** BENCH_HUDDLE_ARGS='--broadcast-share 0.3': extra `huddle serve` flags for this checkout's server (to see what a setting costs) */
const EXTRA_HUDDLE_ARGS = process.env.BENCH_HUDDLE_ARGS?.split(' ').filter(Boolean) ?? []

export type ServerKind = 'huddle' | 'huddle-mem' | 'huddle-base' | 'yws' | 'hocuspocus' | 'hocuspocus4' | 'etcd'

export const LABELS: Record<ServerKind, string> = {
  huddle: 'huddle',
  'huddle-mem': 'huddle (memory)',
  'huddle-base': 'huddle (baseline)',
  yws: 'y-websocket-server',
  hocuspocus: 'hocuspocus 3',
  hocuspocus4: 'hocuspocus 4',
  etcd: 'etcd 3.4 (lock service)',
}

export interface StartSpec {
  kind: ServerKind
  /** Huddle: --durability */
  durability?: 'os' | 'fsync'
  /** extra flags for `huddle serve` */
  args?: string[]
  /** peers: turn on their persistence (y-leveldb / a LevelDB onStoreDocument hook) */
  persist?: boolean
  /** reuse this data directory (kept afterwards) */
  dataDir?: string
  /** write a V8 CPU profile to bench/results/profiles/ */
  profile?: boolean
  /** extra environment */
  env?: Record<string, string>
}

let token: string | null = null

/** An editor token for workspace `bench` (Huddle needs one; the peers ignore it). */
export async function benchToken(): Promise<string> {
  token ??= await signToken(new TextEncoder().encode(BENCH_SECRET), {
    actor: 'bench',
    workspace: WORKSPACE,
    role: 'editor',
    kind: 'agent',
    ttlMs: 12 * 3_600_000,
  })
  return token
}

const live = new Set<ServerProc>()
process.on('exit', () => {
  for (const server of live) server.kill()
})

export class ServerProc {
  port = 0
  private stderr: string[] = []
  private exited = false

  private constructor(
    readonly kind: ServerKind,
    readonly child: ChildProcess,
    readonly dataDir: string | null,
    private readonly ownsDir: boolean,
  ) {}

  get label(): string {
    return LABELS[this.kind]
  }

  get pid(): number {
    return this.child.pid!
  }

  get dialect(): Dialect {
    return this.kind === 'hocuspocus' || this.kind === 'hocuspocus4' ? 'hocuspocus' : 'y-websocket'
  }

  get isHuddle(): boolean {
    return this.kind === 'huddle' || this.kind === 'huddle-mem' || this.kind === 'huddle-base'
  }

  get running(): boolean {
    return !this.exited
  }

  cpu(): number {
    return cpuSeconds(this.pid)
  }

  cpuSplit(): [number, number] {
    return cpuSplit(this.pid)
  }

  memory(): Memory {
    return memory(this.pid)
  }

  get lastStderr(): string {
    return this.stderr.slice(-20).join('\n')
  }

  static async start(spec: StartSpec): Promise<ServerProc> {
    const node = process.execPath
    const nodeArgs = ['--max-old-space-size=4096']
    if (spec.profile) {
      const dir = join(RESULTS, 'profiles')
      mkdirSync(dir, { recursive: true })
      nodeArgs.push('--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${spec.kind}-${Date.now()}.cpuprofile`)
    }
    let args: string[]
    let dataDir: string | null = spec.dataDir ?? null
    const ownsDir = !spec.dataDir
    if (spec.kind === 'huddle-mem') {
      args = [join(ROOT, 'bin', 'huddle.js'), 'serve', '--port', '0', '--memory', ...(spec.args ?? [])]
    } else if (spec.kind === 'huddle' || spec.kind === 'huddle-base') {
      dataDir ??= mkdtempSync(join(tmpdir(), 'huddle-bench-'))
      if (spec.kind === 'huddle-base' && !BASELINE) throw new Error('huddle-base needs HUDDLE_BENCH_BASELINE=<a built checkout>')
      args = [
        join(spec.kind === 'huddle-base' ? BASELINE! : ROOT, 'bin', 'huddle.js'),
        'serve',
        '--port',
        '0',
        '--data',
        dataDir,
        '--durability',
        spec.durability ?? 'os',
        ...(spec.args ?? []),
        ...(spec.kind === 'huddle' ? EXTRA_HUDDLE_ARGS : []),
      ]
    } else {
      const script = join(ROOT, 'dist', 'bench', 'peers', spec.kind === 'yws' ? 'yws.js' : 'hocuspocus.js')
      args = spec.kind === 'hocuspocus4' ? [script, '--v4'] : [script]
      if (spec.persist) {
        dataDir ??= mkdtempSync(join(tmpdir(), `${spec.kind}-bench-`))
        args.push('--persist', dataDir)
      }
    }
    const child = spawn(node, [...nodeArgs, ...args], {
      cwd: ROOT,
      env: { ...process.env, HUDDLE_SECRET: BENCH_SECRET, HUDDLE_LOG: 'quiet', ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const server = new ServerProc(spec.kind, child, dataDir, ownsDir)
    live.add(server)
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      server.stderr.push(...text.split('\n').filter(Boolean))
      if (server.stderr.length > 200) server.stderr.splice(0, server.stderr.length - 200)
    })
    child.once('exit', () => {
      server.exited = true
      live.delete(server)
    })
    server.port = await new Promise<number>((resolvePort, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`${LABELS[spec.kind]} did not start within 20 s: ${server.lastStderr}`)), 20_000)
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        out += text
        const match = /huddle listening on http:\/\/[^\s:]+:(\d+)/.exec(out) ?? /PORT (\d+)/.exec(out)
        if (match) {
          clearTimeout(timer)
          resolvePort(Number(match[1]))
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${LABELS[spec.kind]} exited with ${code} before listening: ${server.lastStderr}`))
      })
    })
    return server
  }

  /**
   * SIGTERM (Huddle flushes and closes the database, compacting what it unloads; a profile is
   * written), then SIGKILL. `signal: 'SIGKILL'` leaves the database exactly as the last batch did.
   */
  async stop(keepData = false, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((resolveExit) => this.child.once('exit', () => resolveExit()))
      this.child.kill(signal)
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000)
      await gone
      clearTimeout(timer)
    }
    if (this.dataDir && this.ownsDir && !keepData) rmSync(this.dataDir, { recursive: true, force: true })
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL')
    if (this.dataDir && this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true })
  }
}
