#pragma once
// One timing record per executed op — the format both the simulator and the runtime write.
#include <cstdint>
#include <string>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"

namespace ringlab::trace {

/// Start and end of one op of one rank, on a clock shared by all ranks.
struct OpRecord {
  std::int32_t rank = 0;          ///< rank that issued the op
  ir::OpId op = 0;                ///< its id in that rank's program
  std::uint32_t phase = 0;        ///< its phase (ring step)
  ir::Stream stream = ir::Stream::compute;  ///< stream it ran on
  std::string kind;               ///< ir::kind_name of the op ("attend", "send", ...)
  Time start{0};                  ///< when it started (ps from the common origin)
  Time end{0};                    ///< when it finished
  Bytes bytes{0};                 ///< bytes moved (send/recv/copy), 0 otherwise
  Flops flops{0};                 ///< FLOPs performed
  friend bool operator==(const OpRecord&, const OpRecord&) = default;
};

/// One sample of a counter track (e.g. a link's utilisation): its value from `time` on.
struct CounterSample {
  std::string track;   ///< counter name, e.g. "link 3 n0.gpu0 -> n0.nvswitch (GB/s)"
  Time time{0};        ///< when the value took effect
  double value = 0;    ///< the value
  friend bool operator==(const CounterSample&, const CounterSample&) = default;
};

/// Everything one execution (simulated or measured) produced.
struct Trace {
  std::string schedule_hash;      ///< ir::schedule_hash of the schedule executed (hex)
  std::string source;             ///< "sim" or "cpu"/"cuda" (which side wrote it)
  std::int32_t ranks = 0;         ///< number of ranks
  std::vector<OpRecord> records;  ///< one per op, any order
  std::vector<CounterSample> counters;  ///< optional counter tracks (the simulator's link utilisation)
};

}  // namespace ringlab::trace
