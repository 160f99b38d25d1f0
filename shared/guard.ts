// Guarded documents (docs/design.md §12): a lock on `doc:<path>` guards the content document
// `<workspace>/<path>`. Server and client name the resource and read a refusal the same way.

export const GUARD_PREFIX = 'doc:'

/** The lock resource that guards the content document at `path`. */
export function guardResource(path: string): string {
  return `${GUARD_PREFIX}${path}`
}

/** The refusal of a write to a guarded document (a WebSocket close reason: keep it short). */
export function lockedReason(path: string, holders: readonly string[]): string {
  return `${guardResource(path)} is locked by ${holders.join(', ')}; retry once it is released`
}

/** True when a close reason is a guard's refusal (as opposed to, say, a viewer's). */
export function isLockedReason(reason: string): boolean {
  return reason.startsWith(GUARD_PREFIX) && reason.includes(' is locked by ')
}
