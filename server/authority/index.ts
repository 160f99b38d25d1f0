// The built-in document hooks. The coordination authority joins them with the authority issue.
import type { ServerOptions } from '../config.js'
import type { DocumentHook } from '../rooms/hooks.js'

export function builtInHooks(_options: ServerOptions): DocumentHook[] {
  return []
}
