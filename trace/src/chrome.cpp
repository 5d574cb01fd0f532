#include "ringlab/trace/chrome.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "analysis.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/trace/json_input.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::trace {

const char* stream_name(ir::Stream stream) noexcept {
  switch (stream) {
    case ir::Stream::compute: return "compute";
    case ir::Stream::comm: return "comm";
    case ir::Stream::compute_aux: return "compute_aux";
    case ir::Stream::comm_aux: return "comm_aux";
  }
  return "unknown";
}

std::string to_chrome_json(const Trace& trace) {
  std::vector<const OpRecord*> sorted;
  sorted.reserve(trace.records.size());
  for (const auto& r : trace.records) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](const OpRecord* a, const OpRecord* b) {
    return std::tie(a->rank, a->start, a->op) < std::tie(b->rank, b->start, b->op);
  });
  std::set<std::int32_t> ranks;
  std::set<std::pair<std::int32_t, int>> threads;
  for (std::int32_t r = 0; r < trace.ranks; ++r) ranks.insert(r);
  for (const auto* r : sorted) {
    ranks.insert(r->rank);
    threads.insert({r->rank, static_cast<int>(r->stream)});
  }

  std::string out = "{\"traceEvents\": [\n";
  bool first = true;
  const auto sep = [&] {
    if (!first) out += ",\n";
    first = false;
  };
  for (const auto rank : ranks) {
    sep();
    out += fmt::format(
        R"({{"name": "process_name", "ph": "M", "pid": {0}, "tid": 0, "args": {{"name": "rank {0}"}}}},)"
        "\n"
        R"({{"name": "process_sort_index", "ph": "M", "pid": {0}, "tid": 0, "args": {{"sort_index": {0}}}}})",
        rank);
  }
  for (const auto& [rank, tid] : threads) {
    sep();
    out += fmt::format(
        R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": {}}}}},)"
        "\n"
        R"({{"name": "thread_sort_index", "ph": "M", "pid": {}, "tid": {}, "args": {{"sort_index": {}}}}})",
        rank, tid, json_quote(stream_name(static_cast<ir::Stream>(tid))), rank, tid, tid);
  }
  for (const auto* r : sorted) {
    sep();
    out += fmt::format(
        R"({{"name": {}, "cat": "{}", "ph": "X", "pid": {}, "tid": {}, "ts": {}, "dur": {}, )"
        R"("args": {{"phase": {}, "op": {}, "bytes": {}, "flops": {}}}}})",
        json_quote(r->kind), is_comm_kind(r->kind) ? "comm" : "compute", r->rank, static_cast<int>(r->stream),
        detail::ps_as_us(r->start.value), detail::ps_as_us(r->end.value - r->start.value), r->phase, r->op,
        r->bytes.value, r->flops.value);
  }
  // Counter tracks live in one extra process after the ranks, so Perfetto draws them under the lanes.
  if (!trace.counters.empty()) {
    const std::int32_t pid = trace.ranks;
    sep();
    out += fmt::format(
        R"({{"name": "process_name", "ph": "M", "pid": {0}, "tid": 0, "args": {{"name": "counters"}}}},)"
        "\n"
        R"({{"name": "process_sort_index", "ph": "M", "pid": {0}, "tid": 0, "args": {{"sort_index": {0}}}}})",
        pid);
    for (const auto& c : trace.counters) {
      sep();
      out += fmt::format(R"({{"name": {}, "ph": "C", "pid": {}, "tid": 0, "ts": {}, "args": {{"value": {}}}}})",
                         json_quote(c.track), pid, detail::ps_as_us(c.time.value), json_number(c.value));
    }
  }
  out += fmt::format("\n], \"displayTimeUnit\": \"ns\", \"otherData\": {{\"schedule_hash\": {}, \"source\": {}, "
                     "\"ranks\": {}}}}}\n",
                     json_quote(trace.schedule_hash), json_quote(trace.source), trace.ranks);
  return out;
}

namespace {

using nlohmann::json;

class Reader {
 public:
  explicit Reader(const std::string& label) : label_(label) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw InputError(label_, 0, 0, field, message);
  }

  const json& member(const json& obj, const std::string& path, const char* key) const {
    if (!obj.is_object()) fail(path, "expected an object");
    const auto it = obj.find(key);
    if (it == obj.end()) fail(path, fmt::format("missing required field '{}'", key));
    return *it;
  }

  std::int64_t integer(const json& obj, const std::string& path, const char* key, std::int64_t lo,
                       std::int64_t hi) const {
    const auto& v = member(obj, path, key);
    const std::string field = path + "." + key;
    if (!v.is_number_integer()) fail(field, fmt::format("expected a whole number, got {}", v.dump()));
    const auto x = v.get<std::int64_t>();
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
      fail(field, fmt::format("{} is outside the allowed range [{}, {}]", v.dump(), lo, hi));
    }
    if (x < lo || x > hi) fail(field, fmt::format("{} is outside the allowed range [{}, {}]", x, lo, hi));
    return x;
  }

  std::int64_t microseconds_as_ps(const json& obj, const std::string& path, const char* key) const {
    const auto& v = member(obj, path, key);
    const std::string field = path + "." + key;
    if (!v.is_number()) fail(field, fmt::format("expected a number of microseconds, got {}", v.dump()));
    const double ps = std::round(v.get<double>() * 1e6);
    // 9.2e18 ps is the int64 limit; refuse anything near it rather than overflow.
    if (!std::isfinite(ps) || std::abs(ps) > 9e18) fail(field, "time out of range");
    return static_cast<std::int64_t>(ps);
  }

  std::string string(const json& obj, const std::string& path, const char* key) const {
    const auto& v = member(obj, path, key);
    if (!v.is_string()) fail(path + "." + key, fmt::format("expected a string, got {}", v.dump()));
    return v.get<std::string>();
  }

 private:
  const std::string& label_;
};

}  // namespace

Trace from_chrome_json(std::string_view text, const std::string& label) {
  return from_chrome_document(parse_json_input(text, label), label);
}

Trace from_chrome_document(const json& doc, const std::string& label) {
  const Reader rd(label);
  Trace t;
  const auto& other = rd.member(doc, "", "otherData");
  t.schedule_hash = rd.string(other, "otherData", "schedule_hash");
  t.source = rd.string(other, "otherData", "source");
  t.ranks = static_cast<std::int32_t>(rd.integer(other, "otherData", "ranks", 0, std::numeric_limits<std::int32_t>::max()));
  const auto& events = rd.member(doc, "", "traceEvents");
  if (!events.is_array()) rd.fail("traceEvents", "expected a list of events");
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& ev = events[i];
    const std::string path = fmt::format("traceEvents[{}]", i);
    const auto ph = rd.string(ev, path, "ph");
    if (ph == "C") {  // a counter sample (the simulator's link utilisation)
      const auto& args = rd.member(ev, path, "args");
      const auto& value = rd.member(args, path + ".args", "value");
      if (!value.is_number()) rd.fail(path + ".args.value", "expected a number");
      t.counters.push_back({rd.string(ev, path, "name"), Time(rd.microseconds_as_ps(ev, path, "ts")),
                            value.get<double>()});
      continue;
    }
    if (ph != "X") continue;  // metadata and foreign events are not op records
    OpRecord r;
    r.kind = rd.string(ev, path, "name");
    r.rank = static_cast<std::int32_t>(rd.integer(ev, path, "pid", 0, t.ranks > 0 ? t.ranks - 1 : 0));
    r.stream = static_cast<ir::Stream>(rd.integer(ev, path, "tid", 0, static_cast<int>(ir::Stream::comm_aux)));
    r.start = Time(rd.microseconds_as_ps(ev, path, "ts"));
    const auto dur = rd.microseconds_as_ps(ev, path, "dur");
    if (dur < 0) rd.fail(path + ".dur", "negative duration");
    r.end = r.start + Time(dur);
    const auto& args = rd.member(ev, path, "args");
    const std::string apath = path + ".args";
    r.phase = static_cast<std::uint32_t>(rd.integer(args, apath, "phase", 0, std::numeric_limits<std::uint32_t>::max()));
    r.op = static_cast<ir::OpId>(rd.integer(args, apath, "op", 0, std::numeric_limits<std::uint32_t>::max()));
    const auto i64max = std::numeric_limits<std::int64_t>::max();
    r.bytes = Bytes(args.contains("bytes") ? rd.integer(args, apath, "bytes", 0, i64max) : 0);
    r.flops = Flops(args.contains("flops") ? rd.integer(args, apath, "flops", 0, i64max) : 0);
    t.records.push_back(std::move(r));
  }
  return t;
}

void write_chrome_trace(const std::string& path, const Trace& trace) {
  write_file_atomic(path, to_chrome_json(trace));
}

Trace read_chrome_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, 0, "", "cannot open the trace file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_chrome_json(ss.str(), path);
}

}  // namespace ringlab::trace
