// The programmatic API, for deployments that embed the server or add their own document hooks
// (see docs/hooks.md).
export { startServer, type HuddleServer, type StartOptions } from './server.js'
export { DEFAULTS, type ServerOptions } from './config.js'
export { type DocumentHook, type PersistContext, TryAgainLater, type WriteContext, type Writer } from './rooms/hooks.js'
export type { UpdateBatch } from './store/index.js'
export { valueBefore, valueNow, restoreKey } from './authority/ydoc.js'
export { signToken, verifyToken, type TokenSpec, type VerifiedToken } from './auth/tokens.js'
export { loadOrCreateSecret } from './auth/secret.js'
