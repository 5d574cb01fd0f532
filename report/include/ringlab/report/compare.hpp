#pragma once
// Predicted versus measured: the two sides of one schedule, phase by phase and op kind by op kind.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ringlab/trace/record.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::report {

/// One side of a comparison, read from a Chrome trace or a `--format json` summary.
struct Measurement {
  std::string file;                          ///< where it came from
  std::string schedule_hash;                 ///< hash of the schedule it executed
  std::string source;                        ///< "sim", "cpu", "cuda", ...
  double total_time_s = 0;                   ///< end to end
  std::vector<trace::PhaseSummary> phases;   ///< by phase number
  std::map<std::string, double> kind_mean_s; ///< mean op duration per op kind (traces only)
  std::optional<trace::Trace> trace;         ///< the records, when the file was a trace
};

/// Reads a trace (a JSON object with "traceEvents") or a summary (with "schedule_hash" and "phases").
/// Anything else, a missing file or a malformed value is an InputError naming the file and field.
[[nodiscard]] Measurement load_measurement(const std::string& path);

/// The same quantity on both sides.
struct Row {
  std::string name;        ///< "phase 3", "attend", "total"
  double predicted = 0;    ///< seconds
  double measured = 0;     ///< seconds
  std::optional<double> error_pct;  ///< 100 * (predicted - measured) / measured; absent if measured is 0
};

/// A full comparison.
struct Comparison {
  std::string schedule_hash;  ///< the (common) hash
  std::string predicted_file, measured_file;  ///< the inputs
  Row total;                  ///< end-to-end time
  std::vector<Row> phases;    ///< phase time (max over ranks), by phase
  std::vector<Row> kinds;     ///< mean op duration per kind (when both sides are traces)
  double mape_pct = 0;        ///< mean |error| over phases with an error
  std::string worst_phase;    ///< phase with the largest |error| ("" if none)
  double worst_error_pct = 0; ///< its error
};

/// Compares two sides of the same schedule; different hashes or different phase lists are an Error
/// that says so (comparing different schedules would be meaningless).
[[nodiscard]] Comparison compare(const Measurement& predicted, const Measurement& measured);

/// A human table (one row per phase, then per kind, then totals, MAPE and worst phase).
[[nodiscard]] std::string to_table(const Comparison& c);
/// The comparison as one JSON object.
[[nodiscard]] std::string to_json(const Comparison& c);

}  // namespace ringlab::report
