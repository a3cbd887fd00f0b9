// Which playbooks an alert starts: trigger.sources, the label matchers, `on` and `when`.
// A pure decision over the loaded set, so `firebreak match` can show it without running.
#pragma once

#include <string>
#include <vector>

#include "daemon/core/alert.h"
#include "daemon/core/result.h"
#include "daemon/playbook/model.h"

namespace firebreak::intake {

struct Match {
  playbook::PlaybookPtr playbook;
  std::string dedup_key;  // "<playbook>|<rendered dedup key>", or the alert's own identity
};

struct Routing {
  std::vector<Match> matches;
  // `when` expressions that failed on this alert: the playbook is skipped, and people are told.
  std::vector<core::Error> errors;
  core::Json alert_json;  // alert.toJson() when something matched (runs need it), else null
};

// Playbooks without a trigger section run only by hand or from a drill.
Routing route(const core::Alert& alert, const std::vector<playbook::PlaybookPtr>& playbooks);

}  // namespace firebreak::intake
