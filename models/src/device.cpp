#include "ringlab/models/device.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"

namespace ringlab::models {

namespace {

constexpr std::array<std::string_view, 3> kDTypeNames{"bf16", "fp16", "fp32"};
constexpr std::array<std::string_view, 2> kPassNames{"forward", "backward"};

// A fraction in (0, 1]: efficiencies and factors that can only lose time, never gain it.
double read_fraction(const YamlNode& n) {
  const double v = n.as_positive_double();
  if (v > 1.0) n.fail(fmt::format("must be a fraction in (0, 1], got {}", v));
  return v;
}

EfficiencyCurve read_curve(const YamlNode& n, std::initializer_list<std::string_view> extra_keys = {}) {
  std::vector<std::string_view> keys{"eff_max", "s_half"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  n.check_keys(std::span<const std::string_view>(keys));
  EfficiencyCurve c;
  c.max = read_fraction(n.at("eff_max"));
  const auto s_half = n.at("s_half");
  c.s_half = s_half.as_double();
  if (c.s_half < 0) s_half.fail(fmt::format("must be >= 0 tokens, got {}", c.s_half));
  return c;
}

AttentionParams read_attention(const YamlNode& n) {
  n.check_keys({"forward", "partial", "backward"});
  AttentionParams p;
  const auto fwd = n.at("forward");
  if (fwd.size() == 0) fwd.fail("needs at least one head_dim entry");
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < fwd.size(); ++i) {
    const auto row = fwd[i];
    HeadDimCurve h;
    h.forward = read_curve(row, {"head_dim"});
    const auto d = row.at("head_dim");
    h.head_dim = d.as_int(1, 4096);
    if (!seen.insert(h.head_dim).second) d.fail(fmt::format("head_dim {} is listed twice", h.head_dim));
    p.forward.push_back(h);
  }
  std::sort(p.forward.begin(), p.forward.end(),
            [](const HeadDimCurve& a, const HeadDimCurve& b) { return a.head_dim < b.head_dim; });
  p.partial = read_curve(n.at("partial"));
  p.backward = read_curve(n.at("backward"));
  return p;
}

std::string group_name(const AttentionPoint& p) {
  return fmt::format("({}, {}, head_dim {}, causal {})", kPassNames[p.pass == ir::Pass::forward ? 0 : 1],
                     kDTypeNames[static_cast<std::size_t>(p.dtype)], p.head_dim, p.causal);
}

using GroupKey = std::tuple<int, int, std::int64_t, bool>;
GroupKey key_of(const AttentionPoint& p) {
  return {static_cast<int>(p.pass), static_cast<int>(p.dtype), p.head_dim, p.causal};
}

// Position of x among sorted values `v` for log-space interpolation: indices (lo, hi) and the weight of hi.
struct Bracket {
  std::size_t lo = 0, hi = 0;
  double w = 0;
};
Bracket bracket(const std::vector<std::int64_t>& v, std::int64_t x) {
  if (x <= v.front()) return {0, 0, 0};
  if (x >= v.back()) return {v.size() - 1, v.size() - 1, 0};
  const auto it = std::upper_bound(v.begin(), v.end(), x);
  const auto hi = static_cast<std::size_t>(it - v.begin());
  const auto lo = hi - 1;
  const double l0 = std::log(static_cast<double>(v[lo]));
  const double l1 = std::log(static_cast<double>(v[hi]));
  return {lo, hi, (std::log(static_cast<double>(x)) - l0) / (l1 - l0)};
}

}  // namespace

const char* dtype_name(ir::DType t) noexcept { return kDTypeNames[static_cast<std::size_t>(t)].data(); }

EfficiencyCurve AttentionParams::forward_at(std::int64_t d) const {
  if (forward.empty()) return {};
  if (d <= forward.front().head_dim) return forward.front().forward;
  if (d >= forward.back().head_dim) return forward.back().forward;
  std::size_t hi = 1;
  while (forward[hi].head_dim < d) ++hi;
  const auto& a = forward[hi - 1];
  const auto& b = forward[hi];
  const double w = (std::log2(static_cast<double>(d)) - std::log2(static_cast<double>(a.head_dim))) /
                   (std::log2(static_cast<double>(b.head_dim)) - std::log2(static_cast<double>(a.head_dim)));
  return {a.forward.max + w * (b.forward.max - a.forward.max),
          a.forward.s_half + w * (b.forward.s_half - a.forward.s_half)};
}

std::optional<FlopRate> AttentionTable::lookup(ir::Pass pass, ir::DType dtype, std::int64_t head_dim, bool causal,
                                               std::int64_t q_len, std::int64_t kv_len) const {
  std::vector<const AttentionPoint*> group;
  for (const auto& p : points) {
    if (p.pass == pass && p.dtype == dtype && p.head_dim == head_dim && p.causal == causal) group.push_back(&p);
  }
  if (group.empty()) return std::nullopt;
  std::vector<std::int64_t> qs, ks;
  for (const auto* p : group) {
    qs.push_back(p->q_len);
    ks.push_back(p->kv_len);
  }
  for (auto* v : {&qs, &ks}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  const auto at = [&](std::size_t qi, std::size_t ki) {
    for (const auto* p : group) {
      if (p->q_len == qs[qi] && p->kv_len == ks[ki]) return p->rate.value;
    }
    return 0.0;  // unreachable after validate(): every grid cell exists
  };
  const auto bq = bracket(qs, std::max<std::int64_t>(q_len, 1));
  const auto bk = bracket(ks, std::max<std::int64_t>(kv_len, 1));
  const double r0 = at(bq.lo, bk.lo) * (1 - bk.w) + at(bq.lo, bk.hi) * bk.w;
  const double r1 = at(bq.hi, bk.lo) * (1 - bk.w) + at(bq.hi, bk.hi) * bk.w;
  return FlopRate(r0 * (1 - bq.w) + r1 * bq.w);
}

void AttentionTable::validate() const {
  std::map<GroupKey, std::vector<const AttentionPoint*>> groups;
  for (const auto& p : points) groups[key_of(p)].push_back(&p);
  for (const auto& [key, rows] : groups) {
    std::set<std::int64_t> qs, ks;
    std::set<std::pair<std::int64_t, std::int64_t>> cells;
    for (const auto* p : rows) {
      qs.insert(p->q_len);
      ks.insert(p->kv_len);
      if (!cells.insert({p->q_len, p->kv_len}).second) {
        throw InputError(file, p->line, 0, "attention_table",
                         fmt::format("group {} has q_len {} kv_len {} twice", group_name(*p), p->q_len, p->kv_len));
      }
    }
    for (const auto q : qs) {
      for (const auto k : ks) {
        if (cells.count({q, k}) == 0) {
          throw InputError(file, rows.front()->line, 0, "attention_table",
                           fmt::format("group {} lacks the point q_len {} kv_len {}: the rows of a group must form a "
                                       "full grid over its q_len and kv_len values",
                                       group_name(*rows.front()), q, k));
        }
      }
    }
  }
}

FlopRate DeviceSpec::peak_rate(ir::DType t) const {
  require(t, "this workload");
  return *peak[static_cast<std::size_t>(t)];
}

void DeviceSpec::require(ir::DType t, const std::string& what) const {
  if (supports(t)) return;
  throw InputError(file.empty() ? name : file, peak_line, 0, fmt::format("peak_tflops.{}", dtype_name(t)),
                   fmt::format("device '{}' does not support {} ({} needs it)", name, dtype_name(t), what));
}

AttentionTable read_attention_table(const YamlNode& list) {
  AttentionTable t;
  t.file = list.file();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto row = list[i];
    row.check_keys({"pass", "dtype", "head_dim", "causal", "q_len", "kv_len", "tflops"});
    AttentionPoint p;
    p.pass = row.at("pass").as_choice(kPassNames) == 0 ? ir::Pass::forward : ir::Pass::backward;
    p.dtype = static_cast<ir::DType>(row.at("dtype").as_choice(kDTypeNames));
    p.head_dim = row.at("head_dim").as_int(1, 4096);
    p.causal = row.at("causal").as_bool();
    p.q_len = row.at("q_len").as_int(1, std::int64_t{1} << 40);
    p.kv_len = row.at("kv_len").as_int(1, std::int64_t{1} << 40);
    p.rate = tflops(row.at("tflops").as_positive_double());
    p.line = row.line();
    t.points.push_back(p);
  }
  t.validate();
  return t;
}

AttentionTable load_attention_table(const std::string& path, const std::string& expected_device) {
  const auto doc = YamlDocument::load_file(path);
  const auto root = doc.root();
  root.check_keys({"device", "source", "attention_table"});
  const auto dev = root.at("device");
  if (!expected_device.empty() && dev.as_string() != expected_device) {
    dev.fail(fmt::format("profile is for device '{}', not '{}'", dev.as_string(), expected_device));
  }
  if (auto src = root.find("source")) (void)src->as_string();
  return read_attention_table(root.at("attention_table"));
}

namespace {
DeviceSpec read_device(const YamlDocument& doc) {
  const auto root = doc.root();
  root.check_keys({"name", "sm_count", "peak_tflops", "hbm_bandwidth_gbps", "hbm_efficiency", "hbm_capacity_gib",
                   "launch_overhead_us", "gemm_efficiency", "attention", "attention_table"});
  DeviceSpec d;
  d.file = doc.file();
  d.name = root.at("name").as_string();
  d.sm_count = static_cast<std::int32_t>(root.at("sm_count").as_int(1, 100000));
  const auto peak = root.at("peak_tflops");
  peak.check_keys(kDTypeNames);
  d.peak_line = peak.line();
  bool any = false;
  for (std::size_t i = 0; i < kDTypeNames.size(); ++i) {
    if (auto v = peak.find(kDTypeNames[i])) {
      d.peak[i] = tflops(v->as_positive_double());
      any = true;
    }
  }
  if (!any) peak.fail("needs at least one of bf16, fp16, fp32");
  d.hbm_bandwidth = gb_per_s(root.at("hbm_bandwidth_gbps").as_positive_double());
  d.hbm_efficiency = read_fraction(root.at("hbm_efficiency"));
  const auto cap = root.at("hbm_capacity_gib");
  const double gib = cap.as_positive_double();
  if (gib > 1e6) cap.fail(fmt::format("{} GiB is not a plausible GPU memory", gib));
  d.hbm_capacity = Bytes(static_cast<std::int64_t>(std::llround(gib * 1073741824.0)));
  const auto launch = root.at("launch_overhead_us");
  const double us = launch.as_double();
  if (us < 0) launch.fail(fmt::format("must be >= 0, got {}", us));
  d.launch_overhead = microseconds(us);
  d.gemm_efficiency = read_fraction(root.at("gemm_efficiency"));
  d.attention = read_attention(root.at("attention"));
  if (auto table = root.find("attention_table")) {
    d.attention_table = read_attention_table(*table);
  } else {
    d.attention_table.file = d.file;
  }
  return d;
}
}  // namespace

DeviceSpec load_device(const std::string& path) { return read_device(YamlDocument::load_file(path)); }

DeviceSpec load_cluster_device(const topology::Cluster& cluster) {
  const std::string& path = cluster.device_spec();
  if (path.empty()) {
    throw InputError(cluster.source_file().empty() ? cluster.name() : cluster.source_file(), 0, 0, "device",
                     "the topology names no device file");
  }
  try {
    return load_device(path);
  } catch (const InputError& e) {
    // Not opened or not parsed at all: the topology's reference is what to fix (or at least to see).
    if (e.file() != path || e.line() != 0 || !e.field().empty() || cluster.source_file().empty()) throw;
    throw InputError(cluster.source_file(), cluster.device_spec_line(), 0, "device", fmt::format("{}: {}", path, e.reason()));
  }
}

DeviceSpec parse_device(const std::string& text, const std::string& label) {
  return read_device(YamlDocument::parse(text, label));
}

DeviceSpec load_device_profile(const std::string& path, const std::string& expected_device) {
  DeviceSpec spec = load_device(path);
  if (!expected_device.empty() && spec.name != expected_device && spec.name != expected_device + " (calibrated)") {
    YamlDocument::load_file(path).root().at("name").fail(fmt::format(
        "profile is for device '{}', not '{}' (a profile of '{}' is named '{}' or '{} (calibrated)'; recalibrate "
        "with --device-name)",
        spec.name, expected_device, expected_device, expected_device, expected_device));
  }
  return spec;
}


}  // namespace ringlab::models
