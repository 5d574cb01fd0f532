#include "analysis.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ringlab/core/error.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::trace::detail {

std::vector<Interval> union_of(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::vector<Interval> out;
  for (const auto& iv : intervals) {
    if (iv.second <= iv.first) continue;  // empty intervals do not make anything busy
    if (!out.empty() && iv.first <= out.back().second) {
      out.back().second = std::max(out.back().second, iv.second);
    } else {
      out.push_back(iv);
    }
  }
  return out;
}

std::int64_t measure(const std::vector<Interval>& u) noexcept {
  std::int64_t total = 0;
  for (const auto& iv : u) total += iv.second - iv.first;
  return total;
}

std::int64_t intersection_measure(const std::vector<Interval>& a, const std::vector<Interval>& b) noexcept {
  std::int64_t total = 0;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const std::int64_t lo = std::max(a[i].first, b[j].first);
    const std::int64_t hi = std::min(a[i].second, b[j].second);
    if (hi > lo) total += hi - lo;
    if (a[i].second < b[j].second) {
      ++i;
    } else {
      ++j;
    }
  }
  return total;
}

Analysis analyse(const Trace& trace) {
  Analysis an;
  struct Lists {
    std::vector<Interval> compute;
    std::vector<Interval> comm;
  };
  std::map<std::int32_t, Lists> rank_lists;
  std::map<std::pair<std::uint32_t, std::int32_t>, Lists> phase_lists;
  bool first = true;
  for (const auto& r : trace.records) {
    if (r.end < r.start) {
      throw Error(fmt::format("trace record of rank {} op {} ({}) ends before it starts", r.rank, r.op, r.kind));
    }
    const Interval iv{r.start.value, r.end.value};
    const bool comm = is_comm_kind(r.kind);
    auto& rl = rank_lists[r.rank];
    auto& pl = phase_lists[{r.phase, r.rank}];
    (comm ? rl.comm : rl.compute).push_back(iv);
    (comm ? pl.comm : pl.compute).push_back(iv);
    auto [it, inserted] = an.by_phase_rank.try_emplace({r.phase, r.rank});
    auto& st = it->second;
    if (inserted) {
      st.start = iv.first;
      st.end = iv.second;
    } else {
      st.start = std::min(st.start, iv.first);
      st.end = std::max(st.end, iv.second);
    }
    ++st.ops;
    st.bytes += r.bytes.value;
    st.flops += r.flops.value;
    if (first) {
      an.first_start = iv.first;
      an.last_end = iv.second;
      first = false;
    } else {
      an.first_start = std::min(an.first_start, iv.first);
      an.last_end = std::max(an.last_end, iv.second);
    }
  }
  std::map<std::int32_t, std::vector<Interval>> compute_union;
  for (auto& [rank, lists] : rank_lists) {
    auto cu = union_of(std::move(lists.compute));
    const auto mu = union_of(std::move(lists.comm));
    auto& rs = an.by_rank[rank];
    rs.comm = measure(mu);
    rs.hidden = intersection_measure(mu, cu);
    compute_union[rank] = std::move(cu);
  }
  for (auto& [key, lists] : phase_lists) {
    auto& st = an.by_phase_rank[key];
    const auto cu = union_of(std::move(lists.compute));
    const auto mu = union_of(std::move(lists.comm));
    st.compute = measure(cu);
    st.comm = measure(mu);
    st.exposed = st.comm - intersection_measure(mu, compute_union[key.second]);
  }
  return an;
}

std::string ps_as_us(std::int64_t ps) {
  const bool negative = ps < 0;
  // Work on the magnitude as unsigned so INT64_MIN cannot overflow.
  const std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(ps) : static_cast<std::uint64_t>(ps);
  return fmt::format("{}{}.{:06}", negative ? "-" : "", mag / 1'000'000U, mag % 1'000'000U);
}

}  // namespace ringlab::trace::detail
