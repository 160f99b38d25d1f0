// Document history (docs/design.md, history), built from the server's options.
import type { ServerOptions } from '../config.js'
import type { Storage } from '../store/storage.js'
import { HistoryRecorder } from './recorder.js'
import { RetentionSweeper } from './sweep.js'

export function historyRecorder(store: Storage, options: ServerOptions): HistoryRecorder {
  return new HistoryRecorder(store, {
    quietMs: options.historyQuietMs,
    maxMs: options.historyMaxMs,
    retention: retentionOf(options),
  })
}

export function retentionSweeper(store: Storage, options: ServerOptions): RetentionSweeper {
  return new RetentionSweeper(store, retentionOf(options), options.historySweepMs)
}

function retentionOf(options: ServerOptions) {
  return { keepAllMs: options.historyKeepAllMs, hourlyMs: options.historyHourlyMs }
}
