#pragma once
// A schedule read one rank at a time. Executors that walk the ranks in turn (the simulator's compile
// step, hashing, trace writing) take a ScheduleSource, so a schedule too large to hold can be streamed
// from its generator (ScheduleGenerator) as well as read from memory (StoredSource).
#include <cstddef>
#include <memory>
#include <span>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::ir {

/// One rank's ops in program order, a few at a time (a generator's step, a slice of a stored program),
/// for a consumer that holds only a window of each rank (the simulator).
class OpCursor {
 public:
  virtual ~OpCursor() = default;
  /// The next ops (their ids continue from the last batch's); empty once the program is done. Valid
  /// until the next call to next() on any cursor of the same source (they may share one buffer), or
  /// the cursor's destruction.
  [[nodiscard]] virtual std::span<const Op> next() = 0;
  /// How many ops the whole program has, at least (0: unknown), so that a consumer keeping something
  /// per op can reserve for it once (the simulator's per-op log: 58.7M ops at 4096 ranks).
  [[nodiscard]] virtual std::size_t size_hint() const { return 0; }

 protected:
  OpCursor() = default;
  OpCursor(const OpCursor&) = default;
  OpCursor& operator=(const OpCursor&) = default;
};

/// Bit of `s` in a stream mask (ScheduleSource::streams_used).
[[nodiscard]] constexpr unsigned stream_bit(Stream s) noexcept { return 1U << static_cast<unsigned>(s); }
/// Every stream.
inline constexpr unsigned kAllStreams = 0xF;

/// Where rank programs come from.
class ScheduleSource {
 public:
  virtual ~ScheduleSource() = default;
  /// Everything but the ops: variant, workload, partition, token sets, and every rank's buffers
  /// (`ranks` has one entry per rank; their `ops` may be empty).
  [[nodiscard]] virtual const Schedule& header() const = 0;
  /// Rank r's whole program (buffers and ops): stored data, or `scratch` filled and returned. Valid
  /// until the source is destroyed or `scratch` is reused.
  [[nodiscard]] virtual const RankProgram& rank(std::size_t r, RankProgram& scratch) const = 0;
  /// Rank r's ops a few at a time. The default reads rank() once and hands its ops out in one batch.
  [[nodiscard]] virtual std::unique_ptr<OpCursor> cursor(std::size_t r) const;
  /// A mask (stream_bit) of the streams rank r's ops use, at least: a consumer reading a cursor looks
  /// ahead until each of these streams has its next op or the program ends. Default: every stream.
  [[nodiscard]] virtual unsigned streams_used(std::size_t r) const;
  /// True when every rank's ops come in non-decreasing phase order, so a consumer may finish a phase's
  /// figures once it has seen an op of a later one. Default: false.
  [[nodiscard]] virtual bool phases_in_order() const;

 protected:
  ScheduleSource() = default;
  ScheduleSource(const ScheduleSource&) = default;
  ScheduleSource& operator=(const ScheduleSource&) = default;
};

/// A schedule in memory as a source (it must outlive the source).
class StoredSource final : public ScheduleSource {
 public:
  explicit StoredSource(const Schedule& s) noexcept : s_(&s) {}
  [[nodiscard]] const Schedule& header() const override { return *s_; }  ///< the schedule itself
  /// The stored program of rank r (`scratch` unused).
  [[nodiscard]] const RankProgram& rank(std::size_t r, RankProgram& /*scratch*/) const override { return s_->ranks.at(r); }
  /// Slices of the stored program (no copies).
  [[nodiscard]] std::unique_ptr<OpCursor> cursor(std::size_t r) const override;
  [[nodiscard]] unsigned streams_used(std::size_t r) const override;  ///< from the stored ops
  [[nodiscard]] bool phases_in_order() const override;                ///< from the stored ops

 private:
  const Schedule* s_;
};

}  // namespace ringlab::ir
