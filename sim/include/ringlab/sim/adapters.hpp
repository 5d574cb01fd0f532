#pragma once
// The simulator's view of the other layers: a topology::Cluster as a Platform, and the models layer
// (compute, communication, interference, memory) as a CostModel.
#include <memory>
#include <string>
#include <vector>

#include "ringlab/ir/experiment.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/models/comm.hpp"
#include "ringlab/models/compute.hpp"
#include "ringlab/models/interference.hpp"
#include "ringlab/models/memory.hpp"
#include "ringlab/sim/simulator.hpp"
#include "ringlab/topology/placement.hpp"
#include "ringlab/topology/cluster.hpp"

namespace ringlab::sim {

/// A cluster's GPUs and routes.
class ClusterPlatform final : public Platform {
 public:
  /// Views `cluster` (which must outlive this object).
  explicit ClusterPlatform(const topology::Cluster& cluster) : cluster_(&cluster) {}
  [[nodiscard]] std::int32_t gpu_count() const override { return cluster_->gpu_count(); }  ///< see Platform
  [[nodiscard]] topology::Route route(std::int32_t src, std::int32_t dst) const override {  ///< see Platform
    return cluster_->route(src, dst);
  }

 private:
  const topology::Cluster* cluster_;
};

/// The models layer as the simulator's cost model.
class ModelsCostModel final : public CostModel {
 public:
  /// Uses `compute` for ops, `comm` for transfers and link capacities, the interference model built
  /// from comm's parameters, and models::rank_memory for memory. The models must outlive this object.
  ModelsCostModel(const models::ComputeModel& compute, const models::CommModel& comm,
                  models::MemoryOptions memory = {});
  [[nodiscard]] Time op_time(const ir::Workload& w, const ir::RankProgram& rank, const ir::Op& op) const override;  ///< compute model
  [[nodiscard]] TransferCost transfer(Bytes bytes, const topology::Route& route) const override;  ///< comm model
  [[nodiscard]] Bandwidth link_capacity(const topology::Hop& hop) const override;  ///< comm model
  [[nodiscard]] double interference(const topology::Route& route) const override;  ///< interference model
  /// Memory model: the buffers plus the framework overhead.
  [[nodiscard]] Bytes resident_memory(const ir::Workload& w, const ir::RankProgram& rank) const override;
  /// Memory model: the op's kernel workspace.
  [[nodiscard]] Bytes op_memory(const ir::Workload& w, const ir::Op& op) const override;
  /// True: the compute model times a block by models::AttendShape, and its workspace by its q rows,
  /// heads and mask.
  [[nodiscard]] bool attend_cost_by_shape() const override { return true; }

 private:
  const models::ComputeModel& compute_;
  const models::CommModel& comm_;
  models::InterferenceModel interference_;
  models::MemoryOptions memory_;
};

/// Everything `ringlab simulate` needs for one experiment, loaded and owned together.
struct LoadedExperiment {
  ir::Experiment experiment;                        ///< the parsed file (after --set overrides)
  std::unique_ptr<ir::ScheduleGenerator> schedule;  ///< its schedule, generated rank by rank as simulated
  std::unique_ptr<topology::Cluster> cluster;       ///< its topology
  std::vector<std::int32_t> gpu_of_rank;            ///< its placement
  std::unique_ptr<models::ComputeModel> compute;    ///< compute model of the cluster's device
  std::unique_ptr<models::CommModel> comm;          ///< communication model (built-in NCCL constants)
  std::unique_ptr<ModelsCostModel> cost;            ///< both, as the simulator sees them
  std::unique_ptr<ClusterPlatform> platform;        ///< the cluster, as the simulator sees it
};

/// Loads an experiment file with `overrides`, prepares its schedule's generator (the simulator streams the
/// ranks from it: a schedule of millions of ops is never held whole), loads its topology and the
/// topology's device, places the ranks and builds the models ("table" compute model: measured rates
/// where the device file has them, the parametric curve elsewhere). Errors name the file and field.
[[nodiscard]] LoadedExperiment load_for_simulation(const std::string& path, const std::vector<std::string>& overrides = {});

/// An experiment's placement as topology::place takes it (topology does not know the IR).
[[nodiscard]] topology::Placement placement_of(const ir::PlacementSpec& spec);

/// Human-readable name of a directed link of `cluster` ("n0.gpu3 -> n0.nvswitch0").
[[nodiscard]] std::string link_name(const topology::Cluster& cluster, topology::LinkId id);

}  // namespace ringlab::sim
