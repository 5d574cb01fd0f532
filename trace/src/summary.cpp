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
  // RankStream's scratch, shared by the ranks (so it stays in cache).
  std::vector<detail::Interval> comm_scratch, compute_scratch, phase_scratch;
  std::vector<std::uint32_t> order_scratch;

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

void RankStream::add(std::uint32_t phase, bool comm, Time start, Time end) {
  const std::int64_t a = start.value;
  const std::int64_t b = end.value;
  if (b < a) throw Error(fmt::format("rank {} phase {}: an op ends ({} ps) before it starts ({} ps)", rank_, phase, b, a));
  if (a < promised_) {
    throw Error(fmt::format("rank {} phase {}: a record starting at {} ps came after the watermark {} ps", rank_, phase, a,
                            promised_));
  }
  if (!any_) {
    first_start_ = a;
    last_end_ = b;
    any_ = true;
  }
  first_start_ = std::min(first_start_, a);
  last_end_ = std::max(last_end_, b);
  records_.push_back(Record{a, b, phase, comm, false});
  ++fresh_;
}

void RankStream::settle(Time watermark, std::uint32_t closed_below, SummaryBuilder& into) {
  if (watermark.value < promised_) {
    throw Error(fmt::format("rank {}: watermark {} ps is before the last one, {} ps", rank_, watermark.value, promised_));
  }
  promised_ = watermark.value;
  if (fresh_ >= batch_) settle_to(watermark.value, false, closed_below, into);
}

void RankStream::finish(SummaryBuilder& into) {
  settle_to(std::numeric_limits<std::int64_t>::max(), true, 0, into);
  records_.clear();
  if (!any_) return;
  SummaryBuilder::Impl& m = *into.impl_;
  check_rank(rank_, m.ranks);
  if (!m.any) {
    m.first_start = first_start_;
    m.last_end = last_end_;
    m.any = true;
  }
  m.first_start = std::min(m.first_start, first_start_);
  m.last_end = std::max(m.last_end, last_end_);
  m.comm += comm_total_;
  m.hidden += hidden_;
  any_ = false;
  comm_total_ = hidden_ = 0;
}

// Union and overlap lengths split exactly at any instant w: what lies before w is folded now, and no
// record to come (they start at w or later) can add to it. A phase is folded once no record of it is
// to come and its communication is over by w: every compute interval that can cover it is known.
void RankStream::settle_to(std::int64_t w, bool all, std::uint32_t closed_below, SummaryBuilder& into) {
  fresh_ = 0;
  SummaryBuilder::Impl& m = *into.impl_;
  auto& comm = m.comm_scratch;
  auto& compute = m.compute_scratch;
  comm.clear();
  compute.clear();
  // The totals over [folded_to_, w); the rank's compute, for them and for the phases' exposure.
  for (const Record& r : records_) {
    if (r.comm) {
      const std::int64_t a = std::max(r.start, folded_to_);
      const std::int64_t b = std::min(r.end, w);
      if (a < b) comm.emplace_back(a, b);
    } else {
      compute.emplace_back(r.start, r.end);
    }
  }
  merge_intervals(comm);
  merge_intervals(compute);
  std::size_t hint = 0;
  comm_total_ += interval_length(comm);
  hidden_ += overlap_length(comm, compute, hint);
  folded_to_ = w;
  // The records of phases not folded yet, by phase (they mostly come in phase order already).
  auto& order = m.order_scratch;
  order.clear();
  for (std::uint32_t i = 0; i < records_.size(); ++i) {
    if (!records_[i].folded) order.push_back(i);
  }
  const auto by_phase = [&](std::uint32_t x, std::uint32_t y) { return records_[x].phase < records_[y].phase; };
  if (!std::is_sorted(order.begin(), order.end(), by_phase)) std::stable_sort(order.begin(), order.end(), by_phase);
  // Compute intervals ending before both w and every unfolded phase's first comm start cover nothing
  // that is still to be counted.
  std::int64_t need = w;
  auto& phase_comm = m.comm_scratch;  // the totals are done with it
  auto& phase_compute = m.phase_scratch;
  std::size_t phase_hint = 0;  // phases in order: their comm comes later and later in `compute`
  for (std::size_t a = 0; a < order.size();) {
    const std::uint32_t phase = records_[order[a]].phase;
    std::size_t b = a;
    bool final = all || phase < closed_below;
    for (; b < order.size() && records_[order[b]].phase == phase; ++b) {
      const Record& r = records_[order[b]];
      if (r.comm && r.end > w) final = false;
    }
    if (!final) {
      for (std::size_t k = a; k < b; ++k) {
        const Record& r = records_[order[k]];
        if (r.comm) need = std::min(need, r.start);
      }
      a = b;
      continue;
    }
    check_rank(rank_, m.ranks);
    detail::RankPhaseStats st;
    st.start = records_[order[a]].start;
    st.end = records_[order[a]].end;
    phase_comm.clear();
    phase_compute.clear();
    for (std::size_t k = a; k < b; ++k) {
      Record& r = records_[order[k]];
      st.start = std::min(st.start, r.start);
      st.end = std::max(st.end, r.end);
      (r.comm ? phase_comm : phase_compute).emplace_back(r.start, r.end);
      r.folded = true;
    }
    phase_busy(st, phase_compute, phase_comm, compute, phase_hint);
    fold_phase(m.phase(phase), st);
    a = b;
  }
  // Forget the folded records that count nowhere any more: communication over by w, compute over
  // before `need`.
  std::erase_if(records_, [&](const Record& r) { return r.folded && r.end <= (r.comm ? w : need); });
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
