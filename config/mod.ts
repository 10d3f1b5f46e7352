// Config: the tinyice.json schema and its validation, loading with first-run generation,
// atomic saves and the running server's one update path, mount-path rules, argon2id password
// hashing (in a Worker) and the single-instance lock. Imports no other project folder.

export {
  type Config,
  CONFIG_DEFAULTS,
  ConfigError,
  DEFAULT_METAINT,
  MAX_BURST_BYTES,
  type MountConfig,
  mountConfig,
  type UserConfig,
  validateConfig,
} from "./schema.ts";
export { loadConfig, removeStaleTempFiles, writeFileAtomic } from "./store.ts";
export { type ConfigEdit, ConfigSaveError, configUpdater } from "./update.ts";
export { isMountPath, isReservedPath, MOUNT_PATH_RULE, mountPathProblem } from "./mount_path.ts";
export { constantTimeEqual, isPasswordHash, PasswordHasher } from "./password.ts";
export { lockInstance, lockPathFor } from "./instance_lock.ts";
