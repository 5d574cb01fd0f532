#pragma once
// Communication cost model: an NCCL-like point-to-point transfer over a route of links.
// Formulas and their sources: docs/models.md, "Communication". Constants: configs/models/comm-nccl.yaml
// (the defaults in code are identical; a test checks it).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "ringlab/core/units.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/topology/route.hpp"

namespace ringlab::models {

/// NCCL's wire protocols (src/device/prims_*.h): LL (8-byte flag+data stores), LL128, Simple.
enum class Protocol : std::uint8_t { ll, ll128, simple };

/// Lower-case protocol name as in YAML ("ll", "ll128", "simple").
[[nodiscard]] const char* protocol_name(Protocol p) noexcept;
/// Lower-case link kind name as in YAML ("nvlink", "pcie", "c2c", "net").
[[nodiscard]] const char* link_kind_name(topology::LinkKind k) noexcept;

/// Per link kind parameters.
struct LinkParams {
  std::array<Time, 3> latency{};  ///< per Protocol: NCCL's per-hop hardware latency (tuning.cc hwLat)
  double efficiency = 1.0;        ///< achievable fraction of the link's line rate (measured/line)
  Bytes chunk{0};                 ///< pipelining chunk: a stage forwards a chunk once it has it whole
  friend bool operator==(const LinkParams&, const LinkParams&) = default;
};

/// Every constant of the communication and interference models.
struct CommParams {
  Bytes ll_threshold{16384};            ///< messages of at most this many bytes use LL
  bool ll128_on_nvlink = false;         ///< use LL128 instead of Simple above the threshold on all-NVLink routes
  std::array<Time, 3> base_latency{};   ///< per Protocol: software latency per message (tuning.cc baseLat)
  std::array<double, 3> protocol_efficiency{};  ///< per Protocol: fraction of bandwidth the protocol reaches
  std::array<LinkParams, 4> links{};    ///< per topology::LinkKind
  std::array<double, 4> compute_slowdown{};  ///< per transport LinkKind: compute slowdown while such a transfer runs
  double local_copy_slowdown = 1.0;     ///< compute slowdown while a same-GPU copy runs
  friend bool operator==(const CommParams&, const CommParams&) = default;
};

/// The built-in defaults (identical to configs/models/comm-nccl.yaml).
[[nodiscard]] CommParams default_comm_params();
/// Loads a comm-model file (all keys required, unknown keys rejected; errors name file, line, field).
[[nodiscard]] CommParams load_comm_params(const std::string& path);
/// Parses comm-model YAML text (`label` is what errors call it).
[[nodiscard]] CommParams parse_comm_params(const std::string& text, const std::string& label);

/// The price of one transfer, in the form the flow-level simulator shares: alone on an idle route it
/// takes idle_time() = fixed_latency + wire_bytes / max_rate. Under contention the simulator shares
/// each link's CommModel::link_capacity among the flows crossing it, caps each flow at its max_rate,
/// and finishes the flow fixed_latency after its wire_bytes have drained.
struct TransferCost {
  Time fixed_latency{0};   ///< software + per-hop protocol + physical link latencies
  Bandwidth max_rate{0};   ///< bottleneck link capacity x protocol efficiency (the rate alone)
  Bytes wire_bytes{0};     ///< bytes + the pipeline-fill equivalent of the other stages
  Protocol protocol = Protocol::simple;  ///< the protocol chosen for this size and route
  /// Time alone on an idle route.
  [[nodiscard]] Time idle_time() const noexcept {
    return wire_bytes.value > 0 ? fixed_latency + transfer_time(wire_bytes, max_rate) : fixed_latency;
  }
};

/// NCCL-like point-to-point model with chunked pipelining across the hops of a route.
class CommModel {
 public:
  /// A model with `params`; same-GPU transfers (empty routes) are copies on `device`.
  CommModel(CommParams params, const DeviceSpec& device);
  CommModel(const CommModel&) = delete;
  CommModel& operator=(const CommModel&) = delete;

  /// Registry name ("nccl").
  [[nodiscard]] std::string_view name() const noexcept { return "nccl"; }
  /// The price of sending `bytes` along `route` (see TransferCost).
  [[nodiscard]] TransferCost cost(Bytes bytes, const topology::Route& route) const;
  /// cost(bytes, route).idle_time().
  [[nodiscard]] Time idle_time(Bytes bytes, const topology::Route& route) const { return cost(bytes, route).idle_time(); }
  /// The protocol NCCL would pick: LL up to ll_threshold, else Simple (LL128 on NVLink if enabled).
  [[nodiscard]] Protocol protocol_for(Bytes bytes, const topology::Route& route) const noexcept;
  /// Capacity the simulator shares among the flows on `hop`: bandwidth x the kind's efficiency.
  [[nodiscard]] Bandwidth link_capacity(const topology::Hop& hop) const noexcept;
  /// The pipelining chunk of `route`: that of its transport kind, capped by nothing (see cost()).
  [[nodiscard]] Bytes chunk(const topology::Route& route) const noexcept;
  /// Rate of a same-GPU copy: streaming HBM bandwidth / 2 (each byte is read and written).
  [[nodiscard]] Bandwidth local_copy_rate() const noexcept { return local_rate_; }
  /// The constants in use.
  [[nodiscard]] const CommParams& params() const noexcept { return params_; }

 private:
  CommParams params_;
  Bandwidth local_rate_;
  Time local_latency_;
};

/// The transport of a non-empty route — its slowest class of link: Net if any hop is Net, else PCIe,
/// else C2C, else NVLink (NCCL picks its transport the same way: NET > P2P over PCIe > P2P over NVLink).
[[nodiscard]] topology::LinkKind transport_kind(const topology::Route& route) noexcept;

}  // namespace ringlab::models
