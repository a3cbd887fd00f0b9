// The engine against a real SQLite store in a temp dir and scripted providers.
#include "daemon/playbook/engine.h"

#include <gtest/gtest.h>

#include "daemon/playbook/loader.h"
#include "daemon/store/sqlite/sqlite_store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/test_env.h"

namespace firebreak::playbook {
namespace {

using core::ActionResult;
using core::Json;
using store::RunStatus;
using testing::FakeProvider;
using testing::fakeSpec;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto add = [&](core::ActionSpec spec) {
      auto p = std::make_unique<FakeProvider>(std::move(spec));
      FakeProvider* raw = p.get();
      EXPECT_TRUE(registry_.add(std::move(p)));
      return raw;
    };
    ok_ = add(fakeSpec("test.ok"));
    once_ = add(fakeSpec("test.once", /*idempotent=*/false));
    destroy_ = add(fakeSpec("test.destroy", true, /*destructive=*/true, "test.restore"));
    restore_ = add(fakeSpec("test.restore"));
    auto target = fakeSpec("test.target", true, /*destructive=*/true);
    target.params.push_back({"role", core::ParamType::kString, false, Json(), "", {}, true});
    target.params.push_back({"roles", core::ParamType::kStringList, false, Json(), "", {}, true});
    target_ = add(std::move(target));
    auto s = store::SqliteStore::open(dir_.file("firebreak.db"), clock_, {});
    ASSERT_TRUE(s) << s.error().str();
    store_ = std::move(*s);
  }

  void makeEngine(EngineOptions options = {}) {
    options.poll_interval = std::chrono::milliseconds(10);
    options.on_event = [this](const store::TimelineEvent& e) { events_.push_back(e); };
    engine_ = std::make_unique<Engine>(io_.get_executor(), *store_, registry_, clock_, options);
  }

  PlaybookPtr compile(const std::string& yaml) {
    auto pb = compilePlaybook(yaml, "test.yaml", registry_);
    if (!pb) {
      for (const auto& e : pb.error()) ADD_FAILURE() << e.str();
      return nullptr;
    }
    return *pb;
  }

  template <typename T>
  T block(core::awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(io_, std::move(aw), [&](std::exception_ptr e, T v) {
      if (e) std::rethrow_exception(e);
      out.emplace(std::move(v));
      io_.stop();
    });
    io_.restart();
    io_.run();
    return std::move(*out);
  }

  // Starts a run and waits for it to end (or need attention).
  store::RunRecord runToEnd(PlaybookPtr pb, Json params = Json::object(), bool dry = false) {
    RunRequest req;
    req.playbook = pb;
    req.params = params;
    req.dry_run = dry;
    auto started = block(engine_->start(req));
    EXPECT_TRUE(started) << (started ? "" : started.error().str());
    EXPECT_TRUE(started->started) << started->reason;
    auto rec = block(engine_->join(started->run_id));
    EXPECT_TRUE(rec);
    return *rec;
  }

  std::string start(PlaybookPtr pb) {
    RunRequest req;
    req.playbook = pb;
    auto started = block(engine_->start(req));
    EXPECT_TRUE(started && started->started);
    return started->run_id;
  }

  // Runs the io_context until `pred` holds (a bounded number of polls, never a fixed sleep).
  void runUntil(const std::function<bool()>& pred) {
    for (int i = 0; i < 5000 && !pred(); ++i) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(pred());
  }

  RunStatus statusOf(const std::string& id) { return (*store_->run(id))->status; }

  std::vector<std::string> stepStatuses(const std::string& run_id) {
    std::vector<std::string> out;
    auto steps = store_->steps(run_id);  // a named Result: `*temporary` in a range-for dangles
    for (const auto& s : *steps)
      out.push_back(s.stage + "/" + s.step_id + "#" + std::to_string(s.attempt) + "=" + s.status);
    return out;
  }

  testing::TempDir dir_;
  core::SystemClock clock_;
  asio::io_context io_;
  core::ProviderRegistry registry_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Engine> engine_;
  std::vector<store::TimelineEvent> events_;
  FakeProvider* ok_ = nullptr;
  FakeProvider* once_ = nullptr;
  FakeProvider* destroy_ = nullptr;
  FakeProvider* restore_ = nullptr;
  FakeProvider* target_ = nullptr;
};

constexpr const char* kHeader = R"(apiVersion: firebreak/v1
kind: Playbook
metadata: { name: t }
)";

TEST_F(EngineTest, RunsStepsInOrderAndPassesOutputsOn) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(params:
  who: { default: world }
steps:
  - { id: a, action: test.ok, with: { value: "hello {{ params.who }}" } }
  - { id: b, action: test.ok, with: { value: "{{ steps.a.output.echo.value }}!" } }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  ASSERT_EQ(ok_->executed.size(), 2u);
  EXPECT_EQ(ok_->executed[0].params["value"], "hello world");
  EXPECT_EQ(ok_->executed[1].params["value"], "hello world!");
  EXPECT_EQ(ok_->executed[0].idempotency_key, run.id + ":main:a");
  EXPECT_EQ(stepStatuses(run.id), (std::vector<std::string>{"main/a#1=succeeded",
                                                            "main/b#1=succeeded"}));
}

TEST_F(EngineTest, IfFalseSkipsTheStep) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok, if: "1 > 2" }
  - { id: b, action: test.ok, if: 'steps.a.status == "skipped"' }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_EQ(ok_->executed.size(), 1u);
  EXPECT_EQ(ok_->executed[0].step_id, "b");
}

TEST_F(EngineTest, RetriesRetryableFailuresWithTheSameKey) {
  makeEngine();
  ok_->script = {ActionResult::retryable("throttled"), ActionResult::retryable("throttled")};
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok, retry: { attempts: 3, backoff: 1ms, max_backoff: 2ms } }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  ASSERT_EQ(ok_->executed.size(), 3u);
  EXPECT_EQ(ok_->executed[2].attempt, 3);
  EXPECT_EQ(ok_->executed[0].idempotency_key, ok_->executed[2].idempotency_key);
  EXPECT_EQ(stepStatuses(run.id),
            (std::vector<std::string>{"main/a#1=failed", "main/a#2=failed", "main/a#3=succeeded"}));
  int retried = 0;
  for (const auto& e : events_) retried += e.kind == "step.retried";
  EXPECT_EQ(retried, 2);
}

TEST_F(EngineTest, PermanentFailureIsNotRetried) {
  makeEngine();
  ok_->script = {ActionResult::permanent("AccessDenied")};
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok, retry: { attempts: 3, backoff: 1ms } }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(ok_->executed.size(), 1u);
  EXPECT_EQ(run.error, "step 'a': AccessDenied");
}

TEST_F(EngineTest, FailureRunsOnFailureThenUndoesCompletedStepsNewestFirst) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: first, action: test.destroy, with: { value: one } }
  - { id: second, action: test.destroy, with: { value: two } }
  - { id: boom, action: test.once }
on_failure:
  - { id: tell, action: test.ok, with: { value: "failed: {{ run.error }}" } }
)");
  once_->script = {ActionResult::permanent("exploded")};
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  ASSERT_EQ(ok_->executed.size(), 1u);
  EXPECT_EQ(ok_->executed[0].params["value"], "failed: step 'boom': exploded");
  ASSERT_EQ(restore_->executed.size(), 2u);
  EXPECT_EQ(restore_->executed[0].params["value"], "two");
  EXPECT_EQ(restore_->executed[1].params["value"], "one");
  EXPECT_EQ(restore_->executed[0].idempotency_key, run.id + ":undo:second");
  // Each undo is handed the output of the step it undoes: the state it must restore.
  EXPECT_EQ(restore_->executed[0].undo_state["echo"]["value"], "two");
  EXPECT_EQ(restore_->executed[1].undo_state["echo"]["value"], "one");
  EXPECT_TRUE(destroy_->executed[0].undo_state.is_null());
}

TEST_F(EngineTest, UndoOfAFinishedRunUndoesItsStepsNewestFirstAndOnlyOnce) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: first, action: test.destroy, with: { value: one } }
  - { id: look, action: test.ok }
  - { id: second, action: test.destroy, with: { value: two } }
)");
  auto run = runToEnd(pb);
  ASSERT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_TRUE(restore_->executed.empty());
  // Still running (or unknown) runs are refused.
  EXPECT_FALSE(block(engine_->undo("r-unknown", "test")));

  ASSERT_TRUE(block(engine_->undo(run.id, "drill rollback")));
  ASSERT_EQ(restore_->executed.size(), 2u);
  EXPECT_EQ(restore_->executed[0].params["value"], "two");
  EXPECT_EQ(restore_->executed[1].params["value"], "one");
  EXPECT_EQ(restore_->executed[0].undo_state["echo"]["value"], "two");
  EXPECT_EQ(restore_->executed[0].idempotency_key, run.id + ":undo:second");
  // A repeat (a drill's rollback after a restart) undoes nothing twice.
  ASSERT_TRUE(block(engine_->undo(run.id, "again")));
  EXPECT_EQ(restore_->executed.size(), 2u);
  EXPECT_EQ(statusOf(run.id), RunStatus::kSucceeded);
  bool undone = false;
  for (const auto& e : events_) undone = undone || (e.kind == "run.undone" && e.run_id == run.id);
  EXPECT_TRUE(undone);
}

TEST_F(EngineTest, UndoOfADryRunPlansTheUndos) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: first, action: test.destroy, with: { value: one } }
)");
  auto run = runToEnd(pb, Json::object(), /*dry=*/true);
  ASSERT_TRUE(block(engine_->undo(run.id, "dry")));
  EXPECT_TRUE(restore_->executed.empty());
  EXPECT_EQ(restore_->planned.size(), 1u);
}

TEST_F(EngineTest, StepTimeoutFailsTheStep) {
  makeEngine();
  ok_->delay = std::chrono::seconds(20);
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: slow, action: test.ok, timeout: 50ms }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error, "step 'slow': timed out after 50ms");
  EXPECT_EQ(stepStatuses(run.id), (std::vector<std::string>{"main/slow#1=timed_out"}));
  EXPECT_TRUE(ok_->executed[0].cancel->cancelled());
}

TEST_F(EngineTest, DryRunPlansAndExecutesNothing) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.destroy, with: { value: x } }
  - { id: ok, approval: { role: responder } }
  - { id: b, action: test.once }
)");
  auto run = runToEnd(pb, Json::object(), /*dry=*/true);
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_TRUE(run.dry_run);
  EXPECT_TRUE(destroy_->executed.empty());
  EXPECT_TRUE(once_->executed.empty());
  EXPECT_EQ(destroy_->planned.size(), 1u);
  EXPECT_EQ(stepStatuses(run.id),
            (std::vector<std::string>{"main/a#1=planned", "main/ok#1=planned", "main/b#1=planned"}));
}

TEST_F(EngineTest, ParallelBranchesAllRunAndAFailureFailsTheGroup) {
  makeEngine();
  once_->script = {ActionResult::permanent("no")};
  auto pb = compile(std::string(kHeader) + R"(steps:
  - parallel:
      - { id: p1, action: test.ok }
      - { id: p2, action: test.once }
      - { id: p3, action: test.ok }
  - { id: after, action: test.ok }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(ok_->executed.size(), 2u);  // p1 and p3, not `after`
}

TEST_F(EngineTest, ApprovalApprovedContinues) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: gate, approval: { role: responder, timeout: 1h } }
  - { id: act, action: test.ok }
)");
  auto id = start(pb);
  runUntil([&] { return statusOf(id) == RunStatus::kWaitingApproval; });
  EXPECT_TRUE(ok_->executed.empty());
  ASSERT_TRUE(block(engine_->decide(id, "gate", true, "alice", "looks right")));
  auto rec = block(engine_->join(id));
  EXPECT_EQ(rec->status, RunStatus::kSucceeded);
  EXPECT_EQ(ok_->executed.size(), 1u);
  auto approvals = *store_->approvals(id);
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].status, "approved");
  EXPECT_EQ(approvals[0].decided_by, "alice");
}

TEST_F(EngineTest, ApprovalDeniedStopsTheRun) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: gate, approval: {} }
  - { id: act, action: test.ok }
)");
  auto id = start(pb);
  runUntil([&] { return statusOf(id) == RunStatus::kWaitingApproval; });
  ASSERT_TRUE(block(engine_->decide(id, "gate", false, "bob", "not now")));
  EXPECT_EQ(block(engine_->join(id))->status, RunStatus::kDenied);
  EXPECT_TRUE(ok_->executed.empty());
}

TEST_F(EngineTest, ApprovalTimeoutFollowsOnTimeout) {
  makeEngine();
  auto abort_pb = compile(std::string(kHeader) + R"(steps:
  - { id: gate, approval: { timeout: 30ms, on_timeout: abort } }
  - { id: act, action: test.ok }
)");
  EXPECT_EQ(runToEnd(abort_pb).status, RunStatus::kAborted);
  EXPECT_TRUE(ok_->executed.empty());
  auto approve_pb = compile(std::string(kHeader) + R"(steps:
  - { id: gate, approval: { timeout: 30ms, on_timeout: approve } }
  - { id: act, action: test.ok }
)");
  EXPECT_EQ(runToEnd(approve_pb).status, RunStatus::kSucceeded);
  EXPECT_EQ(ok_->executed.size(), 1u);
}

TEST_F(EngineTest, ADecisionWrittenByAnotherProcessIsPickedUp) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: gate, approval: {} }
)");
  auto id = start(pb);
  runUntil([&] { return statusOf(id) == RunStatus::kWaitingApproval; });
  // Another engine on the same store, as `firebreak approve --local` would be.
  Engine other(io_.get_executor(), *store_, registry_, clock_, {});
  ASSERT_TRUE(block(other.decide(id, "gate", true, "carol", "")));
  EXPECT_EQ(block(engine_->join(id))->status, RunStatus::kSucceeded);
}

TEST_F(EngineTest, DedupStartsOneRunPerKeyWithinTheWindow) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(params:
  fn: {}
dedup: { key: "{{ params.fn }}", window: 30m }
steps:
  - { id: a, action: test.ok }
)");
  RunRequest req;
  req.playbook = pb;
  req.params = {{"fn", "payments"}};
  auto first = block(engine_->start(req));
  ASSERT_TRUE(first && first->started);
  auto second = block(engine_->start(req));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->started);
  EXPECT_EQ(second->reason,
            "not started: a run of 't' with dedup key 't|payments' is within its 30m window");
  req.params = {{"fn", "orders"}};
  auto third = block(engine_->start(req));
  ASSERT_TRUE(third && third->started);
  EXPECT_EQ(engine_->stats().limit_hits.at("dedup"), 1);
  for (const auto* r : {&*first, &*third})  // both finish before the engine goes
    EXPECT_EQ(block(engine_->join(r->run_id))->status, RunStatus::kSucceeded);
}

// A rehearsal does not use up the live run's window: `run --dry-run`, then `run`.
TEST_F(EngineTest, DryRunsAreDeduplicatedAmongDryRunsOnly) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(dedup: { key: "one", window: 30m }
max_runs: { key: "one", count: 1, per: 1h }
steps:
  - { id: a, action: test.ok }
)");
  RunRequest req;
  req.playbook = pb;
  req.dry_run = true;
  auto rehearsal = block(engine_->start(req));
  ASSERT_TRUE(rehearsal && rehearsal->started);
  auto again = block(engine_->start(req));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->started);  // a second rehearsal meets the limit as a live run would
  req.dry_run = false;
  auto live = block(engine_->start(req));
  ASSERT_TRUE(live && live->started) << (live ? live->reason : live.error().str());
  EXPECT_EQ(block(engine_->join(live->run_id))->status, RunStatus::kSucceeded);
  EXPECT_EQ(block(engine_->join(rehearsal->run_id))->status, RunStatus::kSucceeded);
}

// Intake records a pending start with its alert; the run's own commit clears it, whether the
// run starts or its dedup refuses it, so no crash can leave both the run and its pending start.
TEST_F(EngineTest, AStartFromAPendingStartClearsItInTheSameCommit) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(dedup: { key: "one", window: 30m }
steps:
  - { id: a, action: test.ok }
)");
  for (const char* id : {"r-first", "r-second"}) {
    ASSERT_TRUE(store_->commitSync([&](store::WriteTx& tx) {
      return tx.addPendingStart(store::PendingStart{id, "t", "", Json::object(), 1});
    }));
  }
  RunRequest req;
  req.playbook = pb;
  req.clears_pending_start = true;
  req.run_id = "r-first";
  auto first = block(engine_->start(req));
  ASSERT_TRUE(first && first->started);
  EXPECT_EQ(store_->pendingStarts()->size(), 1u);
  req.run_id = "r-second";
  auto second = block(engine_->start(req));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->started);  // deduplicated, and its pending start is gone all the same
  EXPECT_TRUE(store_->pendingStarts()->empty());
  EXPECT_FALSE(*store_->run("r-second"));
  // The first run is still going: let it finish before the engine goes (its last commit
  // would otherwise run on the writer after the test has freed what it refers to).
  EXPECT_EQ(block(engine_->join("r-first"))->status, RunStatus::kSucceeded);
}

// limits.protected: a step whose resource parameter names a protected resource fails before
// its action is called at all (planned or executed), and says which pattern protects it.
TEST_F(EngineTest, AProtectedResourceFailsTheStepBeforeAnyCall) {
  core::ProtectedResources protected_resources({"arn:aws:iam::*:role/break-glass*"});
  EngineOptions options;
  options.protected_resources = &protected_resources;
  makeEngine(options);
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: safe, action: test.target, with: { role: "arn:aws:iam::1:role/app", value: "arn:aws:iam::1:role/break-glass" } }
  - { id: hit, action: test.target, with: { roles: ["arn:aws:iam::1:role/app", "arn:aws:iam::123:role/break-glass-admin"] } }
)");
  auto rec = runToEnd(pb);
  EXPECT_EQ(rec.status, RunStatus::kFailed);
  // `value` is not a resource parameter: the first step ran.
  ASSERT_EQ(target_->executed.size(), 1u);
  EXPECT_EQ(target_->executed[0].step_id, "safe");
  EXPECT_EQ(rec.error,
            "step 'hit': parameter 'roles' names 'arn:aws:iam::123:role/break-glass-admin', "
            "protected by limits.protected 'arn:aws:iam::*:role/break-glass*': nothing was done");
  EXPECT_EQ(engine_->stats().limit_hits.at("protected"), 1);

  auto planned = runToEnd(pb, Json::object(), /*dry=*/true);
  EXPECT_EQ(planned.status, RunStatus::kFailed);
  EXPECT_EQ(target_->planned.size(), 1u);  // only "safe" was planned
}

TEST(GlobMatchTest, MatchesWholeStringsWithStarAndQuestionMark) {
  EXPECT_TRUE(core::globMatch("arn:aws:iam::*:role/break-glass*", "arn:aws:iam::1:role/break-glass"));
  EXPECT_TRUE(core::globMatch("*", ""));
  EXPECT_TRUE(core::globMatch("a?c", "abc"));
  EXPECT_TRUE(core::globMatch("*/prod-*", "arn:aws:lambda:us-east-1:1:function/prod-orders"));
  EXPECT_FALSE(core::globMatch("arn:aws:iam::*:role/break-glass*", "arn:aws:iam::1:role/app"));
  EXPECT_FALSE(core::globMatch("a?c", "ac"));
  EXPECT_FALSE(core::globMatch("prod", "prod-1"));  // whole string, not a substring
  // A pattern of many stars against a long text stays fast (no exponential backtracking).
  EXPECT_FALSE(core::globMatch("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST_F(EngineTest, ConcurrencyQueuesTheSecondRunOnTheSameKey) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(concurrency: { key: "same", limit: 1 }
steps:
  - { id: gate, approval: {} }
)");
  auto first = start(pb);
  runUntil([&] { return statusOf(first) == RunStatus::kWaitingApproval; });
  auto second = start(pb);
  runUntil([&] { return statusOf(second) == RunStatus::kQueued; });
  ASSERT_TRUE(block(engine_->decide(first, "gate", true, "alice", "")));
  EXPECT_EQ(block(engine_->join(first))->status, RunStatus::kSucceeded);
  runUntil([&] { return statusOf(second) == RunStatus::kWaitingApproval; });
  ASSERT_TRUE(block(engine_->decide(second, "gate", true, "alice", "")));
  EXPECT_EQ(block(engine_->join(second))->status, RunStatus::kSucceeded);
}

TEST_F(EngineTest, MaxRunsMakesTheNextRunWaitForApproval) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(max_runs: { key: "k", count: 1, per: 1h }
steps:
  - { id: a, action: test.ok }
)");
  EXPECT_EQ(runToEnd(pb).status, RunStatus::kSucceeded);
  auto second = start(pb);
  runUntil([&] { return statusOf(second) == RunStatus::kWaitingApproval; });
  EXPECT_EQ(ok_->executed.size(), 1u);
  ASSERT_TRUE(block(engine_->decide(second, "_max_runs", true, "alice", "")));
  EXPECT_EQ(block(engine_->join(second))->status, RunStatus::kSucceeded);
  EXPECT_EQ(ok_->executed.size(), 2u);
}

TEST_F(EngineTest, DestructiveBudgetMakesStepsWaitForApproval) {
  EngineOptions options;
  options.destructive_actions_per_minute = 2;
  makeEngine(options);
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: d1, action: test.destroy }
  - { id: d2, action: test.destroy }
  - { id: d3, action: test.destroy }
)");
  auto id = start(pb);
  runUntil([&] { return statusOf(id) == RunStatus::kWaitingApproval; });
  EXPECT_EQ(destroy_->executed.size(), 2u);
  ASSERT_TRUE(block(engine_->decide(id, "d3#budget", true, "alice", "needed")));
  EXPECT_EQ(block(engine_->join(id))->status, RunStatus::kSucceeded);
  EXPECT_EQ(destroy_->executed.size(), 3u);
  EXPECT_EQ(engine_->stats().limit_hits.at("budget"), 1);
}

TEST_F(EngineTest, CircuitBreakerOpensAfterConsecutiveFailures) {
  EngineOptions options;
  options.breaker_threshold = 2;
  makeEngine(options);
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.once }
)");
  once_->script = {ActionResult::permanent("x"), ActionResult::permanent("y")};
  EXPECT_EQ(runToEnd(pb).status, RunStatus::kFailed);
  EXPECT_EQ(runToEnd(pb).status, RunStatus::kFailed);
  auto third = start(pb);
  runUntil([&] { return statusOf(third) == RunStatus::kWaitingApproval; });
  EXPECT_EQ(once_->executed.size(), 2u);
  ASSERT_TRUE(block(engine_->resetBreaker("test.once", "alice")));
  ASSERT_TRUE(block(engine_->decide(third, "a#breaker", true, "alice", "")));
  EXPECT_EQ(block(engine_->join(third))->status, RunStatus::kSucceeded);
}

TEST_F(EngineTest, MaxResourcesAbortsBeforeActing) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: many, action: test.destroy, max_resources: 3, with: { targets: [a, b, c, d] } }
)");
  auto run = runToEnd(pb);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_TRUE(destroy_->executed.empty());
  EXPECT_EQ(run.error,
            "step 'many': step 'many' would act on 4 resources, more than its max_resources 3: "
            "nothing was done");
}

TEST_F(EngineTest, PauseStopsNewStepsUntilResumed) {
  makeEngine();
  ASSERT_TRUE(block(engine_->setPaused(true, "alice")));
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok }
)");
  auto id = start(pb);
  runUntil([&] { return engine_->stats().limit_hits.count("pause") > 0; });
  EXPECT_TRUE(ok_->executed.empty());
  ASSERT_TRUE(block(engine_->setPaused(false, "alice")));
  EXPECT_EQ(block(engine_->join(id))->status, RunStatus::kSucceeded);
  EXPECT_EQ(ok_->executed.size(), 1u);
}

TEST_F(EngineTest, MissingRequiredParameterIsAClearError) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(params:
  fn: { required: true, default: "{{ alert.labels.function }}" }
steps:
  - { id: a, action: test.ok }
)");
  RunRequest req;
  req.playbook = pb;
  auto started = block(engine_->start(req));
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message(),
            "missing required parameter 'fn' of playbook 't' (give it with --param fn=VALUE)");
  req.params = {{"fnn", "x"}};
  started = block(engine_->start(req));
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message(), "playbook 't' has no parameter 'fnn' (did you mean 'fn'?)");
}

// A crash is simulated by journaling what a dead process would have left: the run, step `a`
// finished, step `b` started and never finished.
class EngineResumeTest : public EngineTest {
 protected:
  std::string crashDuring(const std::string& yaml, const std::string& step_b_action) {
    pb_ = compile(yaml);
    store::RunRecord run;
    run.id = "r-crashed";
    run.playbook = pb_->name;
    run.playbook_file = pb_->file;
    run.playbook_source = pb_->source;
    run.playbook_hash = pb_->hash;
    run.trigger = "manual";
    run.status = RunStatus::kRunning;
    run.created_ms = clock_.nowMs();
    store::StepRecord a{run.id, "a", "main", 1, "test.ok", "succeeded", run.id + ":main:a",
                        true, false, false, Json::object(), Json{{"value", "from-a"}}, "",
                        run.created_ms, run.created_ms + 1};
    store::StepRecord b{run.id, "b", "main", 1, step_b_action, "started", run.id + ":main:b",
                        false, false, false, Json::object(), Json::object(), "",
                        run.created_ms + 2, 0};
    EXPECT_TRUE(store_->commitSync([&](store::WriteTx& tx) -> core::Status {
      if (auto s = tx.insertRun(run); !s) return s;
      if (auto s = tx.upsertStep(a); !s) return s;
      return tx.upsertStep(b);
    }));
    return run.id;
  }
  PlaybookPtr pb_;
};

TEST_F(EngineResumeTest, FinishedStepsNeverRepeatAndAnIdempotentStepReRunsWithItsKey) {
  makeEngine();
  auto id = crashDuring(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok }
  - { id: b, action: test.ok }
  - { id: c, action: test.ok, with: { value: "{{ steps.a.output.value }}" } }
)",
                        "test.ok");
  ASSERT_TRUE(block(engine_->resume(id, ResumeMode::kContinue)));
  auto rec = block(engine_->join(id));
  EXPECT_EQ(rec->status, RunStatus::kSucceeded);
  ASSERT_EQ(ok_->executed.size(), 2u);  // b again and c; never a
  EXPECT_EQ(ok_->executed[0].step_id, "b");
  EXPECT_EQ(ok_->executed[0].attempt, 2);
  EXPECT_EQ(ok_->executed[0].idempotency_key, "r-crashed:main:b");
  EXPECT_EQ(ok_->executed[1].params["value"], "from-a");
}

TEST_F(EngineResumeTest, ANonIdempotentInterruptedStepNeedsAttention) {
  makeEngine();
  auto yaml = std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok }
  - { id: b, action: test.once }
  - { id: c, action: test.ok }
)";
  auto id = crashDuring(yaml, "test.once");
  ASSERT_TRUE(block(engine_->resume(id, ResumeMode::kContinue)));
  auto rec = block(engine_->join(id));
  EXPECT_EQ(rec->status, RunStatus::kNeedsAttention);
  EXPECT_TRUE(once_->executed.empty());
  EXPECT_TRUE(ok_->executed.empty());
  EXPECT_NE(rec->error.find("was interrupted and is not idempotent"), std::string::npos);

  // The operator checked and retries it.
  ASSERT_TRUE(block(engine_->resume(id, ResumeMode::kRetry)));
  EXPECT_EQ(block(engine_->join(id))->status, RunStatus::kSucceeded);
  EXPECT_EQ(once_->executed.size(), 1u);
  EXPECT_EQ(ok_->executed.size(), 1u);  // c only
}

TEST_F(EngineResumeTest, SkipMarksTheInterruptedStepSkippedAndGoesOn) {
  makeEngine();
  auto id = crashDuring(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok }
  - { id: b, action: test.once }
  - { id: c, action: test.ok }
)",
                        "test.once");
  ASSERT_TRUE(block(engine_->resume(id, ResumeMode::kSkip)));
  EXPECT_EQ(block(engine_->join(id))->status, RunStatus::kSucceeded);
  EXPECT_TRUE(once_->executed.empty());
  EXPECT_EQ(ok_->executed.size(), 1u);
  EXPECT_EQ(stepStatuses(id), (std::vector<std::string>{"main/a#1=succeeded", "main/b#1=skipped",
                                                        "main/c#1=succeeded"}));
}

TEST_F(EngineTest, TimelineRecordsEveryStepWithMillisecondTimes) {
  makeEngine();
  auto pb = compile(std::string(kHeader) + R"(steps:
  - { id: a, action: test.ok }
)");
  auto run = runToEnd(pb);
  std::vector<std::string> kinds;
  auto timeline = store_->timelineOfRun(run.id);
  for (const auto& e : *timeline) {
    kinds.push_back(e.kind);
    EXPECT_GT(e.at_ms, 1'700'000'000'000);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"run.started", "step.started", "step.finished",
                                             "run.finished"}));
}

}  // namespace
}  // namespace firebreak::playbook
