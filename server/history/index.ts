// Document history (docs/design.md, history), built from the server's options.
import type { ServerOptions } from '../config.js'
import type { Storage } from '../store/storage.js'
import { HistoryRecorder } from './recorder.js'

export function historyRecorder(store: Storage, options: ServerOptions): HistoryRecorder {
  return new HistoryRecorder(store, {
    quietMs: options.historyQuietMs,
    maxMs: options.historyMaxMs,
    retention: { keepAllMs: options.historyKeepAllMs, hourlyMs: options.historyHourlyMs },
  })
}
