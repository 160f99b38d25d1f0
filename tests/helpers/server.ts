// A real `huddle serve` process on port 0 with its own temporary data directory. Nothing is
// mocked: tests talk to it over TCP exactly like a deployment would be talked to.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor, withTimeout } from './wait.js'

/** The repository root (this file runs from dist/tests/helpers/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const HUDDLE_BIN = join(ROOT, 'bin', 'huddle.js')

/** The HUDDLE_SECRET every test server uses unless told otherwise (≥ 32 characters). */
export const TEST_SECRET = 'huddle-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz'

export interface StartOptions {
  /** extra `huddle serve` flags, e.g. ['--rate', '10'] */
  args?: string[]
  /**
   * another entry script to run instead of `huddle serve` (a deployment embedding `startServer`,
   * see `distScript`); it gets the same flags and must print the same listening line
   */
  script?: string
  /** HUDDLE_SECRET for the process; null starts it without one (it generates <data>/secret) */
  secret?: string | null
  /** reuse a data directory instead of creating a temporary one */
  dataDir?: string
  /** `--memory` instead of `--data`; the process then runs in the (empty) data directory, so a
   * test can see that nothing was written there */
  memory?: boolean
  /** run under `node --expose-gc` so /healthz?gc=1 collects garbage first */
  exposeGc?: boolean
  env?: Record<string, string>
  /** ms to wait for the listening banner */
  startTimeoutMs?: number
}

/** What a client helper needs of a server: its URLs. */
export type ServerLike = Pick<TestServer, 'wsUrl' | 'httpUrl'>

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

function cleanupEverything(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

// Leftover servers must never outlive the test run, whatever way it ends.
process.on('exit', cleanupEverything)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanupEverything()
    process.exit(130)
  })
}

/** A fresh temporary directory, removed at the end of the run (or by `removeTempDir`). */
export function makeTempDir(prefix = 'huddle-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

const LISTENING_RE = /huddle listening on http:\/\/([^\s:]+):(\d+)/

export class TestServer {
  port = 0
  host = '127.0.0.1'
  /** everything the current process wrote to stdout */
  stdout = ''
  /** the last ~200 lines of stderr of the current process (for failure messages) */
  stderrLines: string[] = []
  /** resolves when the current process exits */
  exited!: Promise<Exit>
  child!: ChildProcess
  private exitInfo: Exit | null = null

  private constructor(
    readonly dataDir: string,
    readonly options: StartOptions,
    private readonly ownsDir: boolean,
  ) {}

  static async start(options: StartOptions = {}): Promise<TestServer> {
    const dir = options.dataDir ?? makeTempDir()
    const server = new TestServer(dir, options, options.dataDir === undefined)
    try {
      await server.spawn(options.args ?? [], 0)
    } catch (error) {
      await server.dispose()
      throw error
    }
    return server
  }

  get httpUrl(): string {
    return `http://${this.host}:${this.port}`
  }

  get wsUrl(): string {
    return `ws://${this.host}:${this.port}`
  }

  get running(): boolean {
    return this.exitInfo === null
  }

  get exitStatus(): Exit | null {
    return this.exitInfo
  }

  /** stderr so far, for assertion messages */
  get stderr(): string {
    return this.stderrLines.join('\n')
  }

  private spawn(args: string[], port: number): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.options.env }
    if (this.options.secret === null) delete env.HUDDLE_SECRET
    else env.HUDDLE_SECRET = this.options.secret ?? TEST_SECRET
    const storage = this.options.memory ? ['--memory'] : ['--data', this.dataDir]
    const entry = this.options.script ? [this.options.script] : [HUDDLE_BIN, 'serve']
    const nodeArgs = [...(this.options.exposeGc ? ['--expose-gc'] : []), ...entry, '--port', String(port), '--host', '127.0.0.1', ...storage, ...args]
    const child = spawn(process.execPath, nodeArgs, { cwd: this.options.memory ? this.dataDir : ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    this.child = child
    this.stdout = ''
    this.stderrLines = []
    this.exitInfo = null
    this.exited = new Promise<Exit>((resolveExit) => {
      child.once('exit', (code, signal) => {
        children.delete(child)
        const info = { code, signal }
        if (this.child === child) this.exitInfo = info
        resolveExit(info)
      })
    })
    // Always drain stderr: a child whose pipe is never read blocks once the pipe buffer fills.
    let partial = ''
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      this.stderrLines.push(...lines)
      if (this.stderrLines.length > 400) this.stderrLines.splice(0, this.stderrLines.length - 200)
    })
    child.stdout!.setEncoding('utf8')
    return new Promise<void>((resolveStart, rejectStart) => {
      const timeoutMs = this.options.startTimeoutMs ?? 15_000
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        rejectStart(new Error(`huddle serve printed no listening line within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`))
      }, timeoutMs)
      let started = false
      child.stdout!.on('data', (chunk: string) => {
        if (this.child !== child) return
        this.stdout += chunk
        const match = LISTENING_RE.exec(this.stdout)
        if (match && !started) {
          started = true
          this.host = match[1]!
          this.port = Number(match[2])
          clearTimeout(timer)
          resolveStart()
        }
      })
      this.exited.then((exit) => {
        clearTimeout(timer)
        rejectStart(
          new Error(`huddle serve exited (code ${exit.code}, signal ${exit.signal}) before listening\nstdout: ${this.stdout}\nstderr: ${this.stderr}`),
        )
      })
    })
  }

  /** Waits until stdout contains `pattern` (the banner is written after the listening line). */
  async waitForStdout(pattern: RegExp, timeoutMs = 5000): Promise<RegExpExecArray> {
    return waitFor(
      () => pattern.exec(this.stdout),
      timeoutMs,
      () => `stdout never matched ${pattern}:\n${this.stdout}`,
    )
  }

  /** SIGTERM (graceful shutdown) and wait for the exit. */
  async stop(timeoutMs = 15_000): Promise<Exit> {
    return this.signalAndWait('SIGTERM', timeoutMs)
  }

  /** SIGKILL (a crash) and wait for the exit. */
  async kill(): Promise<Exit> {
    return this.signalAndWait('SIGKILL', 10_000)
  }

  private async signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<Exit> {
    if (this.exitInfo) return this.exitInfo
    this.child.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        reject(new Error(`huddle serve did not exit within ${timeoutMs} ms of ${signal}\nstderr: ${this.stderr}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Starts a new process on the same data directory (stop or kill the old one first). By default it
   * listens on a new port, so clients of the old process cannot reconnect to it by themselves.
   */
  async restart(options: { samePort?: boolean; args?: string[] } = {}): Promise<void> {
    if (this.running) throw new Error('restart(): stop() or kill() the running server first')
    await this.spawn(options.args ?? this.options.args ?? [], options.samePort ? this.port : 0)
  }

  async fetchText(path: string, timeoutMs = 5000): Promise<HttpResponse> {
    return httpGet(`${this.httpUrl}${path}`, timeoutMs)
  }

  async fetchJson<T = Record<string, unknown>>(path: string, timeoutMs = 5000): Promise<T> {
    const response = await this.fetchText(path, timeoutMs)
    if (response.status !== 200) throw new Error(`GET ${path}: HTTP ${response.status}: ${response.body}`)
    return JSON.parse(response.body) as T
  }

  /** Stops the process (SIGKILL if it will not stop) and removes the data directory it created. */
  async dispose(): Promise<void> {
    if (this.child && this.running) {
      try {
        await this.stop(5000)
      } catch {
        await this.kill()
      }
    }
    if (this.ownsDir) removeTempDir(this.dataDir)
  }
}

export interface Health {
  status: string
  uptimeSeconds: number
  documents: number
  connections: number
  memory: NodeJS.MemoryUsage
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A request without keep-alive, so no pooled socket outlives the test. */
export function httpRequest(url: string, options: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResponse> {
  const { method = 'GET', timeoutMs = 5000 } = options
  return new Promise((resolveRequest, rejectRequest) => {
    const req = request(url, { method, agent: false, headers: { connection: 'close', ...options.headers } }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolveRequest({ status: response.statusCode ?? 0, headers: response.headers, body }))
      response.on('error', rejectRequest)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)))
    req.on('error', rejectRequest)
    req.end()
  })
}

export function httpGet(url: string, timeoutMs = 5000): Promise<HttpResponse> {
  return httpRequest(url, { timeoutMs })
}

/** Runs `huddle <args>` to completion and returns its output. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = ChildScript.huddle(args, options.env)
  const { code } = await run.exit(options.timeoutMs ?? 15_000)
  return { code, stdout: run.stdout, stderr: run.stderr }
}

/** Flags that lift the per-connection rate limit: the coordination tests send a lot. */
export const NO_RATE_LIMIT = ['--rate', '100000', '--burst', '100000']

/** A `huddle serve` process with `NO_RATE_LIMIT` plus `args`. */
export function startHuddle(args: string[] = [], dataDir?: string): Promise<TestServer> {
  return TestServer.start({ args: [...NO_RATE_LIMIT, ...args], ...(dataDir ? { dataDir } : {}) })
}

/** A compiled script under dist/ (e.g. 'tests/fixtures/custom-server.js'). */
export function distScript(path: string): string {
  return join(ROOT, 'dist', path)
}

/** Starts `huddle <args>` with `env` added to this process's environment (undefined values removed). */
export function spawnHuddle(args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  const merged: NodeJS.ProcessEnv = { ...process.env }
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name]
    else merged[name] = value
  }
  return spawn(process.execPath, [HUDDLE_BIN, ...args], { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * A child process of the test run (a compiled fixture, or the `huddle` CLI), its output read
 * while it runs; killed at the end of the run if it is still alive.
 */
export class ChildScript {
  stdout = ''
  stderr = ''
  /** resolves once the process exited and its output is read to the end */
  readonly exited: Promise<Exit>

  constructor(readonly child: ChildProcess) {
    children.add(child)
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk))
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
    this.exited = new Promise((resolveExit) =>
      child.once('close', (code, signal) => {
        children.delete(child)
        resolveExit({ code, signal })
      }),
    )
  }

  /** `node <script>` with `env` added to this process's environment. */
  static run(script: string, env: Record<string, string>): ChildScript {
    return new ChildScript(spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  /** `huddle <args>` with `env` (see `spawnHuddle`). */
  static huddle(args: string[], env: Record<string, string | undefined> = {}): ChildScript {
    return new ChildScript(spawnHuddle(args, env))
  }

  /** The complete lines printed so far. */
  get lines(): string[] {
    return this.stdout.split('\n').slice(0, -1)
  }

  /** The first line matching `pattern` (waiting for it). */
  async line(pattern: RegExp, timeoutMs = 8000): Promise<RegExpExecArray> {
    return waitFor(
      () => this.lines.map((line) => pattern.exec(line)).find((match) => match !== null),
      timeoutMs,
      () => `child never printed ${pattern}; stdout: ${this.stdout}\nstderr: ${this.stderr}`,
    )
  }

  /** Waits until stdout (or stderr) matches; fails with both outputs if it does not in time. */
  async waitOutput(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 10_000): Promise<RegExpExecArray> {
    return waitFor(
      () => pattern.exec(this[stream]),
      timeoutMs,
      () => `${stream} never matched ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
    )
  }

  /** Waits for the exit; kills the process and fails if it does not exit in time. */
  async exit(timeoutMs = 15_000): Promise<Exit> {
    try {
      return await withTimeout(this.exited, timeoutMs, () => `the process did not exit\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)
    } catch (error) {
      this.child.kill('SIGKILL')
      throw error
    }
  }

  /** kill -9, and wait for the exit. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL')
    await this.exited
  }
}
