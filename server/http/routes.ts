// Plain HTTP: health and metrics. The REST API and the dashboard hang off the same router.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Metrics } from '../metrics.js'

export interface HealthSource {
  startedAt: number
  documents(): number
  connections(): number
  /** more fields for the answer (a cluster node's role) */
  extra?(): Record<string, unknown>
}

export type Route = (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<boolean> | boolean

export function healthRoute(source: HealthSource): Route {
  return (_request, response, url) => {
    if (url.pathname !== '/healthz') return false
    // Only a process started with --expose-gc (the leak tests) honours ?gc=1.
    const gc = (globalThis as { gc?: () => void }).gc
    if (url.searchParams.get('gc') === '1' && gc) gc()
    sendJson(response, 200, {
      status: 'ok',
      uptimeSeconds: Math.round((Date.now() - source.startedAt) / 1000),
      documents: source.documents(),
      connections: source.connections(),
      memory: process.memoryUsage(),
      ...source.extra?.(),
    })
    return true
  }
}

export function metricsRoute(metrics: Metrics): Route {
  return async (_request, response, url) => {
    if (url.pathname !== '/metrics') return false
    response.writeHead(200, { 'content-type': metrics.registry.contentType })
    response.end(await metrics.registry.metrics())
    return true
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  response.end(JSON.stringify(body))
}

export function notFound(response: ServerResponse, url: URL): void {
  sendJson(response, 404, { error: `nothing at ${url.pathname}: try /healthz, /metrics, or a WebSocket to ws://HOST:PORT/<workspace>?token=<jwt>` })
}
