#pragma once
// A route between two GPUs as the list of directed links a transfer crosses — what the
// communication model prices and the simulator's flow network shares.
#include <cstdint>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/topology/kinds.hpp"

namespace ringlab::topology {

/// Dense id of one direction of one link (a full-duplex link has two: 2*edge and 2*edge+1).
using LinkId = std::uint32_t;

/// One directed link crossed by a route.
struct Hop {
  LinkId link = 0;                 ///< which directed link
  LinkKind kind = LinkKind::NVLink;  ///< what it is made of
  Bandwidth bandwidth{0};          ///< its capacity in this direction
  Time latency{0};                 ///< its one-way latency
};

/// The links a transfer from `src` GPU to `dst` GPU crosses, in order (empty when src == dst).
struct Route {
  std::vector<Hop> hops;  ///< in order from source to destination
  [[nodiscard]] Bandwidth bottleneck() const noexcept;  ///< smallest hop bandwidth (0 if no hops)
  [[nodiscard]] Time latency() const noexcept;          ///< sum of hop latencies
};

}  // namespace ringlab::topology
