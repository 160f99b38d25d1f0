// Hocuspocus for the benchmarks, in its own process, with its defaults (debounce 2 s, no
// extensions: in memory): 3.4.4, or with `--v4` 4.7 (`hocuspocus-server-4`, an npm alias). 4.x
// declares Node >= 22 in its engines field but runs on Node 20, which is what the benchmark uses.
// Prints `PORT <n>` once listening. `--persist <dir>` adds the usual persistence hook: the whole
// document, re-encoded, into LevelDB from onStoreDocument (debounced, after broadcasting).
import * as Y from 'yjs'

interface PeerServer {
  listen(): Promise<unknown>
  address: { port: number }
}
type ServerClass = new (configuration: Record<string, unknown>) => PeerServer

const { Server } = (process.argv.includes('--v4') ? await import('hocuspocus-server-4') : await import('@hocuspocus/server')) as unknown as {
  Server: ServerClass
}
const persistAt = process.argv.indexOf('--persist')
const extensions: Array<Record<string, unknown>> = []
if (persistAt > 0) {
  const { Level } = await import('level')
  const db = new Level<string, Uint8Array>(process.argv[persistAt + 1]!, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  extensions.push({
    async onLoadDocument({ documentName, document }: { documentName: string; document: Y.Doc }) {
      const stored = await db.get(documentName)
      if (stored) Y.applyUpdate(document, stored)
      return document
    },
    async onStoreDocument({ documentName, document }: { documentName: string; document: Y.Doc }) {
      await db.put(documentName, Y.encodeStateAsUpdate(document))
    },
  })
}

const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false, extensions })
await server.listen()
process.stdout.write(`PORT ${server.address.port}\n`)
process.on('SIGTERM', () => process.exit(0))
