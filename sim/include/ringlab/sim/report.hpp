#pragma once
// Presenting a simulation: the summary object (shared with the runtime through trace::summarize, plus
// the simulator's extras), a text table, and an SVG timeline.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlab/ir/schedule.hpp"
#include "ringlab/sim/simulator.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::sim {

/// Names a directed link for people ("n0.nic3 -> leaf3"); may be empty.
using LinkNamer = std::function<std::string(topology::LinkId)>;

/// trace::summarize of the run (single-GPU time and the largest per-rank peak memory supplied), with
/// the simulator's extras appended: gpus, single_gpu_time_s, sim_phases (per phase, max over ranks:
/// step_s, compute_s, transfer_s, exposed_comm_s), peak_memory_rank, busiest_link (or null), events.
/// Needs a run recorded with SimOptions::record_trace, or `streamed`: a builder the run fed every op
/// (SimOptions::summary, or trace_sink's records given to add_rank): the same figures, no trace kept.
[[nodiscard]] trace::Summary make_summary(const SimResult& result, const ir::Schedule& schedule,
                                          const LinkNamer& link_name = {},
                                          const trace::SummaryBuilder* streamed = nullptr);

/// A fixed-width table: one row per phase (time, compute, comm, exposed), a totals row, then the
/// end-to-end figures (time, single GPU, speedup, efficiency, overlap, memory, busiest link).
[[nodiscard]] std::string format_table(const trace::Summary& summary, const SimResult& result);

/// A timeline picture: one lane per GPU (at most `max_lanes`, the first ones), compute ops green on the
/// lane's upper half, transfers orange on its lower half, phase ends as dashed lines, time axis in
/// s, ms or us as fits. Needs a run recorded with SimOptions::record_trace.
[[nodiscard]] std::string timeline_svg(const SimResult& result, const std::vector<std::int32_t>& gpu_of_rank,
                                       const std::string& title, std::int32_t max_lanes = 64);

/// A time with a unit that suits it ("12.345 ms", "3.2 us").
[[nodiscard]] std::string format_time(double seconds);

/// `text` as XML character data or attribute value: & < > " ' escaped, control characters XML cannot
/// hold (all below 0x20 but tab, newline, return) as '?' (names and values from the user's files go
/// into the SVG pictures).
[[nodiscard]] std::string xml_escape(std::string_view text);

}  // namespace ringlab::sim
