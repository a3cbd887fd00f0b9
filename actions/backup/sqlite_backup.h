// SQLite backups through the online backup API (sqlite3_backup_*), which copies a consistent
// snapshot of a database that other processes keep writing, and PRAGMA integrity_check.
#pragma once

#include <string>

#include "daemon/core/result.h"

namespace firebreak::actions::backup {

// Copies the live database at `source` into the new database file `dest` in one backup step,
// so the copy is one transaction-consistent snapshot. In WAL mode writers carry on meanwhile;
// in rollback-journal mode the copy waits up to 10 s for its read lock, retrying often enough
// to find the gaps between a busy writer's commits, and writers then wait for the copy. A
// source still busy after that is kUnavailable (retryable); a file that is not a database is
// kFailedPrecondition.
core::Status sqliteOnlineBackup(const std::string& source, const std::string& dest);

// Runs PRAGMA integrity_check on `path` (opened read-write without creating it: a WAL-mode copy
// needs its -shm); fails with the first problems it reports.
core::Status sqliteIntegrityCheck(const std::string& path);

// Removes `path`'s -wal, -shm and -journal companions, if any.
void removeSqliteCompanions(const std::string& path);

}  // namespace firebreak::actions::backup
