#pragma once
// Named types for the physical quantities ringlab reasons about. Arithmetic that mixes units goes
// through the few free functions at the bottom, so a bandwidth can never be added to a time.
#include <compare>
#include <cstdint>
#include <string>

namespace ringlab {

/// A value of one physical unit: `Rep` counts of `Tag`'s unit. Only same-unit arithmetic compiles.
template <class Tag, class Rep>
struct Quantity {
  Rep value{};  ///< the count of base units (see the alias for which unit)

  constexpr Quantity() noexcept = default;
  constexpr explicit Quantity(Rep v) noexcept : value(v) {}
  friend constexpr auto operator<=>(Quantity, Quantity) noexcept = default;
  constexpr Quantity& operator+=(Quantity o) noexcept { value += o.value; return *this; }
  constexpr Quantity& operator-=(Quantity o) noexcept { value -= o.value; return *this; }
  friend constexpr Quantity operator+(Quantity a, Quantity b) noexcept { return Quantity(a.value + b.value); }
  friend constexpr Quantity operator-(Quantity a, Quantity b) noexcept { return Quantity(a.value - b.value); }
  friend constexpr Quantity operator*(Quantity a, Rep k) noexcept { return Quantity(a.value * k); }
  friend constexpr Quantity operator*(Rep k, Quantity a) noexcept { return Quantity(a.value * k); }
  /// Ratio of two quantities of the same unit (a plain number).
  friend constexpr double operator/(Quantity a, Quantity b) noexcept {
    return static_cast<double>(a.value) / static_cast<double>(b.value);
  }
};

struct TimeTag {};
struct BytesTag {};
struct FlopsTag {};
struct BandwidthTag {};
struct FlopRateTag {};

/// A point or span of time, in integer picoseconds (2^63 ps is about 106 days).
using Time = Quantity<TimeTag, std::int64_t>;
/// An amount of memory or data on the wire, in bytes.
using Bytes = Quantity<BytesTag, std::int64_t>;
/// An amount of arithmetic, in floating-point operations (a multiply-add counts 2).
using Flops = Quantity<FlopsTag, std::int64_t>;
/// A data rate, in bytes per second.
using Bandwidth = Quantity<BandwidthTag, double>;
/// A compute rate, in floating-point operations per second.
using FlopRate = Quantity<FlopRateTag, double>;

inline constexpr std::int64_t kPsPerSecond = 1'000'000'000'000;

/// Time from seconds, rounded to the nearest picosecond.
[[nodiscard]] constexpr Time seconds(double s) noexcept {
  const double ps = s * static_cast<double>(kPsPerSecond);
  return Time(static_cast<std::int64_t>(ps < 0 ? ps - 0.5 : ps + 0.5));
}
/// Time from microseconds.
[[nodiscard]] constexpr Time microseconds(double us) noexcept { return seconds(us * 1e-6); }
/// Time from nanoseconds.
[[nodiscard]] constexpr Time nanoseconds(double ns) noexcept { return seconds(ns * 1e-9); }
/// The time as (double) seconds.
[[nodiscard]] constexpr double to_seconds(Time t) noexcept {
  return static_cast<double>(t.value) / static_cast<double>(kPsPerSecond);
}
/// Bandwidth from GB/s (1 GB = 1e9 B, as datasheets and nccl-tests count).
[[nodiscard]] constexpr Bandwidth gb_per_s(double gbps) noexcept { return Bandwidth(gbps * 1e9); }
/// Compute rate from TFLOP/s.
[[nodiscard]] constexpr FlopRate tflops(double tf) noexcept { return FlopRate(tf * 1e12); }
/// Time to move `b` at bandwidth `bw` (rounded to the nearest picosecond).
[[nodiscard]] constexpr Time transfer_time(Bytes b, Bandwidth bw) noexcept {
  return seconds(static_cast<double>(b.value) / bw.value);
}
/// Time to execute `f` at rate `r` (rounded to the nearest picosecond).
[[nodiscard]] constexpr Time compute_time(Flops f, FlopRate r) noexcept {
  return seconds(static_cast<double>(f.value) / r.value);
}
/// A size in the largest binary unit that divides it exactly: "64 MiB", "4 KiB", "4097 B".
[[nodiscard]] std::string exact_size(Bytes b);

}  // namespace ringlab
