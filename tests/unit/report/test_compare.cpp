// compare on a synthetic pair of traces whose errors are known by construction.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "ringlab/core/error.hpp"
#include "ringlab/report/compare.hpp"
#include "ringlab/trace/chrome.hpp"

using namespace ringlab;

namespace {
/// Two ranks, two phases; phase p's attend on each rank lasts `attend_us[p]`, a send/recv beside it 1 us.
trace::Trace make(const std::string& hash, double scale) {
  trace::Trace t;
  t.schedule_hash = hash;
  t.source = scale == 1.0 ? "sim" : "cpu";
  t.ranks = 2;
  const double attend_us[2] = {10.0, 20.0};
  for (std::int32_t r = 0; r < 2; ++r) {
    Time at = microseconds(0);
    for (std::uint32_t p = 0; p < 2; ++p) {
      const Time len = microseconds(attend_us[p] * scale);
      t.records.push_back({r, 3 * p, p, ir::Stream::compute, "attend", at, at + len, Bytes{0}, Flops{100}});
      t.records.push_back({r, 3 * p + 1, p, ir::Stream::comm, "send", at, at + microseconds(1), Bytes{64}, Flops{0}});
      t.records.push_back({r, 3 * p + 2, p, ir::Stream::comm, "recv", at, at + microseconds(1), Bytes{64}, Flops{0}});
      at += len;
    }
  }
  return t;
}

std::string write(const std::string& name, const trace::Trace& t) {
  const auto dir = std::filesystem::temp_directory_path() / "ringlab_test_compare";
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  trace::write_chrome_trace(path, t);
  return path;
}
}  // namespace

TEST_CASE("compare: errors per phase, per kind, MAPE and worst phase") {
  // Measured runs 25% slower in every attend: predicted/measured - 1 = 1/1.25 - 1 = -20% per phase.
  const auto pred = report::load_measurement(write("pred.json", make("abc", 1.0)));
  const auto meas = report::load_measurement(write("meas.json", make("abc", 1.25)));
  const auto c = report::compare(pred, meas);
  REQUIRE(c.phases.size() == 2);
  CHECK(c.phases[0].predicted == doctest::Approx(10e-6));
  CHECK(c.phases[0].measured == doctest::Approx(12.5e-6));
  CHECK(*c.phases[0].error_pct == doctest::Approx(-20.0));
  CHECK(*c.phases[1].error_pct == doctest::Approx(-20.0));
  CHECK(c.mape_pct == doctest::Approx(20.0));
  CHECK(*c.total.error_pct == doctest::Approx(-20.0));  // 30 us vs 37.5 us
  // Kinds: attend mean 15 us vs 18.75 us (-20%); send and recv equal (0%).
  REQUIRE(c.kinds.size() == 3);
  CHECK(c.kinds[0].name == "attend");
  CHECK(*c.kinds[0].error_pct == doctest::Approx(-20.0));
  CHECK(*c.kinds[1].error_pct == doctest::Approx(0.0));
  CHECK(c.worst_phase == "phase 0");
  CHECK(report::to_table(c).find("MAPE over phases   20.0%") != std::string::npos);
  CHECK(report::to_json(c).find("\"mape_pct\": 20.0") != std::string::npos);
}

TEST_CASE("compare: different schedules are refused") {
  const auto pred = report::load_measurement(write("a.json", make("aaaa", 1.0)));
  const auto meas = report::load_measurement(write("b.json", make("bbbb", 1.0)));
  CHECK_THROWS_WITH_AS((void)report::compare(pred, meas), doctest::Contains("refusing to compare different schedules"),
                       InputError);
}

TEST_CASE("compare: summaries work too, and bad files are named") {
  const auto dir = std::filesystem::temp_directory_path() / "ringlab_test_compare";
  std::filesystem::create_directories(dir);
  const auto s1 = (dir / "s1.json").string();
  const auto s2 = (dir / "s2.json").string();
  std::ofstream(s1) << R"({"schedule_hash": "h", "total_time_s": 2.0, "phases": [{"phase": 0, "time_s": 2.0,
    "compute_s": 1.0, "comm_s": 1.0, "exposed_comm_s": 0.0}]})";
  std::ofstream(s2) << R"({"schedule_hash": "h", "total_time_s": 4.0, "phases": [{"phase": 0, "time_s": 4.0,
    "compute_s": 1.0, "comm_s": 1.0, "exposed_comm_s": 0.0}]})";
  const auto c = report::compare(report::load_measurement(s1), report::load_measurement(s2));
  CHECK(*c.total.error_pct == doctest::Approx(-50.0));
  CHECK(c.kinds.empty());
  const auto bad = (dir / "bad.json").string();
  std::ofstream(bad) << R"({"schedule_hash": "h", "total_time_s": "slow", "phases": []})";
  CHECK_THROWS_WITH_AS((void)report::load_measurement(bad), doctest::Contains("field 'total_time_s': has the wrong type"),
                       InputError);
  CHECK_THROWS_WITH_AS((void)report::load_measurement((dir / "missing.json").string()),
                       doctest::Contains("cannot open file"), InputError);
  std::ofstream(bad) << "[1, 2]";
  CHECK_THROWS_WITH_AS((void)report::load_measurement(bad), doctest::Contains("neither a ringlab trace"), InputError);
}
