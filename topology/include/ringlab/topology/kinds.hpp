#pragma once
// Vertex and link kinds of a cluster graph (NCCL's taxonomy in src/graph/topo.h, as enum classes).
#include <cstdint>
#include <string_view>

namespace ringlab::topology {

/// What a vertex of the cluster graph is.
enum class DeviceKind : std::uint8_t { GPU, NVSwitch, PCIeSwitch, CPU, NIC, Switch };
/// What a link is made of; selects the communication model's per-kind parameters.
enum class LinkKind : std::uint8_t { NVLink, PCIe, C2C, Net };

/// Lower-case name as used in YAML files ("gpu", "nvswitch", ...).
[[nodiscard]] std::string_view to_string(DeviceKind k) noexcept;
/// Lower-case name as used in YAML files ("nvlink", "pcie", "c2c", "net").
[[nodiscard]] std::string_view to_string(LinkKind k) noexcept;

}  // namespace ringlab::topology
