#include "ringlab/ir/serialize.hpp"

#include <fmt/format.h>
#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "fields.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"

namespace ringlab::ir {

using detail::EnumNames;
using detail::kKindNames;
using json = nlohmann::ordered_json;

namespace {

template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};
template <class T, std::size_t N> struct IsVector<boost::container::small_vector<T, N>> : std::true_type {};
template <class T> struct IsQuantity : std::false_type {};
template <class Tag, class Rep> struct IsQuantity<Quantity<Tag, Rep>> : std::true_type {};

// --- writing -----------------------------------------------------------------------------------------

json to_tree(const auto& value);

struct JsonWriter {
  json& j;
  template <class T>
  void operator()(std::string_view name, const T& value) { j[std::string(name)] = to_tree(value); }
};

json to_tree(const auto& value) {
  using T = std::remove_cvref_t<decltype(value)>;
  if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T> || std::is_same_v<T, std::string>) {
    return json(value);
  } else if constexpr (std::is_enum_v<T>) {
    return json(std::string(EnumNames<T>::names[static_cast<std::size_t>(value)]));
  } else if constexpr (IsQuantity<T>::value) {
    return json(value.value);
  } else if constexpr (IsVector<T>::value) {
    json arr = json::array();
    for (const auto& e : value) arr.push_back(to_tree(e));
    return arr;
  } else {
    json obj = json::object();
    JsonWriter w{obj};
    detail::describe(w, value);
    if constexpr (std::is_same_v<T, Op>) {
      obj["kind"] = std::string(kKindNames[value.kind.index()]);
      std::visit([&](const auto& k) { detail::describe(w, k); }, value.kind);
    }
    return obj;
  }
}

json schedule_tree(const Schedule& s) {
  json j = json::object();
  j["format_version"] = kFormatVersion;
  JsonWriter w{j};
  detail::describe(w, s);
  return j;
}

void emit(YAML::Emitter& out, const json& j, int depth) {
  if (j.is_object()) {
    // Objects inside lists below the top level (an op, a buffer, a chunk) go on one line each.
    const bool flow = depth >= 3;
    if (flow) out << YAML::Flow;
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v, depth + 1);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    const bool flow = depth >= 5 || j.empty() || !j.front().is_structured();
    if (flow) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& v : j) emit(out, v, depth + 1);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << j.get<std::string>();
  } else if (j.is_boolean()) {
    out << (j.get<bool>() ? "true" : "false");
  } else if (j.is_number_unsigned()) {
    out << j.get<std::uint64_t>();
  } else {
    out << j.get<std::int64_t>();
  }
}

// --- reading -----------------------------------------------------------------------------------------

void read(const YamlNode& n, auto& value);

struct YamlReader {
  const YamlNode& node;
  std::vector<std::string_view> seen;
  template <class T>
  void operator()(std::string_view name, T& value) {
    seen.push_back(name);
    read(node.at(name), value);
  }
};

template <class I>
I read_int(const YamlNode& n) {
  return static_cast<I>(n.as_int(static_cast<std::int64_t>(std::numeric_limits<I>::min()),
                                 static_cast<std::int64_t>(std::numeric_limits<I>::max())));
}

void read(const YamlNode& n, auto& value) {
  using T = std::remove_cvref_t<decltype(value)>;
  if constexpr (std::is_same_v<T, bool>) {
    value = n.as_bool();
  } else if constexpr (std::is_integral_v<T>) {
    value = read_int<T>(n);
  } else if constexpr (std::is_same_v<T, std::string>) {
    value = n.as_string();
  } else if constexpr (std::is_enum_v<T>) {
    value = static_cast<T>(n.as_choice(EnumNames<T>::names));
  } else if constexpr (IsQuantity<T>::value) {
    value = T(n.as_int());
  } else if constexpr (IsVector<T>::value) {
    value.clear();
    const auto size = n.size();
    value.resize(size);
    for (std::size_t i = 0; i < size; ++i) read(n[i], value[i]);
  } else {
    YamlReader r{n, {}};
    detail::describe(r, value);
    if constexpr (std::is_same_v<T, Op>) {
      r.seen.push_back("kind");
      const auto kind = n.at("kind").as_choice(kKindNames);
      // Construct the named alternative, then read its fields.
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((kind == I ? (value.kind.template emplace<I>(), void()) : void()), ...);
      }(std::make_index_sequence<std::variant_size_v<OpKind>>{});
      std::visit([&](auto& k) { detail::describe(r, k); }, value.kind);
    }
    n.check_keys(r.seen);
  }
}

// --- hashing -----------------------------------------------------------------------------------------

// XXH3-64 over every field in describe() order, integers as 8 little-endian bytes, strings and vectors
// length-prefixed. Fields are packed into a small buffer and handed to xxHash a buffer at a time: a
// P = 4096 ring is ~9 GB of fields, and per-byte FNV-1a (the first hash) took longer than simulating it.
struct Hasher {
  Hasher() {
    state = XXH3_createState();
    if (state == nullptr || XXH3_64bits_reset(state) == XXH_ERROR) throw std::bad_alloc();
  }
  ~Hasher() { XXH3_freeState(state); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void bytes(const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    while (n > 0) {
      const std::size_t k = std::min(n, buf.size() - used);
      std::memcpy(buf.data() + used, c, k);
      used += k;
      c += k;
      n -= k;
      if (used == buf.size()) flush();
    }
  }
  void integer(std::int64_t v) {
    if (buf.size() - used < 8) flush();
    // Little-endian bytes, whatever the host.
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(buf.data() + used, &v, 8);
      used += 8;
    } else {
      for (int i = 0; i < 8; ++i) buf[used++] = static_cast<unsigned char>(static_cast<std::uint64_t>(v) >> (8 * i));
    }
  }
  [[nodiscard]] std::uint64_t digest() {
    flush();
    return XXH3_64bits_digest(state);
  }
  void flush() {
    if (used > 0) XXH3_64bits_update(state, buf.data(), used);
    used = 0;
  }

  XXH3_state_t* state = nullptr;
  std::array<unsigned char, 4096> buf{};
  std::size_t used = 0;
  template <class T>
  void operator()(std::string_view /*name*/, const T& value) { feed(value); }
  template <class T>
  void feed(const T& value) {
    if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T> || std::is_enum_v<T>) {
      integer(static_cast<std::int64_t>(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
      integer(static_cast<std::int64_t>(value.size()));
      bytes(value.data(), value.size());
    } else if constexpr (IsQuantity<T>::value) {
      integer(value.value);
    } else if constexpr (IsVector<T>::value) {
      integer(static_cast<std::int64_t>(value.size()));
      for (const auto& e : value) feed(e);
    } else {
      detail::describe(*this, value);
      if constexpr (std::is_same_v<T, Op>) {
        integer(static_cast<std::int64_t>(value.kind.index()));
        std::visit([&](const auto& k) { detail::describe(*this, k); }, value.kind);
      }
    }
  }
};

}  // namespace

std::string to_json(const Schedule& s) { return schedule_tree(s).dump(); }

std::string to_yaml(const Schedule& s) {
  YAML::Emitter out;
  emit(out, schedule_tree(s), 0);
  return std::string(out.c_str()) + "\n";
}

namespace {
Schedule read_schedule(const YamlDocument& doc) {
  const auto root = doc.root();
  if (!root.is_map()) root.fail("a schedule file must be a mapping");
  const auto version = root.at("format_version").as_int();
  if (version != kFormatVersion) {
    root.at("format_version").fail(fmt::format("unsupported format version {} (this ringlab reads {})", version,
                                               kFormatVersion));
  }
  Schedule s;
  YamlReader r{root, {"format_version"}};
  detail::describe(r, s);
  root.check_keys(r.seen);
  return s;
}
}  // namespace

Schedule parse_schedule(const std::string& text, const std::string& label) {
  return read_schedule(YamlDocument::parse(text, label));
}

Schedule load_schedule(const std::string& path) { return read_schedule(YamlDocument::load_file(path)); }

void save_schedule(const Schedule& s, const std::string& path) {
  const bool as_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  write_file_atomic(path, as_json ? to_json(s) + "\n" : to_yaml(s));
}

std::string schedule_hash(const Schedule& s) { return schedule_hash(StoredSource(s)); }

namespace {
// Feeds every field of a schedule's header as describe() lists it, except that of `ranks` (the last
// field) only its count: the ranks follow one at a time, giving the bytes of the whole schedule.
struct HeaderHasher {
  Hasher& h;
  bool ranks_seen = false;
  template <class T>
  void operator()(std::string_view name, const T& value) {
    if (ranks_seen) throw std::logic_error("schedule_hash: `ranks` must be the last field of a schedule");
    if constexpr (std::is_same_v<T, std::vector<RankProgram>>) {
      if (name == "ranks") {
        h.integer(static_cast<std::int64_t>(value.size()));
        ranks_seen = true;
        return;
      }
    }
    h.feed(value);
  }
};
}  // namespace

struct ScheduleHasher::State {
  Hasher h;
  std::size_t expected = 0;
  std::size_t added = 0;
};

ScheduleHasher::ScheduleHasher(const Schedule& header) : state_(std::make_unique<State>()) {
  state_->h.integer(kFormatVersion);
  HeaderHasher hh{state_->h};
  detail::describe(hh, header);
  state_->expected = header.ranks.size();
}

ScheduleHasher::~ScheduleHasher() = default;

void ScheduleHasher::add_rank(const RankProgram& rank) {
  if (state_->added == state_->expected) throw std::logic_error("ScheduleHasher: more ranks than the header has");
  state_->h.feed(rank);
  ++state_->added;
}

std::string ScheduleHasher::value() {
  if (state_->added != state_->expected) throw std::logic_error("ScheduleHasher: not every rank was added");
  return fmt::format("{:016x}", state_->h.digest());
}

std::string schedule_hash(const ScheduleSource& source) {
  ScheduleHasher hasher(source.header());
  RankProgram scratch;
  for (std::size_t r = 0; r < source.header().ranks.size(); ++r) hasher.add_rank(source.rank(r, scratch));
  return hasher.value();
}

const char* to_string(DType v) noexcept { return EnumNames<DType>::names[static_cast<std::size_t>(v)].data(); }
const char* to_string(Pass v) noexcept { return EnumNames<Pass>::names[static_cast<std::size_t>(v)].data(); }
const char* to_string(PartitionKind v) noexcept {
  return EnumNames<PartitionKind>::names[static_cast<std::size_t>(v)].data();
}
const char* to_string(BufferRole v) noexcept { return EnumNames<BufferRole>::names[static_cast<std::size_t>(v)].data(); }
const char* to_string(Stream v) noexcept { return EnumNames<Stream>::names[static_cast<std::size_t>(v)].data(); }
const char* to_string(Mask v) noexcept { return EnumNames<Mask>::names[static_cast<std::size_t>(v)].data(); }

}  // namespace ringlab::ir
