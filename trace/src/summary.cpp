#include "ringlab/trace/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "analysis.hpp"
#include "ringlab/core/error.hpp"

namespace ringlab::trace {

bool is_comm_kind(std::string_view kind) noexcept { return kind == "send" || kind == "recv"; }

namespace {
double ps_to_s(std::int64_t ps) { return to_seconds(Time(ps)); }
}  // namespace

Summary summarize(const Trace& trace, const ir::Schedule& schedule, const SummaryInputs& inputs) {
  return summarize(trace, static_cast<std::int32_t>(schedule.ranks.size()), schedule.variant, inputs);
}

Summary summarize(const Trace& trace, std::int32_t ranks, const std::string& variant, const SummaryInputs& inputs) {
  for (const auto& r : trace.records) {
    if (r.rank < 0 || r.rank >= ranks) {
      throw Error(fmt::format("trace names rank {} but the schedule has {} ranks", r.rank, ranks));
    }
  }
  const auto an = detail::analyse(trace);
  Summary s;
  s.schedule_hash = trace.schedule_hash;
  s.variant = variant;
  s.source = trace.source;
  s.ranks = ranks;
  s.total_time_s = ps_to_s(an.last_end - an.first_start);

  // by_phase_rank is sorted by phase: one PhaseSummary per run of equal phases.
  for (const auto& [key, st] : an.by_phase_rank) {
    if (s.phases.empty() || s.phases.back().phase != key.first) {
      s.phases.emplace_back();
      s.phases.back().phase = key.first;
    }
    auto& p = s.phases.back();
    p.time_s = std::max(p.time_s, ps_to_s(st.end - st.start));
    p.compute_s = std::max(p.compute_s, ps_to_s(st.compute));
    p.comm_s = std::max(p.comm_s, ps_to_s(st.comm));
    p.exposed_comm_s = std::max(p.exposed_comm_s, ps_to_s(st.exposed));
  }

  std::int64_t comm = 0;
  std::int64_t hidden = 0;
  for (const auto& [rank, rs] : an.by_rank) {
    comm += rs.comm;
    hidden += rs.hidden;
  }
  s.overlap_pct = comm > 0 ? 100.0 * static_cast<double>(hidden) / static_cast<double>(comm) : 0.0;

  if (inputs.single_gpu_time && s.total_time_s > 0) {
    s.speedup = to_seconds(*inputs.single_gpu_time) / s.total_time_s;
    if (ranks > 0) s.parallel_efficiency = *s.speedup / ranks;
  }
  if (inputs.peak_memory) s.peak_memory_bytes = inputs.peak_memory->value;
  return s;
}

std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  if (v == 0) return "0";  // also folds -0
  return fmt::format("{}", v);  // shortest representation that reads back exactly
}

namespace {
template <class T, class F>
std::string optional_json(const std::optional<T>& v, F&& f) {
  return v ? f(*v) : std::string("null");
}
}  // namespace

std::string to_json(const Summary& s) {
  std::string out = "{";
  out += fmt::format("\"schedule_hash\": {}, ", json_quote(s.schedule_hash));
  out += fmt::format("\"variant\": {}, ", json_quote(s.variant));
  out += fmt::format("\"source\": {}, ", json_quote(s.source));
  out += fmt::format("\"ranks\": {}, ", s.ranks);
  out += fmt::format("\"total_time_s\": {}, ", json_number(s.total_time_s));
  out += "\"phases\": [";
  for (std::size_t i = 0; i < s.phases.size(); ++i) {
    const auto& p = s.phases[i];
    if (i > 0) out += ", ";
    out += fmt::format(
        "{{\"phase\": {}, \"time_s\": {}, \"compute_s\": {}, \"comm_s\": {}, \"exposed_comm_s\": {}}}", p.phase,
        json_number(p.time_s), json_number(p.compute_s), json_number(p.comm_s), json_number(p.exposed_comm_s));
  }
  out += "], ";
  out += fmt::format("\"speedup\": {}, ", optional_json(s.speedup, json_number));
  out += fmt::format("\"parallel_efficiency\": {}, ", optional_json(s.parallel_efficiency, json_number));
  out += fmt::format("\"overlap_pct\": {}, ", json_number(s.overlap_pct));
  out += fmt::format("\"peak_memory_bytes\": {}",
                     optional_json(s.peak_memory_bytes, [](std::int64_t b) { return fmt::format("{}", b); }));
  for (const auto& [key, value] : s.extra) out += fmt::format(", {}: {}", json_quote(key), value);
  out += "}";
  return out;
}

}  // namespace ringlab::trace
