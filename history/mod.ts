// Song history's public surface: open the store, record titles, list what each mount played.

export {
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_KEEP_PER_MOUNT,
  DEFAULT_MAX_PENDING,
  DEFAULT_RECENT_LIMIT,
  defaultHistoryPath,
  type History,
  type HistoryOptions,
  type HistoryRecovery,
  openHistory,
  type SongEntry,
  type SongRecord,
} from "./store.ts";
