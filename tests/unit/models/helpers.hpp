#pragma once
// Shared helpers of the models tests.
#include <string>

#include "ringlab/core/error.hpp"
#include "ringlab/core/units.hpp"

namespace ringlab::models::test {

/// Path of a file in the repository.
inline std::string repo_file(const std::string& rel) { return std::string(RINGLAB_SOURCE_DIR) + "/" + rel; }
/// A device file of configs/devices.
inline std::string device_file(const std::string& name) { return repo_file("configs/devices/" + name + ".yaml"); }
/// A time in microseconds (double), for comparisons with hand-computed values.
inline double us(Time t) { return to_seconds(t) * 1e6; }

/// what() of the InputError `fn` throws, or "no error".
template <class F>
std::string input_error_of(F&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace ringlab::models::test
