// The schema, as numbered migrations. PRAGMA user_version holds the version of a database;
// migration N takes it from N-1 to N. Migrations are only ever appended: a released one
// never changes, since databases out there already ran it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/result.h"
#include "daemon/store/sqlite/connection.h"

namespace firebreak::store::sqlite {

// migrations()[i] is the SQL of migration i + 1 (constant SQL, no values).
const std::vector<std::string_view>& migrations();

// The version this build writes: the number of migrations.
int latestSchemaVersion();

// PRAGMA user_version; fails (kFailedPrecondition) when the file is not an SQLite database.
Result<int> schemaVersion(Connection& conn);

// Brings the database to latestSchemaVersion(), one transaction per migration, recording
// each in schema_migrations with clock's time. Refuses (kFailedPrecondition) a database
// from a newer firebreak.
Status migrate(Connection& conn, const core::Clock& clock);

}  // namespace firebreak::store::sqlite
