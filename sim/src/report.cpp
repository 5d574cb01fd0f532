#include "ringlab/sim/report.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "ringlab/topology/kinds.hpp"

namespace ringlab::sim {

namespace {
std::string num(double v) { return trace::json_number(v); }
}  // namespace

std::string format_time(double s) {
  const double a = std::fabs(s);
  if (a >= 1.0) return fmt::format("{:.3f} s", s);
  if (a >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  if (a >= 1e-6) return fmt::format("{:.3f} us", s * 1e6);
  return fmt::format("{:.1f} ns", s * 1e9);
}

trace::Summary make_summary(const SimResult& r, const ir::Schedule& schedule, const LinkNamer& link_name,
                            const trace::SummaryBuilder* streamed) {
  trace::SummaryInputs in;
  in.single_gpu_time = r.single_gpu;
  std::size_t peak_rank = 0;
  for (std::size_t i = 0; i < r.peak_memory.size(); ++i) {
    if (r.peak_memory[i] > r.peak_memory[peak_rank]) peak_rank = i;
  }
  if (!r.peak_memory.empty()) in.peak_memory = r.peak_memory[peak_rank];
  trace::Summary s = streamed != nullptr ? streamed->finish(r.trace.schedule_hash, r.trace.source, in)
                                         : trace::summarize(r.trace, schedule, in);
  s.extra.emplace_back("gpus", fmt::format("{}", r.gpus_used));
  s.extra.emplace_back("single_gpu_time_s", num(to_seconds(r.single_gpu)));
  std::string phases = "[";
  for (const auto& p : r.phases) {
    if (phases.size() > 1) phases += ",";
    phases += fmt::format(R"({{"phase":{},"step_s":{},"compute_s":{},"transfer_s":{},"exposed_comm_s":{}}})", p.phase,
                          num(to_seconds(p.time)), num(to_seconds(p.compute)), num(to_seconds(p.comm)),
                          num(to_seconds(p.exposed_comm)));
  }
  phases += "]";
  s.extra.emplace_back("sim_phases", phases);
  s.extra.emplace_back("peak_memory_rank", fmt::format("{}", peak_rank));
  // `run` reports what its backend allocated; name what this one is (the same key, another basis).
  s.extra.emplace_back("peak_memory_basis",
                       trace::json_quote("model: the rank's buffers + framework overhead + its largest op's workspace"));
  if (r.busiest) {
    const auto& u = r.busiest->usage;
    const std::string name = link_name ? link_name(u.link) : std::string();
    s.extra.emplace_back(
        "busiest_link",
        fmt::format(R"({{"link":{},"name":{},"kind":{},"capacity_Bps":{},"bytes":{},"busy_s":{},"utilisation":{}}})",
                    u.link, trace::json_quote(name), trace::json_quote(topology::to_string(u.kind)),
                    num(u.capacity.value), num(u.bytes), num(to_seconds(u.busy)), num(r.busiest->utilisation)));
  } else {
    s.extra.emplace_back("busiest_link", "null");
  }
  s.extra.emplace_back("events", fmt::format("{}", r.events));
  return s;
}

std::string format_table(const trace::Summary& s, const SimResult& r) {
  // The simulator's own view of each phase (max over ranks): how far it moved the finish line, the
  // compute in it, the transfers from rendezvous to delivery, and the part of those with no compute.
  // (The JSON `phases` use the trace definitions shared with `ringlab run`, where a transfer's record
  // starts when it is issued, waiting for the peer included.)
  std::string out = fmt::format("{:>6}  {:>12}  {:>12}  {:>12}  {:>12}\n", "phase", "step", "compute", "transfer",
                                "exposed");
  Time t{0}, c{0}, m{0}, e{0};
  for (const auto& p : r.phases) {
    out += fmt::format("{:>6}  {:>12}  {:>12}  {:>12}  {:>12}\n", p.phase, format_time(to_seconds(p.time)),
                       format_time(to_seconds(p.compute)), format_time(to_seconds(p.comm)),
                       format_time(to_seconds(p.exposed_comm)));
    t += p.time;
    c += p.compute;
    m += p.comm;
    e += p.exposed_comm;
  }
  out += fmt::format("{:>6}  {:>12}  {:>12}  {:>12}  {:>12}\n\n", "sum", format_time(to_seconds(t)),
                     format_time(to_seconds(c)), format_time(to_seconds(m)), format_time(to_seconds(e)));
  out += fmt::format("end-to-end time     {}\n", format_time(s.total_time_s));
  out += fmt::format("one GPU, same attn  {}\n", format_time(to_seconds(r.single_gpu)));
  if (s.speedup) out += fmt::format("speedup             {:.3f}x on {} ranks ({} GPUs)\n", *s.speedup, s.ranks, r.gpus_used);
  if (s.parallel_efficiency) out += fmt::format("parallel efficiency {:.1f}%\n", 100.0 * *s.parallel_efficiency);
  out += fmt::format("overlap             {:.1f}% of transfer time hidden behind compute\n", r.overlap_pct);
  if (s.peak_memory_bytes) out += fmt::format("peak memory         {:.3f} GiB per rank\n", static_cast<double>(*s.peak_memory_bytes) / (1 << 30));
  if (r.busiest) {
    out += fmt::format("busiest link        #{} ({}), {:.1f}% utilised, {:.3f} GB carried\n", r.busiest->usage.link,
                       topology::to_string(r.busiest->usage.kind), 100.0 * r.busiest->utilisation, r.busiest->usage.bytes / 1e9);
  }
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 has no way to write the other control characters, escaped or not.
        out += static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r' ? '?' : c;
    }
  }
  return out;
}

std::string timeline_svg(const SimResult& r, const std::vector<std::int32_t>& gpu_of_rank, const std::string& title,
                         std::int32_t max_lanes) {
  // Lanes: the GPUs used, in index order.
  std::vector<std::int32_t> gpus(gpu_of_rank);
  std::sort(gpus.begin(), gpus.end());
  gpus.erase(std::unique(gpus.begin(), gpus.end()), gpus.end());
  const bool cut = static_cast<std::int32_t>(gpus.size()) > max_lanes;
  if (cut) gpus.resize(static_cast<std::size_t>(max_lanes));
  std::map<std::int32_t, std::size_t> lane;
  for (std::size_t i = 0; i < gpus.size(); ++i) lane[gpus[i]] = i;

  const double total = std::max(1e-12, to_seconds(r.total));
  double unit = 1.0;
  const char* unit_name = "s";
  if (total < 1e-3) { unit = 1e-6; unit_name = "us"; }
  else if (total < 1.0) { unit = 1e-3; unit_name = "ms"; }
  const double left = 90, right = 20, top = 40, lane_h = 16, width = 1200;
  const double plot_w = width - left - right;
  const double height = top + lane_h * static_cast<double>(gpus.size()) + 50;
  auto x = [&](Time t) { return left + plot_w * to_seconds(t) / total; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"20\" font-size=\"14\">{}{}</text>\n",
      width, height, left, xml_escape(title), cut ? fmt::format(" (first {} GPUs)", max_lanes) : "");
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    const double y = top + lane_h * static_cast<double>(i);
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">GPU {}</text>\n", left - 6, y + lane_h * 0.7, gpus[i]);
    svg += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n", left, width - right, y + lane_h, y + lane_h);
  }
  // Ops: compute upper half-lane (green), send/recv lower half-lane (orange).
  std::vector<Time> phase_end;
  for (const auto& rec : r.trace.records) {
    if (rec.phase >= phase_end.size()) phase_end.resize(rec.phase + 1, Time{0});
    phase_end[rec.phase] = std::max(phase_end[rec.phase], rec.end);
    const auto it = lane.find(gpu_of_rank[static_cast<std::size_t>(rec.rank)]);
    if (it == lane.end() || rec.end <= rec.start) continue;
    const bool comm = trace::is_comm_kind(rec.kind);
    const double y = top + lane_h * static_cast<double>(it->second) + (comm ? lane_h / 2 : 1);
    const double w = std::max(0.3, x(rec.end) - x(rec.start));
    svg += fmt::format("<rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.1f}\" fill=\"{}\" fill-opacity=\"0.85\"><title>rank {} op {} {} phase {}</title></rect>\n",
                       x(rec.start), y, w, lane_h / 2 - 1, comm ? "#f28e2b" : "#59a14f", rec.rank, rec.op, rec.kind, rec.phase);
  }
  const double bottom = top + lane_h * static_cast<double>(gpus.size());
  for (std::size_t p = 0; p < phase_end.size(); ++p) {
    svg += fmt::format("<line x1=\"{0:.2f}\" x2=\"{0:.2f}\" y1=\"{1}\" y2=\"{2:.1f}\" stroke=\"#555\" stroke-dasharray=\"3,3\"><title>end of phase {3}</title></line>\n",
                       x(phase_end[p]), top - 4, bottom, p);
  }
  // Axis: ~10 ticks at a round step.
  const double span = total / unit;
  const double raw = span / 10;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
  svg += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", left, width - right, bottom + 4, bottom + 4);
  for (double v = 0; v <= span * (1 + 1e-9); v += step) {
    const double xx = left + plot_w * v / span;
    svg += fmt::format("<line x1=\"{0:.2f}\" x2=\"{0:.2f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/><text x=\"{0:.2f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4:g}</text>\n",
                       xx, bottom + 4, bottom + 8, bottom + 20, v);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"middle\">time ({})</text>\n", left + plot_w / 2, bottom + 36, unit_name);
  svg += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"10\" height=\"8\" fill=\"#59a14f\"/><text x=\"{}\" y=\"{:.1f}\">compute</text>\n",
                     width - 200, bottom + 28, width - 186, bottom + 36);
  svg += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"10\" height=\"8\" fill=\"#f28e2b\"/><text x=\"{}\" y=\"{:.1f}\">communication</text>\n",
                     width - 120, bottom + 28, width - 106, bottom + 36);
  svg += "</svg>\n";
  return svg;
}

}  // namespace ringlab::sim
