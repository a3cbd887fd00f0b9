#include "daemon/core/json.h"

#include <gtest/gtest.h>

namespace firebreak::core {
namespace {

// dumpStringMap is a fast path for what Json(m).dump() writes: the two must agree exactly.
TEST(DumpStringMapTest, WritesWhatNlohmannWrites) {
  const std::vector<StringMap> cases = {
      {},
      {{"alertname", "LambdaErrorSpike"}, {"env", "prod"}},
      {{"quote\"d", "back\\slash"}, {"ctl", std::string("\b\f\n\r\t\x01\x1f\x7f", 8)}},
      {{"", ""}, {"nul", std::string("a\0b", 3)}},
      {{"utf8", "caf\xc3\xa9 \xe2\x9c\x93"}},
  };
  for (const auto& m : cases) EXPECT_EQ(dumpStringMap(m), Json(m).dump());
}

TEST(DumpStringMapTest, ReplacesInvalidUtf8InsteadOfThrowing) {
  StringMap m{{"bad", "a\xff" "b"}};
  EXPECT_EQ(dumpStringMap(m), "{\"bad\":\"a\xef\xbf\xbd" "b\"}");
}

TEST(ToStringMapTest, KeepsStringsAndTheTextOfOtherMembers) {
  auto m = toStringMap(Json::parse(R"({"a":"x","n":3,"o":{"k":[1]}})"));
  EXPECT_EQ(m, (StringMap{{"a", "x"}, {"n", "3"}, {"o", "{\"k\":[1]}"}}));
  EXPECT_TRUE(toStringMap(Json::array({1})).empty());
}

}  // namespace
}  // namespace firebreak::core
