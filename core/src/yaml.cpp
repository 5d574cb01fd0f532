#include "ringlab/core/yaml.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ringlab/core/error.hpp"

namespace ringlab {

namespace {
std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}
std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// YAML allows a key once per mapping; yaml-cpp keeps every copy and answers lookups with the first, so
// a later value (a pasted block, a second `name:`) would be silently ignored. Fails at the second copy.
// `trail` holds the path's segments; the dotted path is only formatted for the error (an IR file has
// millions of nodes).
void check_unique_keys(const YAML::Node& node, const std::shared_ptr<const YamlSource>& source,
                       std::vector<std::string>& trail) {
  if (node.IsMap()) {
    static const std::string kNoKey;
    std::vector<std::string_view> seen;  // mappings are small: a scan beats a set
    for (const auto& kv : node) {
      const bool scalar = kv.first.IsScalar();
      const std::string& key = scalar ? kv.first.Scalar() : kNoKey;  // the node's own text, not a copy
      trail.push_back((trail.empty() ? "" : ".") + key);
      if (scalar && std::find(seen.begin(), seen.end(), key) != seen.end()) {
        std::string path;
        for (const auto& t : trail) path += t;
        YamlNode(kv.first, source, path).fail(fmt::format("key '{}' appears twice in this mapping (YAML allows a key once)", key));
      }
      if (scalar) seen.push_back(key);
      check_unique_keys(kv.second, source, trail);
      trail.pop_back();
    }
  } else if (node.IsSequence()) {
    std::size_t i = 0;
    for (const auto& item : node) {
      trail.push_back(fmt::format("[{}]", i++));
      check_unique_keys(item, source, trail);
      trail.pop_back();
    }
  }
}
}  // namespace

int YamlNode::line() const noexcept {
  const auto mark = node_.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

void YamlNode::fail(std::string_view message) const {
  if (source_->overridden.count(path_) != 0) {
    throw InputError("--set", 0, 0, path_, std::string(message));
  }
  const auto mark = node_.Mark();
  throw InputError(source_->file, mark.line >= 0 ? mark.line + 1 : 0, mark.column >= 0 ? mark.column + 1 : 0,
                   path_, std::string(message));
}

std::size_t YamlNode::size() const {
  if (!node_.IsSequence()) fail("expected a list");
  return node_.size();
}

YamlNode YamlNode::operator[](std::size_t i) const {
  if (!node_.IsSequence()) fail("expected a list");
  return YamlNode(node_[i], source_, fmt::format("{}[{}]", path_, i));
}

bool YamlNode::has(std::string_view key) const {
  if (!node_.IsMap()) fail("expected a mapping of keys to values");
  return static_cast<bool>(node_[std::string(key)]);
}

std::optional<YamlNode> YamlNode::find(std::string_view key) const {
  if (!node_.IsMap()) fail("expected a mapping of keys to values");
  YAML::Node child = node_[std::string(key)];
  if (!child) return std::nullopt;
  if (child.IsNull()) {
    YamlNode(child, source_, child_path(path_, key)).fail("has no value");
  }
  return YamlNode(child, source_, child_path(path_, key));
}

YamlNode YamlNode::at(std::string_view key) const {
  auto child = find(key);
  if (!child) fail(fmt::format("missing required field '{}'", key));
  return *child;
}

void YamlNode::check_keys(std::initializer_list<std::string_view> allowed) const {
  check_keys(std::span<const std::string_view>(allowed.begin(), allowed.size()));
}

void YamlNode::check_keys(std::span<const std::string_view> allowed) const {
  if (!node_.IsMap()) fail("expected a mapping of keys to values");
  for (const auto& kv : node_) {
    const auto key = kv.first.as<std::string>();
    bool known = false;
    for (const auto& a : allowed) known = known || a == key;
    if (!known) {
      YamlNode(kv.first, source_, child_path(path_, key))
          .fail(fmt::format("unknown key '{}' (allowed: {})", key, join(allowed)));
    }
  }
}

std::vector<std::string> YamlNode::keys() const {
  if (!node_.IsMap()) fail("expected a mapping of keys to values");
  std::vector<std::string> out;
  for (const auto& kv : node_) out.push_back(kv.first.as<std::string>());
  return out;
}

std::string YamlNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a single value (text or number)");
  return node_.Scalar();
}

bool YamlNode::as_bool() const {
  const auto s = as_string();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  fail(fmt::format("expected true or false, got '{}'", s));
}

std::int64_t YamlNode::as_int() const {
  const auto s = as_string();
  std::int64_t v = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (begin != end && *begin == '+') ++begin;
  const auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec == std::errc::result_out_of_range) fail(fmt::format("'{}' is out of range", s));
  if (ec != std::errc() || ptr != end || begin == end) fail(fmt::format("expected a whole number, got '{}'", s));
  return v;
}

std::int64_t YamlNode::as_int(std::int64_t lo, std::int64_t hi) const {
  const auto v = as_int();
  if (v < lo || v > hi) fail(fmt::format("{} is outside the allowed range [{}, {}]", v, lo, hi));
  return v;
}

double YamlNode::as_double() const {
  const auto s = as_string();
  double v = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (begin != end && *begin == '+') ++begin;
  const auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || ptr != end || begin == end || !std::isfinite(v)) {
    fail(fmt::format("expected a number, got '{}'", s));
  }
  return v;
}

double YamlNode::as_positive_double() const {
  const auto v = as_double();
  if (!(v > 0)) fail(fmt::format("must be greater than 0, got {}", v));
  return v;
}

std::size_t YamlNode::as_choice(std::span<const std::string_view> names) const {
  const auto s = as_string();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == s) return i;
  }
  fail(fmt::format("'{}' is not one of: {}", s, join(names)));
}

YamlDocument YamlDocument::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, 0, "", fmt::format("cannot open file: {}", std::strerror(errno)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), path);
}

YamlDocument YamlDocument::parse(const std::string& text, const std::string& label) {
  auto source = std::make_shared<YamlSource>();
  source->file = label;
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) throw InputError(label, 0, 0, "", "the document is empty");
    std::vector<std::string> trail;
    check_unique_keys(root, source, trail);
    return YamlDocument(root, source);
  } catch (const YAML::Exception& e) {
    throw InputError(label, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.column >= 0 ? e.mark.column + 1 : 0, "",
                     fmt::format("syntax error: {}", e.msg));
  }
}

void YamlDocument::apply_override(std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw InputError("--set", 0, 0, std::string(assignment), "expected dotted.key=value");
  }
  const std::string key(assignment.substr(0, eq));
  const std::string value(assignment.substr(eq + 1));
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (parts.back().empty()) throw InputError("--set", 0, 0, key, "empty key segment");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // Walk with references (yaml-cpp nodes are handles): rebinding via reset keeps the tree shared.
  YAML::Node cur;
  cur.reset(root_);
  std::string path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path = child_path(path, parts[i]);
    if (!cur.IsMap()) throw InputError("--set", 0, 0, key, fmt::format("'{}' is not a mapping", path));
    YAML::Node next = cur[parts[i]];
    if (!next) throw InputError("--set", 0, 0, key, fmt::format("no field '{}' in {}", path, file()));
    cur.reset(next);
  }
  if (!cur.IsMap()) throw InputError("--set", 0, 0, key, "the parent of this key is not a mapping");
  YAML::Node existing = cur[parts.back()];
  if (existing && !existing.IsScalar() && !existing.IsNull()) {
    throw InputError("--set", 0, 0, key, "only scalar values can be overridden");
  }
  cur[parts.back()] = value;
  source_->overridden.insert(key);
}

YamlNode YamlDocument::root() const { return YamlNode(root_, source_, ""); }

std::string yaml_quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + '"';
}

void write_file_atomic(const std::string& path, std::string_view content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / (target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw Error(fmt::format("{}: cannot create temporary file: {}", path, std::strerror(errno)));
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      throw Error(fmt::format("{}: write failed: {}", path, std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    throw Error(fmt::format("{}: cannot flush file: {}", path, std::strerror(errno)));
  }
  ::chmod(tmpl.c_str(), 0644);
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw Error(fmt::format("{}: cannot rename into place: {}", path, std::strerror(err)));
  }
}

}  // namespace ringlab
