// A configured source's body parser: its type picks the parser and, for `generic`, its
// mapping. One function so the daemon and `firebreak match` read a body the same way.
#pragma once

#include <string>
#include <string_view>

#include "daemon/config/config.h"
#include "daemon/core/result.h"
#include "daemon/sources/parsed_request.h"

namespace firebreak::app {

// Types with a parser in this version: alertmanager, generic and sns.
bool hasParser(config::SourceType type);

core::Result<sources::ParsedRequest> parseSourceBody(const config::Source& source,
                                                     const std::string& name,
                                                     std::string_view body,
                                                     const sources::ParseOptions& options);

}  // namespace firebreak::app
