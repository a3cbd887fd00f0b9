#include "daemon/playbook/model.h"

namespace firebreak::playbook {

bool Step::isIdempotent() const {
  if (!provider) return true;  // approvals and groups have no effect to repeat
  const auto& spec = provider->spec();
  if (idempotent && spec.step_may_declare_idempotent) return *idempotent;
  return spec.idempotent;
}

bool Step::isDestructive() const { return provider && provider->spec().destructive; }

core::Phase Step::effectivePhase() const {
  if (phase) return *phase;
  return provider ? provider->spec().phase : core::Phase::kObserve;
}

bool LabelMatcher::matches(const std::map<std::string, std::string>& labels) const {
  static const std::string kAbsent;  // an absent label matches as "", as in Alertmanager
  auto it = labels.find(label);
  const std::string& v = it != labels.end() ? it->second : kAbsent;
  switch (op) {
    case Op::kEq: return v == value;
    case Op::kNe: return v != value;
    case Op::kRe: return RE2::FullMatch(v, *re);
    case Op::kNre: return !RE2::FullMatch(v, *re);
  }
  return false;
}

namespace {
void collect(const std::vector<Step>& steps, std::vector<const Step*>& out) {
  for (const auto& s : steps) {
    if (s.kind == Step::Kind::kParallel) collect(s.parallel, out);
    else out.push_back(&s);
  }
}
}  // namespace

std::vector<const Step*> Playbook::allSteps() const {
  std::vector<const Step*> out;
  collect(steps, out);
  collect(on_failure, out);
  return out;
}

const Step* Playbook::findStep(const std::string& id) const {
  for (const Step* s : allSteps())
    if (s->id == id) return s;
  return nullptr;
}

}  // namespace firebreak::playbook
