#include "daemon/report/writer.h"

#include "daemon/report/report.h"

namespace firebreak::report {

ReportWriter::ReportWriter(const store::Store& store, const core::Clock& clock,
                           std::string data_dir, std::shared_ptr<spdlog::logger> log)
    : store_(store), clock_(clock), data_dir_(std::move(data_dir)), log_(std::move(log)) {}

ReportWriter::~ReportWriter() { pool_.join(); }

void ReportWriter::schedule(const std::string& id) {
  asio::post(pool_, [this, id] {
    auto s = writeReports(store_, id, data_dir_, clock_.nowMs());
    if (!s) log_->error("report {}: {}", id, s.error().str());
    else log_->info("report {}: written to {}/reports/", id, data_dir_);
  });
}

}  // namespace firebreak::report
