// `huddle serve`: start the server, tell the person where everything is, stop cleanly on signals.
import { resolve } from 'node:path'
import { loadOrCreateSecret } from './auth/secret.js'
import { signToken } from './auth/tokens.js'
import type { ServerOptions } from './config.js'
import { log } from './log.js'
import { startServer } from './server.js'
import { workspaceLink } from '../shared/dashboard-links.js'

export async function serve(options: ServerOptions): Promise<void> {
  const secret = loadOrCreateSecret(options.memory ? null : options.dataDir)
  const server = await startServer({ ...options, key: secret.key })
  const base = `${options.host}:${server.port}`
  const lines = [
    `huddle listening on http://${base} (WebSocket: ws://${base}/<workspace>[/<path>]?token=<jwt>)`,
    options.redis
      ? `data in Redis at ${options.redis} (cluster node ${server.cluster?.options.nodeId}; Redis must run with appendonly yes)`
      : options.memory
        ? 'data in memory only: NOT persisted, everything is lost when this process exits (drop --memory to keep data on disk)'
        : `data in ${resolve(options.dataDir)} (durability: ${options.durability})`,
  ]
  if (secret.generated) {
    const token = await signToken(secret.key, { actor: 'admin', workspace: 'demo', role: 'admin', ttlMs: 30 * 86_400_000 })
    lines.push(
      options.memory
        ? 'generated a secret for this process only (its tokens stop working when it exits; set HUDDLE_SECRET to keep them, and to mint more with `huddle token`)'
        : `generated a new secret in ${secret.source} (keep it private; set HUDDLE_SECRET to use your own)`,
      'admin token for workspace "demo" (valid 30 days):',
      `  ${token}`,
      `try: ws://${base}/demo?token=<that token>`,
      `dashboard (signs you in as that admin): ${workspaceLink(options.publicUrl ?? `http://${base}`, 'demo', token)}`,
    )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  stopOnSignals(server.close)
}

function stopOnSignals(close: () => Promise<void>): void {
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      log('second signal: exiting now', { signal })
      process.exit(1)
    }
    stopping = true
    log('shutting down: flushing and closing connections', { signal })
    close().then(
      () => process.exit(0),
      (error: Error) => {
        log('shutdown failed', { error: error.message })
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
