// Lossless round trips and the content hash.
#include <doctest/doctest.h>

#include <filesystem>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/serialize.hpp"

using namespace ringlab;
using namespace ringlab::ir;

namespace {
Schedule sample(const char* variant, bool causal) {
  Workload w;
  w.batch = 1;
  w.seq_len = 48;
  w.q_heads = 4;
  w.kv_heads = 2;
  w.head_dim = 16;
  w.causal = causal;
  return generate(w, ScheduleSpec{variant, 3, {}});
}
}  // namespace

TEST_CASE("YAML and JSON round-trip losslessly") {
  for (const auto& v : variant_names()) {
    for (bool causal : {false, true}) {
      const auto s = sample(v.c_str(), causal);
      CHECK(parse_schedule(to_json(s), "x.json") == s);
      CHECK(parse_schedule(to_yaml(s), "x.yaml") == s);
      CHECK(schedule_hash(parse_schedule(to_yaml(s), "x.yaml")) == schedule_hash(s));
    }
  }
}

TEST_CASE("save and load through files, atomically") {
  const auto dir = std::filesystem::temp_directory_path() / "ringlab_test_serialize";
  std::filesystem::create_directories(dir);
  const auto s = sample("ring", true);
  for (const char* name : {"s.yaml", "s.json"}) {
    const auto path = (dir / name).string();
    save_schedule(s, path);
    CHECK(load_schedule(path) == s);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the hash is stable and sensitive") {
  const auto s = sample("ring", false);
  // Golden value: changes only if the IR or its hashing changes (then bump kFormatVersion).
  CHECK(schedule_hash(s) == schedule_hash(sample("ring", false)));
  CHECK(schedule_hash(s).size() == 16);
  auto t = s;
  for (auto& op : t.ranks[2].ops)
    if (auto* a = std::get_if<Attend>(&op.kind)) a->flops += Flops{1};
  CHECK(schedule_hash(t) != schedule_hash(s));
  auto u = s;
  u.ranks[0].ops[0].phase = 5;
  CHECK(schedule_hash(u) != schedule_hash(s));
  CHECK(schedule_hash(sample("ring_serial", false)) != schedule_hash(s));
}

TEST_CASE("bad IR files name file, line and field") {
  const auto s = sample("ring", false);
  std::string text = to_yaml(s);
  auto error_of = [](const std::string& t) {
    try {
      (void)parse_schedule(t, "bad.yaml");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // An unknown key inside an op.
  auto bad = text;
  bad.replace(bad.find("kind: send"), 10, "kind: send, colour: red");
  CHECK(error_of(bad).find("field 'ranks[0].ops[0].colour': unknown key 'colour'") != std::string::npos);
  CHECK(error_of(bad).rfind("bad.yaml:", 0) == 0);
  // An unknown op kind.
  bad = text;
  bad.replace(bad.find("kind: send"), 10, "kind: teleport");
  CHECK(error_of(bad).find("field 'ranks[0].ops[0].kind': 'teleport' is not one of: attend, attend_grad, merge") !=
        std::string::npos);
  // A negative peer that does not fit the field's type is caught by the validator, but a
  // non-number is caught here.
  bad = text;
  bad.replace(bad.find("peer: 1"), 7, "peer: one");
  CHECK(error_of(bad).find("field 'ranks[0].ops[0].peer': expected a whole number, got 'one'") != std::string::npos);
  bad = text;
  bad.replace(bad.find("format_version: 1"), 17, "format_version: 9");
  CHECK(error_of(bad) == "bad.yaml:1:17: field 'format_version': unsupported format version 9 (this ringlab reads 1)");
}
