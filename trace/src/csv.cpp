#include "ringlab/trace/csv.hpp"

#include <fmt/format.h>

#include "analysis.hpp"
#include "ringlab/core/yaml.hpp"

namespace ringlab::trace {

std::string to_phase_csv(const Trace& trace) {
  const auto an = detail::analyse(trace);
  std::string out = "phase,rank,start_us,end_us,time_us,compute_us,comm_us,exposed_comm_us,ops,bytes,flops\n";
  for (const auto& [key, st] : an.by_phase_rank) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", key.first, key.second,
                       detail::ps_as_us(st.start - an.first_start), detail::ps_as_us(st.end - an.first_start),
                       detail::ps_as_us(st.end - st.start), detail::ps_as_us(st.compute),
                       detail::ps_as_us(st.comm), detail::ps_as_us(st.exposed), st.ops, st.bytes, st.flops);
  }
  return out;
}

void write_phase_csv(const std::string& path, const Trace& trace) { write_file_atomic(path, to_phase_csv(trace)); }

}  // namespace ringlab::trace
