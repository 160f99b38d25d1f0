// Document history (docs/design.md, history), built from the server's options.
import type { ServerOptions } from '../config.js'
import type { Store } from '../store/index.js'
import { HistoryRecorder } from './recorder.js'

export function historyRecorder(store: Store, options: ServerOptions): HistoryRecorder {
  return new HistoryRecorder(store, {
    quietMs: options.historyQuietMs,
    maxMs: options.historyMaxMs,
    retention: { keepAllMs: options.historyKeepAllMs, hourlyMs: options.historyHourlyMs },
  })
}
