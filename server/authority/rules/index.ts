// The authority's rules: pure functions over plain data (see docs/authority.md).
export { ineligibility } from '../../../shared/eligibility.js'
export { deadlines, type Deadline, earliestDeadline } from './deadlines.js'
export { advance, reduce, replay } from './reduce.js'
export {
  copyState,
  dict,
  emptyState,
  type Dict,
  type ApprovalEntry,
  type AuditEvent,
  type AuditType,
  type Changed,
  type ClaimRecord,
  type CoordEvent,
  type CoordState,
  type RecordedVote,
  type ReduceResult,
  type Principal,
} from './state.js'
export { GONE_OUTCOMES_KEPT, stateFromJson, type StoredState } from './stored.js'
export { LIMITS } from '../../../shared/values.js'
export { checkWrite, Y_MAP, Y_TYPE, type WriteCheck } from './writes.js'
