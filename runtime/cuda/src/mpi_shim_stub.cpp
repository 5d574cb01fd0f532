// MPI was not found when this build was configured: LaunchMode::mpi is compiled out.
#include "ringlab/core/error.hpp"
#include "mpi_shim.hpp"

namespace ringlab::runtime::cuda::mpi {

namespace {
[[noreturn]] void missing() {
  throw Error(
      "the cuda backend's MPI launch mode is compiled out: MPI was not found when ringlab was configured "
      "(install OpenMPI or MPICH and reconfigure, or run one process for all local GPUs / one GPU instead)");
}
}  // namespace

bool compiled_in() noexcept { return false; }
void init() { missing(); }
void finalize() noexcept {}
int world_rank() { missing(); }
int world_size() { missing(); }
int local_rank() { missing(); }
void broadcast(void*, std::size_t, int) { missing(); }
void barrier() { missing(); }

}  // namespace ringlab::runtime::cuda::mpi
