#include "ringlab/trace/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

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

namespace {
// The figures every summary ends with: total time, speedup and efficiency, peak memory.
void finish_summary(Summary& s, std::int64_t first_start, std::int64_t last_end, std::int64_t comm,
                    std::int64_t hidden, const SummaryInputs& inputs) {
  s.total_time_s = ps_to_s(last_end - first_start);
  s.overlap_pct = comm > 0 ? 100.0 * static_cast<double>(hidden) / static_cast<double>(comm) : 0.0;
  if (inputs.single_gpu_time && s.total_time_s > 0) {
    s.speedup = to_seconds(*inputs.single_gpu_time) / s.total_time_s;
    if (s.ranks > 0) s.parallel_efficiency = *s.speedup / s.ranks;
  }
  if (inputs.peak_memory) s.peak_memory_bytes = inputs.peak_memory->value;
}

// One rank's phase into the phase's maxima.
void fold_phase(PhaseSummary& p, const detail::RankPhaseStats& st) {
  p.time_s = std::max(p.time_s, ps_to_s(st.end - st.start));
  p.compute_s = std::max(p.compute_s, ps_to_s(st.compute));
  p.comm_s = std::max(p.comm_s, ps_to_s(st.comm));
  p.exposed_comm_s = std::max(p.exposed_comm_s, ps_to_s(st.exposed));
}

void check_rank(std::int32_t rank, std::int32_t ranks) {
  if (rank < 0 || rank >= ranks) throw Error(fmt::format("trace names rank {} but the schedule has {} ranks", rank, ranks));
}
}  // namespace

Summary summarize(const Trace& trace, std::int32_t ranks, const std::string& variant, const SummaryInputs& inputs) {
  for (const auto& r : trace.records) check_rank(r.rank, ranks);
  const auto an = detail::analyse(trace);
  Summary s;
  s.schedule_hash = trace.schedule_hash;
  s.variant = variant;
  s.source = trace.source;
  s.ranks = ranks;
  // by_phase_rank is sorted by phase: one PhaseSummary per run of equal phases.
  for (const auto& [key, st] : an.by_phase_rank) {
    if (s.phases.empty() || s.phases.back().phase != key.first) {
      s.phases.emplace_back();
      s.phases.back().phase = key.first;
    }
    fold_phase(s.phases.back(), st);
  }
  std::int64_t comm = 0;
  std::int64_t hidden = 0;
  for (const auto& [rank, rs] : an.by_rank) {
    comm += rs.comm;
    hidden += rs.hidden;
  }
  finish_summary(s, an.first_start, an.last_end, comm, hidden, inputs);
  return s;
}

struct SummaryBuilder::Impl {
  std::int32_t ranks = 0;
  std::string variant;
  detail::RankAnalyser analyser;
  // Phases below kDense by number (a ring's steps), the rest (a schedule numbering phases sparsely) in
  // a map; `seen` marks the dense ones some rank had.
  static constexpr std::uint32_t kDense = 1U << 20;
  std::vector<PhaseSummary> dense;
  std::vector<bool> seen;
  std::map<std::uint32_t, PhaseSummary> sparse;
  std::int64_t comm = 0;
  std::int64_t hidden = 0;
  std::int64_t first_start = 0;
  std::int64_t last_end = 0;
  bool any = false;

  PhaseSummary& phase(std::uint32_t p) {
    if (p >= kDense) return sparse.try_emplace(p, PhaseSummary{p, 0, 0, 0, 0}).first->second;
    if (p >= dense.size()) {
      dense.resize(std::size_t{p} + 1);
      seen.resize(std::size_t{p} + 1);
    }
    if (!seen[p]) {
      seen[p] = true;
      dense[p].phase = p;
    }
    return dense[p];
  }
};

SummaryBuilder::SummaryBuilder(std::int32_t ranks, std::string variant) : impl_(std::make_unique<Impl>()) {
  impl_->ranks = ranks;
  impl_->variant = std::move(variant);
}

SummaryBuilder::~SummaryBuilder() = default;

void SummaryBuilder::add_rank(std::span<const OpRecord> records) {
  if (records.empty()) return;
  Impl& m = *impl_;
  const std::int32_t rank = records.front().rank;
  check_rank(rank, m.ranks);
  for (const auto& r : records) {
    if (r.rank != rank) throw Error(fmt::format("SummaryBuilder::add_rank: records of ranks {} and {} together", rank, r.rank));
    detail::check_record(r);
    if (!m.any) {
      m.first_start = r.start.value;
      m.last_end = r.end.value;
      m.any = true;
    }
    m.first_start = std::min(m.first_start, r.start.value);
    m.last_end = std::max(m.last_end, r.end.value);
  }
  const detail::RankStats totals = m.analyser.analyse(
      records.size(), [&](std::size_t i) -> const OpRecord& { return records[i]; },
      [&](std::uint32_t p, const detail::RankPhaseStats& st) { fold_phase(m.phase(p), st); });
  m.comm += totals.comm;
  m.hidden += totals.hidden;
}

Summary SummaryBuilder::finish(const std::string& schedule_hash, const std::string& source,
                               const SummaryInputs& inputs) const {
  const Impl& m = *impl_;
  Summary s;
  s.schedule_hash = schedule_hash;
  s.variant = m.variant;
  s.source = source;
  s.ranks = m.ranks;
  for (std::size_t p = 0; p < m.dense.size(); ++p) {
    if (m.seen[p]) s.phases.push_back(m.dense[p]);
  }
  for (const auto& [p, ps] : m.sparse) s.phases.push_back(ps);
  finish_summary(s, m.first_start, m.last_end, m.comm, m.hidden, inputs);
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
