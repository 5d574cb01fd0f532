#pragma once
// The summary object `simulate --format json` and `run --format json` both print (DESIGN.md,
// "Traces"), computed from a trace by one function so both sides agree on every definition.
//
// Definitions (per rank, then the maximum over ranks unless said otherwise):
// - an op is *communication* if it is a send or recv, *compute* otherwise (attend, merge, copy, ...);
// - busy time is the length of the union of a set of op intervals, so a send and a recv running
//   side by side count once, as do compute ops on two streams;
// - a phase's time is the span (last end - first start) of that rank's ops of the phase;
// - a phase's compute_s / comm_s are the busy time of that rank's compute / comm ops of the phase;
// - a phase's exposed_comm_s is the time the phase's comm ops are busy while no compute op of the
//   rank (of any phase) is;
// - overlap_pct = 100 * sum over ranks of |comm busy AND compute busy| / sum over ranks of
//   |comm busy| (0 when there is no communication).
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/trace/record.hpp"

namespace ringlab::trace {

/// Timing of one phase (ring step), each value the maximum over ranks.
struct PhaseSummary {
  std::uint32_t phase = 0;      ///< the phase number
  double time_s = 0;            ///< span of the phase on the slowest rank
  double compute_s = 0;         ///< compute busy time
  double comm_s = 0;            ///< communication busy time
  double exposed_comm_s = 0;    ///< communication not hidden behind compute
  friend bool operator==(const PhaseSummary&, const PhaseSummary&) = default;  ///< field-wise
};

/// What the caller knows beyond the trace.
struct SummaryInputs {
  std::optional<Time> single_gpu_time;    ///< time of the same attention on one GPU (for speedup)
  std::optional<Bytes> peak_memory;       ///< peak memory of the busiest rank
};

/// The summary both `simulate` and `run` print.
struct Summary {
  std::string schedule_hash;                 ///< hash of the schedule executed
  std::string variant;                       ///< its generator
  std::string source;                        ///< "sim", "cpu", "cuda"
  std::int32_t ranks = 0;                    ///< number of ranks
  double total_time_s = 0;                   ///< last end - first start over all ranks
  std::vector<PhaseSummary> phases;          ///< by phase number
  std::optional<double> speedup;             ///< single-GPU time / total time
  std::optional<double> parallel_efficiency; ///< speedup / ranks
  double overlap_pct = 0;                    ///< share of communication hidden behind compute, %
  std::optional<std::int64_t> peak_memory_bytes;  ///< caller-supplied peak memory
  /// Extra top-level keys appended in order after the standard ones: key and raw JSON value text
  /// (build values with json_quote / json_number).
  std::vector<std::pair<std::string, std::string>> extra;
};

/// Whether an op kind name counts as communication ("send", "recv").
[[nodiscard]] bool is_comm_kind(std::string_view kind) noexcept;

/// Computes the summary of `trace`, which executed `schedule` (its ranks and variant); throws
/// Error if the trace names a rank outside the schedule or has an op ending before it starts.
[[nodiscard]] Summary summarize(const Trace& trace, const ir::Schedule& schedule, const SummaryInputs& inputs = {});
/// The same from the trace alone, given its rank count and variant name (what `compare` knows).
[[nodiscard]] Summary summarize(const Trace& trace, std::int32_t ranks, const std::string& variant,
                                const SummaryInputs& inputs = {});

/// summarize()'s summary built a rank at a time, without the trace: each rank's records are given once,
/// all together (add_rank), and only per-phase maxima and per-rank totals are kept, so a caller that
/// produces records rank by rank (the simulator) needs no copy of them all. The figures are the same
/// as summarize() on the trace of every record given, whatever the order of the ranks.
class SummaryBuilder {
 public:
  /// For a trace of a schedule of `ranks` ranks made by generator `variant`.
  SummaryBuilder(std::int32_t ranks, std::string variant);
  ~SummaryBuilder();
  SummaryBuilder(const SummaryBuilder&) = delete;
  SummaryBuilder& operator=(const SummaryBuilder&) = delete;
  /// Every record of one rank (none of it given before); throws Error as summarize() would if a record
  /// names a rank outside the schedule or ends before it starts, or if the records name two ranks.
  void add_rank(std::span<const OpRecord> records);
  /// The summary of everything given, for the trace's hash and source.
  [[nodiscard]] Summary finish(const std::string& schedule_hash, const std::string& source,
                               const SummaryInputs& inputs = {}) const;

 private:
  friend class RankStream;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One rank's records for a SummaryBuilder, handed over one at a time as each becomes final (the
/// simulator: as its ops retire) instead of all at once, and kept only while they can still change a
/// figure: with `settle` called as the rank goes on, memory is that of the records near the watermark
/// (a ring rank's last step or two), not of the rank's whole program. The figures folded into the
/// builder are exactly add_rank()'s for the same records (the interval arithmetic is integer and the
/// union and overlap lengths split exactly at any instant).
///
/// Only the kind of each op matters here (communication or not), not its name, size or FLOPs.
class RankStream {
 public:
  /// For rank `rank` of the builder's schedule (checked when it is folded in). A settle() folds once
  /// `batch` records have come since the last fold (the figures do not depend on it).
  explicit RankStream(std::int32_t rank, std::size_t batch = 16) : rank_(rank), batch_(batch) {}
  /// One record: phase, whether it is a send/recv, its interval. Throws Error if it ends before it
  /// starts, or if it starts before the last watermark given to settle() (the caller broke its promise).
  void add(std::uint32_t phase, bool comm, Time start, Time end);
  /// The caller's promise: no record given from now on starts before `watermark` (non-decreasing from
  /// call to call), and none is of a phase below `closed_below`. Folds into `into` every phase that is
  /// final (closed, and its communication ended by the watermark) and the rank's totals up to the
  /// watermark, and forgets what no later figure needs.
  void settle(Time watermark, std::uint32_t closed_below, SummaryBuilder& into);
  /// No more records: folds everything left into `into` (as add_rank would have for the same records).
  void finish(SummaryBuilder& into);
  /// Where add() writes next: for a caller that prefetches it (the simulator, events ahead).
  [[nodiscard]] const void* next_slot() const noexcept { return records_.data() + records_.size(); }

 private:
  // A record, and whether its phase's figures are folded already (it is then kept only while its
  // interval can still count towards the totals or cover another phase's communication).
  struct Record {
    std::int64_t start;
    std::int64_t end;
    std::uint32_t phase;
    bool comm;
    bool folded;
  };
  void settle_to(std::int64_t watermark, bool all, std::uint32_t closed_below, SummaryBuilder& into);

  std::int32_t rank_;
  // Everything a rank holds is this one buffer, appended to as records come and pruned when folding,
  // which waits until `batch_` have come since the last fold: at thousands of ranks a rank's state is
  // out of cache by its next op, so an op costs an append and a fold is one pass over the buffer
  // (folding later, at a later watermark, gives the same figures).
  std::vector<Record> records_;
  std::size_t batch_;
  std::size_t fresh_ = 0;          // records added since the last fold
  std::int64_t promised_ = std::numeric_limits<std::int64_t>::min();  // the last watermark given
  std::int64_t folded_to_ = std::numeric_limits<std::int64_t>::min();  // the totals cover all before this
  std::int64_t first_start_ = 0;
  std::int64_t last_end_ = 0;
  std::int64_t comm_total_ = 0;
  std::int64_t hidden_ = 0;
  bool any_ = false;
};

/// The summary as one JSON object with a fixed key order: schedule_hash, variant, source, ranks,
/// total_time_s, phases, speedup, parallel_efficiency, overlap_pct, peak_memory_bytes, then `extra`.
/// Absent optionals are null; numbers use the shortest text that reads back to the same double.
[[nodiscard]] std::string to_json(const Summary& summary);

/// A JSON string literal (quoted and escaped).
[[nodiscard]] std::string json_quote(std::string_view text);
/// A JSON number: the shortest round-trip text of `v`; null for NaN or infinity.
[[nodiscard]] std::string json_number(double v);

}  // namespace ringlab::trace
