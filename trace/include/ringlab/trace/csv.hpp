#pragma once
// Per-phase CSV: one row per (phase, rank) with the same definitions as summarize().
#include <string>

#include "ringlab/trace/record.hpp"

namespace ringlab::trace {

/// Header "phase,rank,start_us,end_us,time_us,compute_us,comm_us,exposed_comm_us,ops,bytes,flops",
/// then one row per (phase, rank) that has ops, sorted by phase then rank. Times are microseconds
/// from the trace's origin with six decimals (exact picoseconds); bytes are send+recv+copy bytes.
[[nodiscard]] std::string to_phase_csv(const Trace& trace);

/// Writes to_phase_csv(trace) to `path` atomically.
void write_phase_csv(const std::string& path, const Trace& trace);

}  // namespace ringlab::trace
