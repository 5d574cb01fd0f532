#include <doctest/doctest.h>

#include <array>
#include <string>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"

using namespace ringlab;

namespace {
std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("yaml: errors name file, line, column and field") {
  auto doc = YamlDocument::parse("a:\n  b: 12x\n  c: 3\n", "f.yaml");
  const auto root = doc.root();
  CHECK(root.at("a").at("c").as_int() == 3);
  CHECK(error_of([&] { (void)root.at("a").at("b").as_int(); }) ==
        "f.yaml:2:6: field 'a.b': expected a whole number, got '12x'");
  CHECK(error_of([&] { (void)root.at("a").at("d"); }) == "f.yaml:2:3: field 'a': missing required field 'd'");
  CHECK(error_of([&] { root.at("a").check_keys({"b"}); }) ==
        "f.yaml:3:3: field 'a.c': unknown key 'c' (allowed: b)");
  CHECK(error_of([&] { (void)root.at("a").at("c").as_int(5, 9); }) ==
        "f.yaml:3:6: field 'a.c': 3 is outside the allowed range [5, 9]");
  constexpr std::array<std::string_view, 2> names{"x", "y"};
  CHECK(error_of([&] { (void)root.at("a").at("c").as_choice(names); }) ==
        "f.yaml:3:6: field 'a.c': '3' is not one of: x, y");
}

TEST_CASE("yaml: a key twice in one mapping is an error at its second copy, at any depth") {
  CHECK(error_of([] { (void)YamlDocument::parse("name: a\nx: 1\nname: b\n", "d.yaml"); }) ==
        "d.yaml:3:1: field 'name': key 'name' appears twice in this mapping (YAML allows a key once)");
  CHECK(error_of([] { (void)YamlDocument::parse("a:\n  - {k: 1, j: 2}\n  - {k: 1, k: 2}\n", "d.yaml"); }) ==
        "d.yaml:3:12: field 'a[1].k': key 'k' appears twice in this mapping (YAML allows a key once)");
  CHECK(error_of([] { (void)YamlDocument::parse("{\"k\": 1, \"m\": {\"k\": 2}}", "d.json"); }) == "no error");
  CHECK(error_of([] { (void)YamlDocument::parse("{\"k\": 1, \"k\": 2}", "d.json"); }) ==
        "d.json:1:10: field 'k': key 'k' appears twice in this mapping (YAML allows a key once)");
}

TEST_CASE("yaml: yaml_quoted text reads back as itself") {
  for (const std::string& text : {std::string("plain"), std::string("cpu: \"x\" # y"), std::string("back\\slash"),
                                 std::string("- [a, {b}] & *c !d %e @f `g"), std::string("tab\tnew\nline\x01"),
                                 std::string(""), std::string("  spaced  "), std::string("true"), std::string("1e3")}) {
    CAPTURE(text);
    const auto doc = YamlDocument::parse("k: " + yaml_quoted(text) + "\n", "q.yaml");
    CHECK(doc.root().at("k").as_string() == text);
  }
  CHECK(yaml_quoted("a\"b") == "\"a\\\"b\"");
}

TEST_CASE("yaml: syntax errors and missing files are input errors") {
  CHECK(error_of([] { (void)YamlDocument::parse("a: [1, 2\n", "bad.yaml"); }).rfind("bad.yaml:", 0) == 0);
  CHECK(error_of([] { (void)YamlDocument::load_file("/nonexistent/x.yaml"); })
            .rfind("/nonexistent/x.yaml: cannot open file", 0) == 0);
  CHECK(error_of([] { (void)YamlDocument::parse("", "empty.yaml"); }) == "empty.yaml: the document is empty");
}

TEST_CASE("yaml: --set overrides scalars and errors name the override") {
  auto doc = YamlDocument::parse("w: {seq_len: 1024, causal: true}\n", "e.yaml");
  doc.apply_override("w.seq_len=2048");
  CHECK(doc.root().at("w").at("seq_len").as_int() == 2048);
  doc.apply_override("w.causal=nope");
  CHECK(error_of([&] { (void)doc.root().at("w").at("causal").as_bool(); }) ==
        "--set: field 'w.causal': expected true or false, got 'nope'");
  CHECK(error_of([&] { doc.apply_override("w.seq_len"); }) == "--set: field 'w.seq_len': expected dotted.key=value");
  CHECK(error_of([&] { doc.apply_override("x.y=1"); }) == "--set: field 'x.y': no field 'x' in e.yaml");
  CHECK(error_of([&] { doc.apply_override("w=1"); }) == "--set: field 'w': only scalar values can be overridden");
}
