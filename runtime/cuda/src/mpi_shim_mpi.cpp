// The MPI launch mode's bootstrap (compiled only when find_package(MPI) found MPI).
#include <mpi.h>

#include <fmt/format.h>

#include <climits>

#include "ringlab/core/error.hpp"
#include "mpi_shim.hpp"

namespace ringlab::runtime::cuda::mpi {

namespace {
bool g_owned = false;
void check(int rc, const char* call) {
  if (rc != MPI_SUCCESS) throw Error(fmt::format("{} failed with MPI error {}", call, rc));
}
}  // namespace

bool compiled_in() noexcept { return true; }

void init() {
  int initialised = 0;
  check(MPI_Initialized(&initialised), "MPI_Initialized");
  if (initialised != 0) return;
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_owned = true;
}

void finalize() noexcept {
  int finalised = 0;
  if (g_owned && MPI_Finalized(&finalised) == MPI_SUCCESS && finalised == 0) MPI_Finalize();
  g_owned = false;
}

int world_rank() {
  int r = 0;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &r), "MPI_Comm_rank");
  return r;
}

int world_size() {
  int n = 0;
  check(MPI_Comm_size(MPI_COMM_WORLD, &n), "MPI_Comm_size");
  return n;
}

int local_rank() {
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int r = 0;
  check(MPI_Comm_rank(node, &r), "MPI_Comm_rank");
  MPI_Comm_free(&node);
  return r;
}

void broadcast(void* data, std::size_t bytes, int root) {
  if (bytes > static_cast<std::size_t>(INT_MAX)) throw Error("MPI_Bcast of more than 2 GiB");
  check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

}  // namespace ringlab::runtime::cuda::mpi
