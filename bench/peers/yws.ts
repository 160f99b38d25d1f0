// The reference server for the benchmarks: @y/websocket-server 0.1.1 (the last release on yjs 13),
// exactly as its own bin/server.js wires it (one document per URL path, in memory), in its own
// process. Prints `PORT <n>` once listening. `--persist <dir>` turns on its y-leveldb persistence
// (YPERSISTENCE), which stores each update after it has been broadcast.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const persistAt = process.argv.indexOf('--persist')
if (persistAt > 0) process.env.YPERSISTENCE = process.argv[persistAt + 1]
// utils.js reads YPERSISTENCE when it is first imported, so import it only now.
const { setupWSConnection } = (await import('@y/websocket-server/utils')) as unknown as {
  setupWSConnection: (conn: unknown, request: unknown, options?: { docName?: string; gc?: boolean }) => void
}
const { WebSocketServer } = await import('ws')

const wss = new WebSocketServer({ noServer: true })
const server = createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('okay')
})
wss.on('connection', (conn, request) => setupWSConnection(conn, request))
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
