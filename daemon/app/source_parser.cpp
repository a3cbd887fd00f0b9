#include "daemon/app/source_parser.h"

#include "daemon/sources/alertmanager.h"
#include "daemon/sources/generic.h"
#include "daemon/sources/sns.h"

namespace firebreak::app {

namespace {

// "$.a.b" (the config's form) -> "a.b" (the parser's).
std::string parserPath(const std::string& path) {
  if (path == "$") return "";
  if (path.rfind("$.", 0) == 0) return path.substr(2);
  return path;
}

}  // namespace

bool hasParser(config::SourceType type) {
  return type == config::SourceType::kAlertmanager || type == config::SourceType::kGeneric ||
         type == config::SourceType::kSns;
}

core::Result<sources::ParsedRequest> parseSourceBody(const config::Source& source,
                                                     const std::string& name,
                                                     std::string_view body,
                                                     const sources::ParseOptions& options) {
  if (source.type == config::SourceType::kAlertmanager)
    return sources::parseAlertmanager(body, name, options);
  if (source.type == config::SourceType::kSns) {
    // The body alone, without the signature checks: what `firebreak match` needs to see
    // which playbooks a delivery would start. The daemon verifies first (SnsReceiver).
    auto message = sources::parseSnsMessage(body, options);
    if (!message) return core::fail(message.error());
    return sources::cloudWatchAlarmAlerts(*message, name, options);
  }
  if (source.type != config::SourceType::kGeneric)
    return core::fail(core::ErrorCode::kInvalidArgument,
                      std::string("source type '") + config::sourceTypeName(source.type) +
                          "' has no parser in this version (alertmanager, generic, sns)");
  sources::GenericMapping mapping;
  const auto& m = source.mapping;
  auto get = [&](const char* field) {
    auto f = m.find(field);
    return f == m.end() ? std::string() : parserPath(f->second);
  };
  mapping.name = get("name");
  mapping.labels = get("labels");
  mapping.annotations = get("annotations");
  mapping.status = get("status");
  mapping.fingerprint = get("fingerprint");
  mapping.starts_at = get("starts_at");
  mapping.severity = get("severity");
  return sources::parseGeneric(body, mapping, name, options);
}

}  // namespace firebreak::app
