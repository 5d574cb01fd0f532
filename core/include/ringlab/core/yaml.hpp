#pragma once
// Strict YAML reading: every value is read through a YamlNode that knows its file, line and dotted
// path, so any error names all three. Unknown keys are errors (check_keys), never ignored.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringlab {

/// Shared context of one parsed document: its name and the dotted keys that --set overrode.
struct YamlSource {
  std::string file;                   ///< path or label shown in errors
  std::set<std::string> overridden;   ///< dotted paths whose value came from --set
};

/// A node of a parsed document plus where it lives; the only way ringlab reads YAML.
class YamlNode {
 public:
  YamlNode(YAML::Node node, std::shared_ptr<const YamlSource> source, std::string path)
      : node_(std::move(node)), source_(std::move(source)), path_(std::move(path)) {}

  [[nodiscard]] const YAML::Node& raw() const noexcept { return node_; }  ///< the yaml-cpp node
  [[nodiscard]] const std::string& path() const noexcept { return path_; }  ///< dotted field path
  [[nodiscard]] const std::string& file() const noexcept { return source_->file; }  ///< source file
  [[nodiscard]] int line() const noexcept;  ///< 1-based line of this node, 0 if unknown
  /// True when this node's value came from --set (YamlDocument::apply_override), not the file.
  [[nodiscard]] bool overridden() const noexcept { return source_->overridden.count(path_) != 0; }
  [[nodiscard]] bool is_map() const noexcept { return node_.IsMap(); }        ///< a mapping?
  [[nodiscard]] bool is_sequence() const noexcept { return node_.IsSequence(); }  ///< a list?
  [[nodiscard]] bool is_scalar() const noexcept { return node_.IsScalar(); }  ///< a scalar?
  [[nodiscard]] std::size_t size() const;                   ///< elements of a list (error otherwise)
  [[nodiscard]] YamlNode operator[](std::size_t i) const;   ///< i-th element of a list
  [[nodiscard]] bool has(std::string_view key) const;       ///< map has key (error if not a map)
  [[nodiscard]] YamlNode at(std::string_view key) const;    ///< required key (error if missing)
  [[nodiscard]] std::optional<YamlNode> find(std::string_view key) const;  ///< optional key
  /// Fails on any key not in `allowed`, naming the key and listing the allowed ones.
  void check_keys(std::initializer_list<std::string_view> allowed) const;
  void check_keys(std::span<const std::string_view> allowed) const;  ///< same, from a span
  /// Keys of a mapping in document order.
  [[nodiscard]] std::vector<std::string> keys() const;

  [[nodiscard]] std::string as_string() const;   ///< a scalar as text
  [[nodiscard]] bool as_bool() const;            ///< true/false only
  [[nodiscard]] std::int64_t as_int() const;     ///< a whole number (no fraction, no overflow)
  [[nodiscard]] double as_double() const;        ///< a finite number
  /// A whole number in [lo, hi].
  [[nodiscard]] std::int64_t as_int(std::int64_t lo, std::int64_t hi) const;
  /// A finite number > 0.
  [[nodiscard]] double as_positive_double() const;
  /// One of `names`; returns its index.
  [[nodiscard]] std::size_t as_choice(std::span<const std::string_view> names) const;

  /// Throws InputError at this node: "FILE:LINE:COL: field 'PATH': message".
  [[noreturn]] void fail(std::string_view message) const;

 private:
  YAML::Node node_;
  std::shared_ptr<const YamlSource> source_;
  std::string path_;
};

/// A parsed YAML (or JSON, which yaml-cpp also reads) document.
class YamlDocument {
 public:
  /// Reads and parses a file; a missing file or a syntax error is an InputError naming it.
  static YamlDocument load_file(const std::string& path);
  /// Parses text; `label` is what errors call it.
  static YamlDocument parse(const std::string& text, const std::string& label);

  /// Applies "a.b.c=value": sets that scalar (creating the last key if absent). Bad syntax or a path
  /// through a non-map is an InputError naming the override.
  void apply_override(std::string_view assignment);
  [[nodiscard]] YamlNode root() const;  ///< the top node
  [[nodiscard]] const std::string& file() const noexcept { return source_->file; }  ///< its name

 private:
  YamlDocument(YAML::Node root, std::shared_ptr<YamlSource> source)
      : root_(std::move(root)), source_(std::move(source)) {}
  YAML::Node root_;
  std::shared_ptr<YamlSource> source_;
};

/// `text` as a YAML double-quoted scalar (quotes included): what ringlab writes into YAML files it
/// generates for names and paths a user chose, so any text reads back as itself.
[[nodiscard]] std::string yaml_quoted(std::string_view text);

/// Writes `content` to `path` atomically (temporary file in the same folder, then rename).
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace ringlab
