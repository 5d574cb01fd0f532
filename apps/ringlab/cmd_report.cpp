// ringlab compare: predicted versus measured timings of one schedule.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.hpp"
#include "ringlab/report/compare.hpp"

namespace ringlab::app {

namespace {
struct CompareArgs {
  std::string predicted;
  std::string measured;
  std::string format = "table";
};
}  // namespace

void add_report_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CompareArgs>();
  auto* cmp = app.add_subcommand("compare", "Compare predicted and measured timings of the same schedule");
  cmp->add_option("predicted", args->predicted, "Trace or summary JSON of the prediction (simulate)")->required();
  cmp->add_option("measured", args->measured, "Trace or summary JSON of the measurement (run)")->required();
  cmp->add_option("--format", args->format, "table or json")->check(CLI::IsMember({"table", "json"}));
  cmp->callback([args, &exit_code] {
    const auto c = report::compare(report::load_measurement(args->predicted), report::load_measurement(args->measured));
    fmt::print("{}", args->format == "json" ? report::to_json(c) : report::to_table(c));
    exit_code = 0;
  });
}

}  // namespace ringlab::app
