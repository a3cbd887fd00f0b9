// Writes reports off the io thread: schedule() returns at once and one thread of its own
// builds and writes the files, logging what fails. Destroying it waits for what is queued.
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "daemon/core/asio.h"
#include "daemon/core/clock.h"
#include "daemon/store/store.h"

namespace firebreak::report {

class ReportWriter {
 public:
  ReportWriter(const store::Store& store, const core::Clock& clock, std::string data_dir,
               std::shared_ptr<spdlog::logger> log);
  ~ReportWriter();

  // The report of an incident or drill run, to <data_dir>/reports/<id>.{md,html,json}.
  void schedule(const std::string& id);
  const std::string& dataDir() const { return data_dir_; }

 private:
  const store::Store& store_;
  const core::Clock& clock_;
  std::string data_dir_;
  std::shared_ptr<spdlog::logger> log_;
  asio::thread_pool pool_{1};
};

}  // namespace firebreak::report
