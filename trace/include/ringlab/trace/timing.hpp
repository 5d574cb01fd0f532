#pragma once
// Ops timed one at a time on a backend (a calibration run): what ran, on what workload, and its median
// duration. The runtime writes them (runtime/calibration.hpp) and report fits the models to them
// (report/calibrate.hpp); this layer, below both, is where they meet.
#include <cstdint>
#include <string>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"

namespace ringlab::trace {

/// One op timed in isolation.
struct OpTiming {
  ir::Workload workload;            ///< the workload of the schedule it came from
  std::vector<ir::Buffer> buffers;  ///< its rank's buffers (the models price some ops by their dtypes)
  ir::Op op;                        ///< the op as launched (an Attend, Merge, Copy, or the Send of a transfer)
  double seconds = 0;               ///< median duration over the timed runs
};

/// Every op a calibration run timed, and where and how it was timed.
struct OpTimings {
  std::string backend;        ///< backend name ("cpu")
  std::string machine;        ///< CPU model and hardware threads
  std::string date;           ///< UTC date of the run (YYYY-MM-DD)
  std::int32_t threads = 0;   ///< hardware threads
  Bytes host_memory{0};       ///< physical memory
  int repetitions = 0;        ///< timed runs per op (after the warm-up runs)
  std::vector<OpTiming> ops;  ///< in the order timed
};

}  // namespace ringlab::trace
