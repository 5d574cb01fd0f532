#include "ringlab/report/compare.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ringlab/core/error.hpp"
#include "ringlab/trace/chrome.hpp"
#include "ringlab/trace/json_input.hpp"

namespace ringlab::report {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, 0, "", "cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& file, const std::string& where) {
  const auto path = where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
  if (!j.is_object() || !j.contains(key)) throw InputError(file, 0, 0, path, "missing");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(file, 0, 0, path, "has the wrong type");
  }
}

Measurement from_trace(trace::Trace t, const std::string& path) {
  Measurement m;
  m.file = path;
  m.schedule_hash = t.schedule_hash;
  m.source = t.source;
  const auto s = trace::summarize(t, t.ranks, "");
  m.total_time_s = s.total_time_s;
  m.phases = s.phases;
  std::map<std::string, std::pair<double, int>> sums;
  for (const auto& r : t.records) {
    auto& [sum, n] = sums[r.kind];
    sum += to_seconds(r.end - r.start);
    ++n;
  }
  for (const auto& [kind, sn] : sums) m.kind_mean_s[kind] = sn.first / sn.second;
  m.trace = std::move(t);
  return m;
}

Measurement from_summary(const nlohmann::json& j, const std::string& path) {
  Measurement m;
  m.file = path;
  m.schedule_hash = field<std::string>(j, "schedule_hash", path, "");
  if (j.contains("source") && j["source"].is_string()) m.source = j["source"].get<std::string>();
  m.total_time_s = field<double>(j, "total_time_s", path, "");
  const auto phases = j.at("phases");
  if (!phases.is_array()) throw InputError(path, 0, 0, "phases", "must be a list");
  for (std::size_t i = 0; i < phases.size(); ++i) {
    const auto where = fmt::format("phases[{}]", i);
    trace::PhaseSummary p;
    p.phase = field<std::uint32_t>(phases[i], "phase", path, where);
    p.time_s = field<double>(phases[i], "time_s", path, where);
    p.compute_s = field<double>(phases[i], "compute_s", path, where);
    p.comm_s = field<double>(phases[i], "comm_s", path, where);
    p.exposed_comm_s = field<double>(phases[i], "exposed_comm_s", path, where);
    m.phases.push_back(p);
  }
  return m;
}

Row row(std::string name, double predicted, double measured) {
  Row r{std::move(name), predicted, measured, std::nullopt};
  if (measured != 0) r.error_pct = 100.0 * (predicted - measured) / measured;
  return r;
}

std::string pct(const std::optional<double>& e) { return e ? fmt::format("{:+.1f}%", *e) : "n/a"; }

std::string seconds_text(double s) {
  if (std::fabs(s) >= 1) return fmt::format("{:.3f} s", s);
  if (std::fabs(s) >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.3f} us", s * 1e6);
}

}  // namespace

Measurement load_measurement(const std::string& path) {
  const auto text = read_text(path);
  const nlohmann::json j = trace::parse_json_input(text, path);
  if (j.is_object() && j.contains("traceEvents")) return from_trace(trace::from_chrome_document(j, path), path);
  if (j.is_object() && j.contains("schedule_hash") && j.contains("phases")) return from_summary(j, path);
  throw InputError(path, 0, 0, "", "neither a ringlab trace (traceEvents) nor a summary (schedule_hash, phases)");
}

Comparison compare(const Measurement& predicted, const Measurement& measured) {
  if (predicted.schedule_hash != measured.schedule_hash) {
    // Mismatched inputs are the user's to fix: an InputError (exit 2) naming the second file.
    throw InputError(measured.file, 0, 0, "schedule_hash",
                     fmt::format("{} ran schedule {} but this file ran schedule {}: refusing to compare different "
                                 "schedules",
                                 predicted.file, predicted.schedule_hash, measured.schedule_hash));
  }
  Comparison c;
  c.schedule_hash = predicted.schedule_hash;
  c.predicted_file = predicted.file;
  c.measured_file = measured.file;
  c.total = row("total", predicted.total_time_s, measured.total_time_s);
  if (predicted.phases.size() != measured.phases.size())
    throw Error(fmt::format("{} has {} phases but {} has {}", predicted.file, predicted.phases.size(), measured.file,
                            measured.phases.size()));
  double sum = 0;
  int n = 0;
  for (std::size_t i = 0; i < predicted.phases.size(); ++i) {
    const auto& p = predicted.phases[i];
    const auto& m = measured.phases[i];
    if (p.phase != m.phase)
      throw Error(fmt::format("phase lists differ: {} has phase {} where {} has phase {}", predicted.file, p.phase,
                              measured.file, m.phase));
    c.phases.push_back(row(fmt::format("phase {}", p.phase), p.time_s, m.time_s));
    if (const auto& e = c.phases.back().error_pct) {
      sum += std::fabs(*e);
      ++n;
      if (c.worst_phase.empty() || std::fabs(*e) > std::fabs(c.worst_error_pct)) {
        c.worst_phase = c.phases.back().name;
        c.worst_error_pct = *e;
      }
    }
  }
  c.mape_pct = n > 0 ? sum / n : 0;
  for (const auto& [kind, mean] : predicted.kind_mean_s) {
    const auto it = measured.kind_mean_s.find(kind);
    if (it != measured.kind_mean_s.end()) c.kinds.push_back(row(kind, mean, it->second));
  }
  return c;
}

std::string to_table(const Comparison& c) {
  std::string out = fmt::format("schedule {}\npredicted {}\nmeasured  {}\n\n", c.schedule_hash, c.predicted_file,
                                c.measured_file);
  out += fmt::format("{:<18} {:>14} {:>14} {:>9}\n", "", "predicted", "measured", "error");
  for (const auto& r : c.phases)
    out += fmt::format("{:<18} {:>14} {:>14} {:>9}\n", r.name, seconds_text(r.predicted), seconds_text(r.measured),
                       pct(r.error_pct));
  if (!c.kinds.empty()) out += "\nmean op time by kind\n";
  for (const auto& r : c.kinds)
    out += fmt::format("{:<18} {:>14} {:>14} {:>9}\n", r.name, seconds_text(r.predicted), seconds_text(r.measured),
                       pct(r.error_pct));
  out += fmt::format("\n{:<18} {:>14} {:>14} {:>9}\n", "total", seconds_text(c.total.predicted),
                     seconds_text(c.total.measured), pct(c.total.error_pct));
  out += fmt::format("MAPE over phases   {:.1f}%\n", c.mape_pct);
  if (!c.worst_phase.empty()) out += fmt::format("worst phase        {} ({:+.1f}%)\n", c.worst_phase, c.worst_error_pct);
  return out;
}

std::string to_json(const Comparison& c) {
  auto rows = [](const std::vector<Row>& rs) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& r : rs) {
      nlohmann::ordered_json o;
      o["name"] = r.name;
      o["predicted_s"] = r.predicted;
      o["measured_s"] = r.measured;
      o["error_pct"] = r.error_pct ? nlohmann::ordered_json(*r.error_pct) : nlohmann::ordered_json(nullptr);
      a.push_back(o);
    }
    return a;
  };
  nlohmann::ordered_json j;
  j["schedule_hash"] = c.schedule_hash;
  j["predicted"] = c.predicted_file;
  j["measured"] = c.measured_file;
  j["total"] = rows({c.total})[0];
  j["phases"] = rows(c.phases);
  j["kinds"] = rows(c.kinds);
  j["mape_pct"] = c.mape_pct;
  j["worst_phase"] = c.worst_phase;
  j["worst_error_pct"] = c.worst_error_pct;
  return j.dump(2) + "\n";
}

}  // namespace ringlab::report
