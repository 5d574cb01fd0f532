// Experiment files: every bad input names file, line and field.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/experiment.hpp"

using namespace ringlab;
using namespace ringlab::ir;

namespace {
const char* kGood = R"(name: t
topology: exp.yaml
workload: {batch: 1, seq_len: 4096, q_heads: 32, kv_heads: 8, head_dim: 128,
           dtype: bf16, causal: true, pass: forward}
schedule: {variant: ring, ranks: 8, options: {}}
placement: block
)";

std::string write(const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "ringlab_test_experiment";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "exp.yaml").string();
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  const auto path = write(text);
  try {
    (void)load_experiment(path, overrides);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    // Strip the temp folder so expectations read well.
    const auto pos = msg.find("exp.yaml");
    return pos == std::string::npos ? msg : msg.substr(pos);
  }
  return "no error";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}
}  // namespace

TEST_CASE("a good experiment loads, and --set overrides it") {
  const auto e = load_experiment(write(kGood));
  CHECK(e.name == "t");
  CHECK(e.workload.seq_len == 4096);
  CHECK(e.workload.kv_heads == 8);
  CHECK(e.schedule.ranks == 8);
  CHECK(e.placement.kind == PlacementSpec::Kind::block);
  // Lines of fields, for errors found later (placement against the topology, run's limits).
  CHECK(e.line_of("placement") == 6);
  CHECK(e.line_of("workload.seq_len") == 3);
  CHECK(e.line_of("schedule.ranks") == 5);
  CHECK(e.line_of("workload.window") == 0);  // absent
  const auto f = load_experiment(write(kGood), {"schedule.ranks=4", "workload.causal=false"});
  CHECK(f.schedule.ranks == 4);
  CHECK_FALSE(f.workload.causal);
  const auto g = load_experiment(write(replace(kGood, "placement: block", "placement: [7, 6, 5, 4, 3, 2, 1, 0]")));
  CHECK(g.placement.kind == PlacementSpec::Kind::list);
  CHECK(g.placement.gpus.size() == 8);
  const auto h = load_experiment(write(replace(kGood, "placement: block", "placement: shared")));
  CHECK(h.placement.kind == PlacementSpec::Kind::shared);
}

TEST_CASE("experiment errors name file, line and field") {
  CHECK(error_of(replace(kGood, "name: t", "name: t\ncolour: red")) ==
        "exp.yaml:2:1: field 'colour': unknown key 'colour' (allowed: name, description, topology, device_profile, "
        "workload, schedule, placement)");
  CHECK(error_of(replace(kGood, "seq_len: 4096", "seq_len: lots")) ==
        "exp.yaml:3:31: field 'workload.seq_len': expected a whole number, got 'lots'");
  CHECK(error_of(replace(kGood, "ranks: 8", "ranks: 0")) ==
        "exp.yaml:5:34: field 'schedule.ranks': 0 is outside the allowed range [1, 1048576]");
  CHECK(error_of(replace(kGood, "kv_heads: 8", "kv_heads: 5")) ==
        "exp.yaml:3:60: field 'workload.kv_heads': kv_heads (5) must divide q_heads (32) for GQA");
  CHECK(error_of(replace(kGood, "seq_len: 4096", "seq_len: 4100")) ==
        "exp.yaml:3:31: field 'workload.seq_len': seq_len (4100) must be a positive multiple of 8 (8 ranks x 1 chunk "
        "per rank) for variant 'ring'");
  CHECK(error_of(replace(kGood, "dtype: bf16", "dtype: bf17")) ==
        "exp.yaml:4:19: field 'workload.dtype': 'bf17' is not one of: bf16, fp16, fp32");
  CHECK(error_of(replace(kGood, "topology: exp.yaml", "topology: nowhere.yaml")).find(
            "field 'topology': topology file") != std::string::npos);
  CHECK(error_of(replace(kGood, "placement: block", "placement: everywhere")) ==
        "exp.yaml:6:12: field 'placement': 'everywhere' is not one of: block, round_robin, shared");
  CHECK(error_of(replace(kGood, "causal: true", "causal: yes please")) ==
        "exp.yaml:4:33: field 'workload.causal': expected true or false, got 'yes please'");
  CHECK(error_of(replace(kGood, "options: {}", "options: {zigzag: true}")) ==
        "exp.yaml:5:46: field 'schedule.options': variant 'ring' takes no options, got 'zigzag'");
}

TEST_CASE("errors in overridden values name the override") {
  CHECK(error_of(kGood, {"schedule.ranks=3"}) ==
        "exp.yaml:3:31: field 'workload.seq_len': seq_len (4096) must be a positive multiple of 3 (3 ranks x 1 chunk "
        "per rank) for variant 'ring'");
  CHECK(error_of(kGood, {"workload.seq_len=abc"}) ==
        "--set: field 'workload.seq_len': expected a whole number, got 'abc'");
  CHECK(error_of(kGood, {"workload.nonsense=1"}) ==
        "--set: field 'workload.nonsense': unknown key 'nonsense' (allowed: batch, seq_len, q_heads, kv_heads, "
        "head_dim, dtype, causal, pass, window, dilation)");
}
