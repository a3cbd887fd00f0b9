#include "tests/fakes/bad_files.h"

#include <algorithm>
#include <filesystem>
#include <set>

namespace firebreak::testing {

std::vector<std::string> messages(const core::Diagnostics& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.str());
  return out;
}

std::vector<std::string> expectedMessages(const std::string& path, const BadFile& bad) {
  std::vector<std::string> want;
  for (const auto& e : bad.expected) want.push_back(path + ":" + e);
  return want;
}

std::string badFileTestName(const ::testing::TestParamInfo<BadFile>& info) {
  std::string name = info.param.file.substr(0, info.param.file.find('.'));
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

void expectEveryFileHasAnExpectation(const std::string& dir, const std::vector<BadFile>& cases,
                                     const std::string& test_file) {
  std::set<std::string> expected;
  for (const auto& c : cases) expected.insert(c.file);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_TRUE(expected.count(entry.path().filename().string()))
        << entry.path() << " has no expected messages in " << test_file;
  }
}

}  // namespace firebreak::testing
