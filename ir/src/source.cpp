#include "ringlab/ir/source.hpp"

#include <algorithm>

namespace ringlab::ir {

namespace {

// A whole program as one batch (ScheduleSource's default).
class WholeCursor final : public OpCursor {
 public:
  WholeCursor(const ScheduleSource& src, std::size_t r) : program_(&src.rank(r, scratch_)) {}
  std::span<const Op> next() override {
    if (given_) return {};
    given_ = true;
    return program_->ops;
  }
  [[nodiscard]] std::size_t size_hint() const override { return program_->ops.size(); }

 private:
  RankProgram scratch_;  // declared before program_, which may point into it
  const RankProgram* program_;
  bool given_ = false;
};

// Fixed-size slices of a stored program.
class SliceCursor final : public OpCursor {
 public:
  explicit SliceCursor(const std::vector<Op>& ops) : ops_(ops) {}
  std::span<const Op> next() override {
    const std::size_t n = std::min(kSlice, ops_.size() - at_);
    const std::span<const Op> s(ops_.data() + at_, n);
    at_ += n;
    return s;
  }
  [[nodiscard]] std::size_t size_hint() const override { return ops_.size(); }

 private:
  static constexpr std::size_t kSlice = 256;
  const std::vector<Op>& ops_;
  std::size_t at_ = 0;
};

}  // namespace

std::unique_ptr<OpCursor> ScheduleSource::cursor(std::size_t r) const { return std::make_unique<WholeCursor>(*this, r); }

unsigned ScheduleSource::streams_used(std::size_t /*r*/) const { return kAllStreams; }

bool ScheduleSource::phases_in_order() const { return false; }

std::unique_ptr<OpCursor> StoredSource::cursor(std::size_t r) const { return std::make_unique<SliceCursor>(s_->ranks.at(r).ops); }

unsigned StoredSource::streams_used(std::size_t r) const {
  unsigned mask = 0;
  for (const auto& op : s_->ranks.at(r).ops) mask |= stream_bit(op.stream);
  return mask;
}

bool StoredSource::phases_in_order() const {
  return std::all_of(s_->ranks.begin(), s_->ranks.end(), [](const RankProgram& p) {
    return std::is_sorted(p.ops.begin(), p.ops.end(), [](const Op& a, const Op& b) { return a.phase < b.phase; });
  });
}

}  // namespace ringlab::ir
