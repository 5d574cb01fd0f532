#pragma once
// Public face of the CUDA backend; no CUDA header leaks from here.
#include <string>

namespace ringlab::runtime::cuda {

/// What the backend sees of the machine: device count, names, NCCL version.
struct DeviceInfo {
  int device_count = 0;        ///< CUDA devices visible (0 where there is no GPU or no driver)
  std::string first_device;    ///< name of device 0, empty if none
  int nccl_version = 0;        ///< NCCL's version code (e.g. 22703)
  std::string error;           ///< why no device was found, if none
};

/// Queries the CUDA runtime and NCCL; never throws for a missing GPU.
[[nodiscard]] DeviceInfo query_devices();

/// Runs a one-block smoke kernel (adds two small vectors) on device 0; returns true if correct.
/// Precondition: query_devices().device_count > 0.
[[nodiscard]] bool smoke_test();

}  // namespace ringlab::runtime::cuda
