// Device files: every shipped file loads with the figures of shared/reference/hardware.md, and bad
// files give file/line/field errors.
#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"
#include "ringlab/models/device.hpp"

using namespace ringlab;
using namespace ringlab::models;
using namespace ringlab::models::test;

namespace {
// A minimal valid device; tests break one line of it at a time.
const std::string kGood =
    "name: test gpu\n"                                       // line 1
    "sm_count: 10\n"                                         // line 2
    "peak_tflops: {bf16: 100, fp32: 10}\n"                   // line 3
    "hbm_bandwidth_gbps: 1000\n"                             // line 4
    "hbm_efficiency: 0.9\n"                                  // line 5
    "hbm_capacity_gib: 16\n"                                 // line 6
    "launch_overhead_us: 2\n"                                // line 7
    "gemm_efficiency: 0.8\n"                                 // line 8
    "attention:\n"                                           // line 9
    "  forward: [{head_dim: 128, eff_max: 0.5, s_half: 100}]\n"  // line 10
    "  partial: {eff_max: 0.9, s_half: 200}\n"               // line 11
    "  backward: {eff_max: 0.8, s_half: 100}\n";             // line 12

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}
}  // namespace

TEST_CASE("device: the shipped files load with their datasheet figures") {
  for (const char* name : {"a100-sxm-80gb", "h100-sxm", "h200", "h800", "b200", "gb200", "gtx1080"}) {
    CAPTURE(name);
    const auto d = load_device(device_file(name));
    CHECK(!d.name.empty());
    CHECK(d.sm_count > 0);
    CHECK(d.supports(ir::DType::fp32));
    CHECK(d.attention_table.empty());
  }
  const auto h100 = load_device(device_file("h100-sxm"));
  CHECK(h100.peak_rate(ir::DType::bf16).value == doctest::Approx(989e12));
  CHECK(h100.peak_rate(ir::DType::fp32).value == doctest::Approx(67e12));
  CHECK(h100.hbm_bandwidth.value == doctest::Approx(3350e9));
  CHECK(h100.hbm_capacity.value == 80LL * 1024 * 1024 * 1024);  // 80 GiB = 85,899,345,920 B
  CHECK(h100.launch_overhead == microseconds(3.0));
  CHECK(h100.attention.forward.size() == 2);
  const auto h200 = load_device(device_file("h200"));
  CHECK(h200.hbm_bandwidth.value == doctest::Approx(4800e9));
  CHECK(h200.hbm_capacity.value == 141LL * 1024 * 1024 * 1024);
  const auto a100 = load_device(device_file("a100-sxm-80gb"));
  CHECK(a100.peak_rate(ir::DType::bf16).value == doctest::Approx(312e12));
  CHECK(a100.hbm_bandwidth.value == doctest::Approx(2039e9));
  const auto b200 = load_device(device_file("b200"));
  CHECK(b200.peak_rate(ir::DType::bf16).value == doctest::Approx(2250e12));
  CHECK(b200.hbm_capacity.value == 180LL * 1024 * 1024 * 1024);
}

TEST_CASE("device: GTX 1080 has fp16 at 1/64 of fp32 and no bf16; asking for bf16 names the file") {
  const auto path = device_file("gtx1080");
  const auto d = load_device(path);
  CHECK(d.peak_rate(ir::DType::fp32).value == doctest::Approx(8.87e12));
  CHECK(d.peak_rate(ir::DType::fp16).value == doctest::Approx(8.87e12 / 64).epsilon(1e-3));  // 0.1386 TF
  CHECK_FALSE(d.supports(ir::DType::bf16));
  const auto msg = input_error_of([&] { (void)d.peak_rate(ir::DType::bf16); });
  CHECK(msg.rfind(path + ":", 0) == 0);  // starts with the device file and its line
  CHECK(msg.find("field 'peak_tflops.bf16'") != std::string::npos);
  CHECK(msg.find("does not support bf16") != std::string::npos);
}

TEST_CASE("device: malformed files name file, line and field") {
  CHECK_NOTHROW((void)parse_device(kGood, "good.yaml"));
  CHECK(input_error_of([&] { (void)parse_device(kGood + "tdp_watts: 700\n", "bad.yaml"); }) ==
        "bad.yaml:13:1: field 'tdp_watts': unknown key 'tdp_watts' (allowed: name, sm_count, peak_tflops, "
        "hbm_bandwidth_gbps, hbm_efficiency, hbm_capacity_gib, launch_overhead_us, gemm_efficiency, attention, "
        "attention_table)");
  CHECK(input_error_of([&] {
          (void)parse_device(replace(kGood, "hbm_bandwidth_gbps: 1000", "hbm_bandwidth_gbps: -5"), "bad.yaml");
        }) == "bad.yaml:4:21: field 'hbm_bandwidth_gbps': must be greater than 0, got -5");
  CHECK(input_error_of([&] { (void)parse_device(replace(kGood, "sm_count: 10\n", ""), "bad.yaml"); }) ==
        "bad.yaml:1:1: missing required field 'sm_count'");
  CHECK(input_error_of([&] {
          (void)parse_device(replace(kGood, "bf16: 100", "bf8: 100"), "bad.yaml");
        }) == "bad.yaml:3:15: field 'peak_tflops.bf8': unknown key 'bf8' (allowed: bf16, fp16, fp32)");
  CHECK(input_error_of([&] { (void)parse_device(replace(kGood, "eff_max: 0.9", "eff_max: 1.5"), "bad.yaml"); }) ==
        "bad.yaml:11:22: field 'attention.partial.eff_max': must be a fraction in (0, 1], got 1.5");
  CHECK(input_error_of([&] { (void)parse_device(replace(kGood, "s_half: 100}]", "s_half: -1}]"), "bad.yaml"); }) ==
        "bad.yaml:10:51: field 'attention.forward[0].s_half': must be >= 0 tokens, got -1");
  CHECK(input_error_of([] { (void)load_device("/nonexistent/dev.yaml"); }).rfind("/nonexistent/dev.yaml:", 0) == 0);
}

TEST_CASE("device: attention tables must form a grid per group") {
  const std::string row = "  - {pass: forward, dtype: bf16, head_dim: 128, causal: false, ";
  const std::string ok = kGood + "attention_table:\n" + row + "q_len: 1024, kv_len: 1024, tflops: 100}\n" + row +
                         "q_len: 4096, kv_len: 1024, tflops: 200}\n";
  const auto d = parse_device(ok, "t.yaml");
  REQUIRE(d.attention_table.points.size() == 2);
  CHECK(d.attention_table.points[1].line == 15);
  CHECK(d.attention_table.points[1].rate.value == doctest::Approx(200e12));
  // Two points along q: 2048 is halfway between 1024 and 4096 in log space -> (100 + 200) / 2 = 150 TF;
  // linear interpolation in q would have given 100 + (1024/3072) x 100 = 133.3 TF.
  const auto r = d.attention_table.lookup(ir::Pass::forward, ir::DType::bf16, 128, false, 2048, 1024);
  REQUIRE(r.has_value());
  CHECK(r->value == doctest::Approx(150e12));
  CHECK_FALSE(d.attention_table.lookup(ir::Pass::forward, ir::DType::bf16, 128, true, 2048, 1024).has_value());
  // A third point at a new kv_len leaves (1024, 4096) and (4096, 4096) missing: not a grid.
  CHECK(input_error_of([&] {
          (void)parse_device(ok + row + "q_len: 1024, kv_len: 4096, tflops: 150}\n", "t.yaml");
        }) == "t.yaml:14: field 'attention_table': group (forward, bf16, head_dim 128, causal false) lacks the point "
              "q_len 4096 kv_len 4096: the rows of a group must form a full grid over its q_len and kv_len values");
  CHECK(input_error_of([&] { (void)parse_device(ok + row + "q_len: 1024, kv_len: 1024, tflops: 1}\n", "t.yaml"); }) ==
        "t.yaml:16: field 'attention_table': group (forward, bf16, head_dim 128, causal false) has q_len 1024 kv_len "
        "1024 twice");
  CHECK(input_error_of([&] {
          (void)parse_device(kGood + "attention_table:\n  - {pass: sideways, dtype: bf16, head_dim: 128, causal: "
                                     "false, q_len: 1, kv_len: 1, tflops: 1}\n",
                             "t.yaml");
        }) == "t.yaml:14:12: field 'attention_table[0].pass': 'sideways' is not one of: forward, backward");
}

TEST_CASE("device: a device profile file carries a table for one device") {
  const auto t = load_attention_table(repo_file("tests/unit/models/data/h100-profile.yaml"), "NVIDIA H100 SXM5 80GB");
  CHECK(t.points.size() == 4);
  CHECK(input_error_of([&] {
          (void)load_attention_table(repo_file("tests/unit/models/data/h100-profile.yaml"), "NVIDIA A100 SXM4 80GB");
        }).find("profile is for device 'NVIDIA H100 SXM5 80GB', not 'NVIDIA A100 SXM4 80GB'") != std::string::npos);
}

TEST_CASE("device: head dims between the listed ones interpolate in log2(d)") {
  const auto d = load_device(device_file("h100-sxm"));
  // d = 90.5 would be halfway in log2 between 64 and 128; d = 96: w = log2(96/64) = 0.585
  const auto c = d.attention.forward_at(96);
  const double w = 0.5849625007211562;
  CHECK(c.max == doctest::Approx(0.3292 + w * (0.3765 - 0.3292)));
  CHECK(c.s_half == doctest::Approx(79 + w * (105 - 79)));
  CHECK(d.attention.forward_at(32) == d.attention.forward.front().forward);   // clamped below
  CHECK(d.attention.forward_at(256) == d.attention.forward.back().forward);   // clamped above
}
