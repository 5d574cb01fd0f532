#include "ringlab/trace/json_input.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "ringlab/core/error.hpp"

namespace ringlab::trace {

namespace {

using nlohmann::json;

// 1-based line and column (in bytes) of byte offset `at` of `text`.
std::pair<int, int> line_col(std::string_view text, std::size_t at) {
  at = std::min(at, text.size());
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(at - line_start) + 1};
}

// Byte offset of the opening quote of the n-th (1-based) object key of `text`, a JSON text valid up to
// there: a key is a string followed, after white space, by ':'. npos when there are fewer.
std::size_t nth_key(std::string_view text, std::uint64_t n) {
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '"') continue;
    const std::size_t open = i;
    for (++i; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\') ++i;  // an escape: skip the character it escapes
    }
    std::size_t j = i + 1;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r')) ++j;
    if (j < text.size() && text[j] == ':' && ++seen == n) return open;
  }
  return std::string_view::npos;
}

// The containers the parser is inside, outermost first: for an object the keys seen so far (the last
// one is where the parser is), for an array the index of the element being read.
struct Frame {
  bool object = false;
  std::vector<std::string> keys;
  std::int64_t index = -1;
};

struct DuplicateKey {
  std::string path;
  std::string key;
  std::uint64_t ordinal;  // among all keys of the text, 1-based
};

// A first pass over the text, through nlohmann's SAX interface (no document built): it finds repeated
// keys, and where a syntax error is. (nlohmann's parser with a callback does both while building the
// document, but ran 60x slower than the plain parser on a 28 MB trace; this pass and the plain parse
// together cost about twice the plain parse.)
class KeyCheck final : public nlohmann::json_sax<json> {
 public:
  bool null() override { return element(); }
  bool boolean(bool /*val*/) override { return element(); }
  bool number_integer(number_integer_t /*val*/) override { return element(); }
  bool number_unsigned(number_unsigned_t /*val*/) override { return element(); }
  bool number_float(number_float_t /*val*/, const string_t& /*s*/) override { return element(); }
  bool string(string_t& /*val*/) override { return element(); }
  bool binary(binary_t& /*val*/) override { return element(); }
  bool start_object(std::size_t /*elements*/) override { return push(true); }
  bool start_array(std::size_t /*elements*/) override { return push(false); }
  bool end_object() override { return pop(); }
  bool end_array() override { return pop(); }
  bool key(string_t& k) override {
    ++keys_;
    Frame& f = stack_[used_ - 1];
    if (std::find(f.keys.begin(), f.keys.end(), k) != f.keys.end()) throw DuplicateKey{path_to(k), k, keys_};
    f.keys.push_back(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    error_at_ = position;
    error_ = ex.what();
    return false;
  }
  [[nodiscard]] std::size_t error_at() const noexcept { return error_at_; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  bool element() {
    if (used_ > 0 && !stack_[used_ - 1].object) ++stack_[used_ - 1].index;
    return true;
  }
  bool push(bool object) {
    element();
    if (used_ == stack_.size()) stack_.emplace_back();  // frames are reused: stack_[0, used_) are live
    Frame& f = stack_[used_++];
    f.object = object;
    f.keys.clear();
    f.index = -1;
    return true;
  }
  bool pop() {
    --used_;
    return true;
  }
  [[nodiscard]] std::string path_to(const std::string& key) const {
    std::string p;
    for (std::size_t i = 0; i < used_; ++i) {
      const Frame& f = stack_[i];
      if (!f.object) {
        p += fmt::format("[{}]", f.index);
      } else if (i + 1 < used_) {
        p += (p.empty() ? "" : ".") + f.keys.back();
      }
    }
    return p + (p.empty() ? "" : ".") + key;
  }

  std::vector<Frame> stack_;
  std::size_t used_ = 0;
  std::uint64_t keys_ = 0;
  std::size_t error_at_ = 0;
  std::string error_;
};

}  // namespace

json parse_json_input(std::string_view text, const std::string& file) {
  KeyCheck check;
  try {
    if (!json::sax_parse(text.begin(), text.end(), &check)) {
      // The position is 1-based: the byte the parser stopped at.
      const auto [line, col] = line_col(text, check.error_at() > 0 ? check.error_at() - 1 : 0);
      throw InputError(file, line, col, "", fmt::format("not valid JSON: {}", check.error()));
    }
  } catch (const DuplicateKey& d) {
    const std::size_t at = nth_key(text, d.ordinal);
    const auto [line, col] = at == std::string_view::npos ? std::pair{0, 0} : line_col(text, at);
    throw InputError(file, line, col, d.path,
                     fmt::format("key '{}' appears twice in this object (JSON readers keep one copy silently)", d.key));
  }
  return json::parse(text.begin(), text.end());
}

}  // namespace ringlab::trace
