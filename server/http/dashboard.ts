// Serves the bundled dashboard: the page at `/`, `/w/<workspace>` and `/join/<link>`, its files
// under `/assets/`, and its icon at `/favicon.ico`, which browsers ask for on any page. Built by
// `npm run build` into dist/dashboard.
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Route } from './routes.js'

const ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url))
const PAGES = /^\/(?:w\/[^/]+\/?|join\/[^/]+\/?)?$/
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

export function dashboardRoute(): Route {
  return async (request, response, url) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false
    const file = PAGES.test(url.pathname)
      ? 'index.html'
      : url.pathname === '/favicon.ico'
        ? 'favicon.svg'
        : url.pathname.startsWith('/assets/')
          ? url.pathname.slice('/assets/'.length)
          : null
    if (file === null) return false
    const path = normalize(join(ROOT, file))
    if (!path.startsWith(ROOT)) return false
    let body: Buffer
    try {
      body = await readFile(path)
    } catch {
      if (file !== 'index.html') return false
      response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
      response.end('The dashboard is not built: run `npm run build` in the huddle checkout.\n')
      return true
    }
    response.writeHead(200, {
      'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
      'cache-control': file === 'index.html' ? 'no-store' : 'no-cache',
    })
    response.end(request.method === 'HEAD' ? undefined : body)
    return true
  }
}
