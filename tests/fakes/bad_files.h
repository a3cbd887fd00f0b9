// Tests of a reader against a folder of bad files, each with every message it must give.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/core/result.h"

namespace firebreak::testing {

// Each diagnostic as the user sees it: "<file>:<line>:<col>: error: <message>".
std::vector<std::string> messages(const core::Diagnostics& errors);

struct BadFile {
  std::string file;                   // in the folder of bad files
  std::vector<std::string> expected;  // every message, in order, after "<path>:"
};

// The messages a bad file at `path` must give: its expectations, each after "<path>:".
std::vector<std::string> expectedMessages(const std::string& path, const BadFile& bad);

// A parameterized test's name from the file name: "unknown-top-key.yaml" -> "unknown_top_key".
std::string badFileTestName(const ::testing::TestParamInfo<BadFile>& info);

// Fails for every file in `dir` that has no expectation in `cases` (listed in `test_file`).
void expectEveryFileHasAnExpectation(const std::string& dir, const std::vector<BadFile>& cases,
                                     const std::string& test_file);

}  // namespace firebreak::testing
