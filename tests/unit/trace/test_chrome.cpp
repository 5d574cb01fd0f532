#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unistd.h>

#include "hand_trace.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/trace/chrome.hpp"
#include "ringlab/trace/json_input.hpp"

using namespace ringlab;
using namespace ringlab::trace;

namespace {
std::vector<OpRecord> sorted(std::vector<OpRecord> v) {
  std::sort(v.begin(), v.end(), [](const OpRecord& a, const OpRecord& b) {
    return std::tie(a.rank, a.op) < std::tie(b.rank, b.op);
  });
  return v;
}
}  // namespace

TEST_CASE("chrome: complete events with pid = rank, tid = stream, metadata and the schedule hash") {
  const auto text = to_chrome_json(test::hand_trace());
  const auto doc = nlohmann::json::parse(text);
  CHECK(doc["otherData"]["schedule_hash"] == "abc123");
  CHECK(doc["otherData"]["source"] == "cpu");
  CHECK(doc["otherData"]["ranks"] == 2);
  int complete = 0;
  std::set<std::string> process_names;
  std::set<std::string> thread_names;
  for (const auto& ev : doc["traceEvents"]) {
    if (ev["ph"] == "X") {
      ++complete;
      if (ev["pid"] == 1 && ev["args"]["op"] == 3) {
        CHECK(ev["name"] == "send");
        CHECK(ev["cat"] == "comm");
        CHECK(ev["tid"] == 1);
        CHECK(ev["ts"].get<double>() == 25.0);
        CHECK(ev["dur"].get<double>() == 10.0);
        CHECK(ev["args"]["phase"] == 1);
        CHECK(ev["args"]["bytes"] == 4096);
      }
    } else if (ev["ph"] == "M" && ev["name"] == "process_name") {
      process_names.insert(ev["args"]["name"].get<std::string>());
    } else if (ev["ph"] == "M" && ev["name"] == "thread_name") {
      thread_names.insert(ev["args"]["name"].get<std::string>());
    }
  }
  CHECK(complete == 9);
  CHECK(process_names == std::set<std::string>{"rank 0", "rank 1"});
  CHECK(thread_names == std::set<std::string>{"compute", "comm"});
}

TEST_CASE("chrome: write then read gives the same records, to the picosecond") {
  auto t = test::hand_trace();
  t.records[0].start = Time(123'456'789'012'345);  // 123 s and change, odd picoseconds
  t.records[0].end = Time(123'456'789'999'999);
  const auto back = from_chrome_json(to_chrome_json(t), "mem");
  CHECK(back.schedule_hash == t.schedule_hash);
  CHECK(back.source == t.source);
  CHECK(back.ranks == t.ranks);
  CHECK(sorted(back.records) == sorted(t.records));

  const auto dir = std::filesystem::temp_directory_path() / ("ringlab_trace_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "t.json").string();
  write_chrome_trace(path, t);
  CHECK(sorted(read_chrome_trace(path).records) == sorted(t.records));
  std::filesystem::remove_all(dir);
}

TEST_CASE("chrome: counter tracks are 'C' events of one extra process and read back exactly") {
  auto t = test::hand_trace();
  t.counters = {{"link 0 a -> b (GB/s)", Time(1'000'000), 373.5}, {"link 0 a -> b (GB/s)", Time(2'500'000), 0.0}};
  const auto text = to_chrome_json(t);
  const auto doc = nlohmann::json::parse(text);
  int counters = 0;
  for (const auto& ev : doc["traceEvents"]) {
    if (ev["ph"] != "C") continue;
    ++counters;
    CHECK(ev["pid"] == t.ranks);  // after the ranks' processes
  }
  CHECK(counters == 2);
  const auto back = from_chrome_json(text, "mem");
  CHECK(back.counters == t.counters);
  CHECK(sorted(back.records) == sorted(t.records));
}

TEST_CASE("chrome: bad files are input errors naming the event and field") {
  CHECK_THROWS_WITH_AS((void)from_chrome_json("{", "x.json"), doctest::Contains("x.json:1:2: not valid JSON"),
                       InputError);
  CHECK_THROWS_WITH_AS((void)from_chrome_json(R"({"traceEvents": []})", "x.json"),
                       doctest::Contains("missing required field 'otherData'"), InputError);
  const std::string head = R"({"otherData": {"schedule_hash": "h", "source": "sim", "ranks": 2}, "traceEvents": [)";
  CHECK_THROWS_WITH_AS(
      (void)from_chrome_json(head + R"({"ph": "X", "name": "attend", "pid": 0, "tid": 0, "ts": 1, "dur": 2, "args": {"op": 1}}]})", "x.json"),
      doctest::Contains("field 'traceEvents[0].args': missing required field 'phase'"), InputError);
  CHECK_THROWS_WITH_AS(
      (void)from_chrome_json(head + R"({"ph": "X", "name": "attend", "pid": 5, "tid": 0, "ts": 1, "dur": 2, "args": {"op": 1, "phase": 0}}]})", "x.json"),
      doctest::Contains("traceEvents[0].pid"), InputError);
  CHECK_THROWS_AS((void)read_chrome_trace("/nonexistent/t.json"), InputError);
}

TEST_CASE("json input: a key twice in one object is an error at the second copy, with its path") {
  // nlohmann alone keeps one copy silently: what this reader exists to refuse.
  CHECK(nlohmann::json::parse(R"({"a": 1, "a": 2})").size() == 1);
  auto error = [](const std::string& text) -> std::string {
    try {
      (void)parse_json_input(text, "t.json");
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(error(R"({"a": 1, "a": 2})") == "t.json:1:10: field 'a': key 'a' appears twice in this object "
                                       "(JSON readers keep one copy silently)");
  // Nested in a list: the path has the element's index; the line and column are the second copy's.
  const std::string trace = "{\"traceEvents\": [\n"
                            "  {\"ph\": \"X\", \"args\": {\"phase\": 0}},\n"
                            "  {\"ph\": \"X\", \"args\": {\"phase\": 0, \"op\": 1,\n"
                            "            \"phase\": 3}}\n"
                            "]}";
  CHECK(error(trace).starts_with("t.json:4:13: field 'traceEvents[1].args.phase': key 'phase' appears twice"));
  // Keys that only look alike: escapes, another object's key, a string value equal to a key.
  CHECK(error(R"({"a": {"b": 1}, "b": {"a": "a"}, "c\"": ["a", {"a": 1}], "c": 2})") == "no error");
  CHECK(error(R"([{"x": 1}, {"x": 2}, [{"y": [1, {"y": 0, "z": 1, "y": 2}]}]])")
            .starts_with("t.json:1:50: field '[2][0].y[1].y'"));
  // The whole document is still parsed as before.
  const auto doc = parse_json_input(R"({"a": [1, 2.5, "s", null, true], "b": {"c": {}}})", "t.json");
  CHECK(doc["a"][1].get<double>() == 2.5);
  CHECK(doc["b"]["c"].empty());
}

TEST_CASE("json input: invalid JSON names the line and column where the parser stopped") {
  try {
    (void)parse_json_input("{\n  \"a\": 1,\n  \"b\": ]\n}", "t.json");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.line() == 3);
    CHECK(std::string(e.what()).starts_with("t.json:3:8: not valid JSON"));
  }
}

TEST_CASE("chrome: a trace that repeats a field of an event is refused, not read with one copy") {
  const std::string head = R"({"otherData": {"schedule_hash": "h", "source": "sim", "ranks": 1}, "traceEvents": [)";
  CHECK_THROWS_WITH_AS(
      (void)from_chrome_json(head + R"({"ph": "X", "name": "attend", "pid": 0, "tid": 0, "ts": 1, "dur": 2, "dur": 9, "args": {"op": 0, "phase": 0}}]})", "x.json"),
      doctest::Contains("field 'traceEvents[0].dur': key 'dur' appears twice"), InputError);
}
