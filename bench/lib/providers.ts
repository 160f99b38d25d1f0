// The writers of the benchmarks are real providers: y-websocket's WebsocketProvider, or Hocuspocus's
// own HocuspocusProvider for the Hocuspocus servers (their wire dialect differs).
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import type { Target } from './rpc.js'

export interface Provider {
  doc: Y.Doc
  id: number
  destroy(): void
}

/**
 * Opens a provider on `target` and resolves once it is synced. `onRemote` gets every update that
 * came from the server; `register` gets the provider at once, so it is closed even if it never syncs.
 */
export function openProvider(
  target: Target,
  id: number,
  timeoutMs: number,
  onRemote: (update: Uint8Array) => void,
  register: (provider: Provider) => void,
): Promise<void> {
  const doc = new Y.Doc()
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== null && origin !== undefined) onRemote(update)
  })
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer ${id}: no sync within ${timeoutMs} ms`)), timeoutMs)
    const done = () => {
      clearTimeout(timer)
      resolve()
    }
    if (target.dialect === 'hocuspocus') {
      const socket = new HocuspocusProviderWebsocket({ url: `ws://${target.host}:${target.port}`, WebSocketPolyfill: WebSocket })
      const provider = new HocuspocusProvider({ websocketProvider: socket, name: target.room, document: doc, token: 'bench', onSynced: done })
      provider.attach()
      register({
        doc,
        id,
        destroy: () => {
          provider.destroy()
          socket.destroy()
        },
      })
    } else {
      const provider = new WebsocketProvider(`ws://${target.host}:${target.port}`, target.room, doc, {
        WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
        params: target.token ? { token: target.token } : {},
        disableBc: true,
      })
      provider.on('sync', (synced: boolean) => synced && done())
      register({ doc, id, destroy: () => provider.destroy() })
    }
  })
}
