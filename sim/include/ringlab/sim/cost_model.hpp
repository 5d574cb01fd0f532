#pragma once
// What the simulator asks of the cost models, as one small interface so tests can inject models with
// hand-checkable parameters (constant rates, zero latency) and the CLI can plug in the models layer.
#include <cstdint>
#include <memory>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/topology/route.hpp"

namespace ringlab::sim {

/// Price of one transfer on an idle route: it occupies the links for wire_bytes / rate (rate <= max_rate,
/// shared with other flows), then takes `fixed` more before the receiver sees the data.
struct TransferCost {
  Time fixed{0};            ///< latency paid once per transfer (protocol + hop latencies)
  Bandwidth max_rate{0};    ///< the fastest this transfer can go alone (<= 0: only the links limit it)
  Bytes wire_bytes{0};      ///< bytes actually put on the links (payload plus protocol overhead)
};

/// The cost models the simulator consults.
class CostModel {
 public:
  virtual ~CostModel() = default;
  CostModel() = default;
  CostModel(const CostModel&) = delete;
  CostModel& operator=(const CostModel&) = delete;

  /// Time of a GPU op (attend, merge, copy, reduce, gemm) of rank `rank` (of a schedule of workload `w`)
  /// alone on an idle GPU. Only the rank's buffers are given (its ops may be absent: the simulator reads
  /// programs a few ops at a time).
  [[nodiscard]] virtual Time op_time(const ir::Workload& w, const ir::RankProgram& rank, const ir::Op& op) const = 0;
  /// Price of moving `bytes` along `route` (an empty route: both ranks on one GPU).
  [[nodiscard]] virtual TransferCost transfer(Bytes bytes, const topology::Route& route) const = 0;
  /// Capacity the flow network shares among the flows crossing `hop` (e.g. its bandwidth x efficiency).
  [[nodiscard]] virtual Bandwidth link_capacity(const topology::Hop& hop) const = 0;
  /// Factor (>= 1) by which compute on either end's GPU slows while a transfer over `route` is in
  /// flight; with several transfers in flight on one GPU the simulator applies the largest factor.
  [[nodiscard]] virtual double interference(const topology::Route& route) const = 0;
  /// Memory rank `rank` holds for the whole run (its buffers and fixed overheads; only its buffers are
  /// given). A rank's peak is this plus the largest op_memory of its ops.
  [[nodiscard]] virtual Bytes resident_memory(const ir::Workload& w, const ir::RankProgram& rank) const = 0;
  /// Memory `op` needs only while it runs (a kernel's workspace).
  [[nodiscard]] virtual Bytes op_memory(const ir::Workload& w, const ir::Op& op) const = 0;
  /// True when op_time and op_memory of an Attend or AttendGrad depend only on its shape: which of the
  /// two it is, its q and kv row counts, heads, mask and FLOPs (with the workload and the rank's
  /// buffers), not on the buffers, rows or token positions it names. The simulator then prices one op
  /// of a shape and reuses the figures for the rank's next ops of that shape (a ring's blocks are a few
  /// shapes). False, the default: every op is priced.
  [[nodiscard]] virtual bool attend_cost_by_shape() const { return false; }
};

/// The simplest faithful model, for tests and for hand derivations: every compute op runs at a constant
/// `flop_rate` (ops without FLOPs take `fixed_op_time`), a transfer costs `latency` plus the sum of its
/// hops' latencies, its rate is capped at `max_rate` (<= 0: links only), wire bytes equal payload bytes,
/// interference is a constant factor, and memory is the sum of the rank's buffers (ops need none).
class SimpleCostModel final : public CostModel {
 public:
  /// Parameters of the simple model.
  struct Params {
    FlopRate flop_rate{1e12};        ///< rate of every FLOP-carrying op
    Time fixed_op_time{0};           ///< time of an op without FLOPs (merge, copy, reduce)
    Time latency{0};                 ///< per-transfer latency on top of hop latencies
    Bandwidth max_rate{0};           ///< per-transfer cap (<= 0: none)
    Bandwidth local_rate{0};         ///< rate of a transfer between two ranks of one GPU (<= 0: instant)
    double interference = 1.0;       ///< compute slow-down while a transfer is in flight
  };
  /// A model with parameters `p`.
  explicit SimpleCostModel(Params p) : p_(p) {}
  [[nodiscard]] Time op_time(const ir::Workload& w, const ir::RankProgram& rank, const ir::Op& op) const override;  ///< see class
  [[nodiscard]] TransferCost transfer(Bytes bytes, const topology::Route& route) const override;  ///< see class
  [[nodiscard]] Bandwidth link_capacity(const topology::Hop& hop) const override;  ///< the hop's bandwidth
  [[nodiscard]] double interference(const topology::Route& route) const override;  ///< see class
  [[nodiscard]] Bytes resident_memory(const ir::Workload& w, const ir::RankProgram& rank) const override;  ///< see class
  [[nodiscard]] Bytes op_memory(const ir::Workload& w, const ir::Op& op) const override;  ///< none
  [[nodiscard]] bool attend_cost_by_shape() const override { return true; }  ///< FLOPs and mask only
  [[nodiscard]] const Params& params() const noexcept { return p_; }  ///< its parameters

 private:
  Params p_;
};

}  // namespace ringlab::sim
