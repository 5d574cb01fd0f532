#pragma once
// A schedule read one rank at a time. Executors that walk the ranks in turn (the simulator's compile
// step, hashing, trace writing) take a ScheduleSource, so a schedule too large to hold can be streamed
// from its generator (ScheduleGenerator) as well as read from memory (StoredSource).
#include <cstddef>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::ir {

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

 private:
  const Schedule* s_;
};

}  // namespace ringlab::ir
