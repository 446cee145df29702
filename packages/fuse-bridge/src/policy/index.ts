// Policies as wrappers around any filesystem on the handler interface. See ../../README.md, "Policies".
export { withMirrorPolicy, hasMirrorPolicy, withIdPolicy, hasIdPolicy, parseIdMapping } from './mirror-policy';
export type { MirrorPolicy, IdPolicy, IdRange, ChangePolicy } from './mirror-policy';
export { parsePerms } from './perms';
export type { PermChain } from './perms';
export { parseRate, RateLimiter } from './rate-limit';
export { withPolicyHook, changesSomething } from './policy-hook';
export type { FilePolicy, PolicyRequest, PolicyAnswer, PolicyOp, DataEvent } from './policy-hook';
