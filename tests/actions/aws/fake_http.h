// A scripted stand-in for httpCall(): records every call and answers from a handler, so the
// AWS layer's tests need no network.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actions/aws/credentials.h"

namespace firebreak::actions::aws::testing {

struct FakeHttp {
  using Handler = std::function<core::Result<builtin::HttpResponse>(const builtin::HttpCall&)>;

  struct State {
    std::mutex mutex;
    std::vector<builtin::HttpCall> calls;
    Handler handler;
  };
  std::shared_ptr<State> state = std::make_shared<State>();

  explicit FakeHttp(Handler handler) { state->handler = std::move(handler); }

  // The HttpFn to hand to clients and providers; it shares this fake's state.
  HttpFn fn() const {
    return [s = state](const builtin::HttpCall& call) {
      {
        std::lock_guard lock(s->mutex);
        s->calls.push_back(call);
      }
      return s->handler(call);
    };
  }

  std::vector<builtin::HttpCall> calls() const {
    std::lock_guard lock(state->mutex);
    return state->calls;
  }
};

inline builtin::HttpResponse reply(int status, std::string body,
                                   std::map<std::string, std::string> headers = {}) {
  builtin::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// The value of a request header (names compared without case), or "" when absent.
inline std::string headerOf(const builtin::HttpCall& call, std::string_view name) {
  for (const auto& [n, v] : call.headers) {
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size(); ++i)
      same = same && std::tolower(static_cast<unsigned char>(n[i])) ==
                         std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return v;
  }
  return {};
}

}  // namespace firebreak::actions::aws::testing
