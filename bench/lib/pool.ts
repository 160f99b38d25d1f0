// The client processes: forked workers (bench/worker.ts) driven by request/reply over IPC.
import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import type { Reply } from './rpc.js'
import { ROOT } from './servers.js'

export class Pool {
  private readonly workers: ChildProcess[] = []
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  private nextId = 1

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      // BENCH_PROFILE_CLIENTS=1 profiles the client processes too (bench/results/profiles/client-*)
      const profile =
        process.env.BENCH_PROFILE_CLIENTS === '1'
          ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'results', 'profiles'), '--cpu-prof-name', `client-${i}-${Date.now()}.cpuprofile`]
          : []
      const worker = fork(join(ROOT, 'dist', 'bench', 'worker.js'), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: ['--max-old-space-size=4096', ...profile],
      })
      worker.on('message', (reply: Reply) => {
        const waiter = this.waiting.get(reply.id)
        if (!waiter) return
        this.waiting.delete(reply.id)
        if (reply.ok) waiter.resolve(reply.result)
        else waiter.reject(new Error(`client process ${i}: ${reply.error}`))
      })
      worker.on('exit', (code) => {
        if (code !== 0 && code !== null) process.stderr.write(`bench: client process ${i} exited with ${code}\n`)
      })
      this.workers.push(worker)
    }
  }

  get pids(): number[] {
    return this.workers.map((worker) => worker.pid!)
  }

  call<T>(index: number, cmd: string, args: unknown): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.workers[index]!.send({ id, cmd, args })
    })
  }

  /** Runs `cmd` on every worker with the arguments `argsFor(i)` gives (null skips that worker). */
  all<T>(cmd: string, argsFor: (index: number) => unknown): Promise<T[]> {
    const calls: Array<Promise<T>> = []
    for (let i = 0; i < this.size; i++) {
      const args = argsFor(i)
      if (args !== null) calls.push(this.call<T>(i, cmd, args))
    }
    return Promise.all(calls)
  }

  close(): void {
    for (const worker of this.workers) worker.disconnect()
  }
}

/** Splits `total` into `parts` near-equal shares. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0))
}

/** The first id of share `index` when ids are handed out share by share. */
export function offset(shares: number[], index: number): number {
  let sum = 0
  for (let i = 0; i < index; i++) sum += shares[i]!
  return sum
}
