#include "ringlab/sim/adapters.hpp"

#include <fmt/core.h>

#include "ringlab/core/error.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/models/registry.hpp"
#include "ringlab/topology/load.hpp"
#include "ringlab/topology/placement.hpp"

namespace ringlab::sim {

ModelsCostModel::ModelsCostModel(const models::ComputeModel& compute, const models::CommModel& comm,
                                 models::MemoryOptions memory)
    : compute_(compute), comm_(comm), interference_(comm.params()), memory_(memory) {}

Time ModelsCostModel::op_time(const ir::Workload& w, const ir::RankProgram& rank, const ir::Op& op) const {
  return compute_.op_time(op, w, rank);
}

TransferCost ModelsCostModel::transfer(Bytes bytes, const topology::Route& route) const {
  const models::TransferCost c = comm_.cost(bytes, route);
  return TransferCost{c.fixed_latency, c.max_rate, c.wire_bytes};
}

Bandwidth ModelsCostModel::link_capacity(const topology::Hop& hop) const { return comm_.link_capacity(hop); }

double ModelsCostModel::interference(const topology::Route& route) const {
  return interference_.compute_slowdown(route);
}

Bytes ModelsCostModel::resident_memory(const ir::Workload& w, const ir::RankProgram& rank) const {
  const models::RankMemory m = models::rank_memory(w, rank, memory_);
  return m.buffers + m.overhead;  // its ops' workspace is op_memory's
}

Bytes ModelsCostModel::op_memory(const ir::Workload& w, const ir::Op& op) const {
  return models::op_workspace(op.kind, w);
}

topology::Placement placement_of(const ir::PlacementSpec& spec) {
  topology::Placement p;
  switch (spec.kind) {
    case ir::PlacementSpec::Kind::block: p.kind = topology::Placement::Kind::block; break;
    case ir::PlacementSpec::Kind::round_robin: p.kind = topology::Placement::Kind::round_robin; break;
    case ir::PlacementSpec::Kind::list: p.kind = topology::Placement::Kind::list; break;
    case ir::PlacementSpec::Kind::shared: p.kind = topology::Placement::Kind::shared; break;
  }
  p.gpus = spec.gpus;
  return p;
}

LoadedExperiment load_for_simulation(const std::string& path, const std::vector<std::string>& overrides) {
  LoadedExperiment x;
  x.experiment = ir::load_experiment(path, overrides);
  const ir::Experiment& e = x.experiment;
  if (e.topology.empty()) {
    throw InputError(e.file, 0, 0, "topology", "simulate needs a topology: add `topology: FILE` to the experiment");
  }
  // Not ir::validate: that needs the whole schedule in memory. Generated schedules are proven valid by
  // the generator tests, and the simulator itself refuses everything timing depends on (ids, deps,
  // peers, send/recv matching and sizes, deadlocks, stalls).
  x.schedule = std::make_unique<ir::ScheduleGenerator>(e.workload, e.schedule);
  x.cluster = std::make_unique<topology::Cluster>(topology::load_topology(e.topology));
  const auto placed =
      topology::place(*x.cluster, placement_of(e.placement), e.schedule.ranks, {e.file, e.line_of("placement"), "placement"});
  x.gpu_of_rank.assign(placed.begin(), placed.end());
  // A calibrated profile (experiment key device_profile) stands in for the topology's device spec.
  models::DeviceSpec device = models::load_cluster_device(*x.cluster);
  if (!e.device_profile.empty()) device = models::load_device_profile(e.device_profile, device.name);
  device.require(e.workload.dtype, fmt::format("workload.dtype of {}", e.file));
  x.comm = std::make_unique<models::CommModel>(models::default_comm_params(), device);
  x.compute = models::make_compute_model("table", std::move(device));
  x.cost = std::make_unique<ModelsCostModel>(*x.compute, *x.comm);
  x.platform = std::make_unique<ClusterPlatform>(*x.cluster);
  return x;
}

std::string link_name(const topology::Cluster& cluster, topology::LinkId id) {
  if (id >= cluster.link_count()) return {};
  const topology::LinkInfo l = cluster.link(id);
  return fmt::format("{} -> {}", l.from_name, l.to_name);
}

}  // namespace ringlab::sim
