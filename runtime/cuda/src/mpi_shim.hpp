#pragma once
// Private: the little of MPI the backend needs (bootstrap of NCCL's unique id, barriers). Compiled
// against MPI when find_package(MPI) succeeded (mpi_shim_mpi.cpp), else as stubs that explain.
#include <cstddef>

namespace ringlab::runtime::cuda::mpi {

/// Whether MPI was found at configure time.
[[nodiscard]] bool compiled_in() noexcept;
/// MPI_Init unless already initialised (then MPI_Finalize at exit is the caller's business).
void init();
/// MPI_Finalize if init() initialised MPI.
void finalize() noexcept;
/// MPI_COMM_WORLD rank.
[[nodiscard]] int world_rank();
/// MPI_COMM_WORLD size.
[[nodiscard]] int world_size();
/// Rank among the processes of this node (MPI_Comm_split_type shared), to pick the GPU.
[[nodiscard]] int local_rank();
/// MPI_Bcast of `bytes` bytes from `root`.
void broadcast(void* data, std::size_t bytes, int root);
/// MPI_Barrier on MPI_COMM_WORLD.
void barrier();

}  // namespace ringlab::runtime::cuda::mpi
