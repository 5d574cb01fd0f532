#pragma once
// Generators: the only code that writes ops. Each builds a complete, valid Schedule from a workload,
// a variant name, a rank count and variant options.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ringlab/ir/schedule.hpp"
#include "ringlab/ir/source.hpp"

namespace ringlab::ir {

/// What to generate.
struct ScheduleSpec {
  std::string variant = "ring";                  ///< ring | ring_serial | allgather (more later)
  std::int32_t ranks = 1;                        ///< P
  std::map<std::string, std::string> options;    ///< variant options (none defined yet)
  friend bool operator==(const ScheduleSpec&, const ScheduleSpec&) = default;
};

/// The variants `generate` knows, in the order the CLI lists them.
[[nodiscard]] const std::vector<std::string>& variant_names();

/// Why `spec` cannot be generated for `w` (empty string if it can): e.g. seq_len not divisible by
/// the number of chunks the variant needs, kv_heads not dividing q_heads, ranks < 1.
/// `field` receives the name of the offending field ("workload.seq_len", "schedule.ranks", ...).
[[nodiscard]] std::string check_spec(const Workload& w, const ScheduleSpec& spec, std::string& field);

/// Builds the schedule; throws ValidationError with check_spec's message if it cannot.
[[nodiscard]] Schedule generate(const Workload& w, const ScheduleSpec& spec);

/// A schedule generated one rank at a time: the header (everything but the ops) when constructed, a
/// rank's ops each time they are asked for. Rank r's program is exactly generate()'s, so a consumer
/// that reads ranks in turn never holds more than one rank's ops, and one that reads every rank a few
/// ops at a time (the simulator, through cursor()) holds only those: at P = 4096 the ring is 58.7M
/// ops, gigabytes materialised.
class ScheduleGenerator final : public ScheduleSource {
 public:
  /// Throws ValidationError with check_spec's message if `spec` cannot be generated for `w`.
  ScheduleGenerator(const Workload& w, const ScheduleSpec& spec);
  ~ScheduleGenerator() override;
  ScheduleGenerator(const ScheduleGenerator&) = delete;
  ScheduleGenerator& operator=(const ScheduleGenerator&) = delete;

  [[nodiscard]] const Schedule& header() const override;  ///< see ScheduleSource
  /// Generates rank r's program into `scratch` (buffers copied from the header) and returns it.
  [[nodiscard]] const RankProgram& rank(std::size_t r, RankProgram& scratch) const override;
  /// Rank r a ring step (a variant's step) at a time: only as much is generated as has been read.
  [[nodiscard]] std::unique_ptr<OpCursor> cursor(std::size_t r) const override;
  [[nodiscard]] unsigned streams_used(std::size_t r) const override;  ///< the variant's streams
  [[nodiscard]] bool phases_in_order() const override;                ///< true for every variant
  /// The whole schedule (what generate() returns); the generator is spent.
  [[nodiscard]] Schedule take() &&;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Forward FLOPs of attending q positions to kv positions under w's mask, FlashAttention convention:
/// 4*B*H*d per attended (q, k) pair, where a pair with k == q counts half under a causal mask
/// (so a causal diagonal block costs exactly half of a full one, and all blocks sum to half of L^2).
[[nodiscard]] Flops attend_flops(const Workload& w, const TokenSet& q, const TokenSet& kv);
/// The mask relation of q against kv under w (full, partial or skip).
[[nodiscard]] Mask mask_relation(const Workload& w, const TokenSet& q, const TokenSet& kv);
/// Both at once, weighing the pairs once (a windowed or striped block is weighed row by row).
struct BlockFigures {
  Mask mask = Mask::full;  ///< mask_relation(w, q, kv)
  Flops flops{0};          ///< attend_flops(w, q, kv)
};
[[nodiscard]] BlockFigures block_figures(const Workload& w, const TokenSet& q, const TokenSet& kv);

}  // namespace ringlab::ir
