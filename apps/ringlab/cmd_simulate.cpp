// ringlab simulate / sweep: predict a schedule's timing on a modelled cluster.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/sim/adapters.hpp"
#include "ringlab/sim/report.hpp"
#include "ringlab/sim/simulator.hpp"
#include "ringlab/trace/chrome.hpp"
#include "ringlab/trace/csv.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::app {

namespace {

struct SimulateArgs {
  std::string experiment;
  std::vector<std::string> overrides;
  std::string format = "table";
  std::string trace;
  std::string csv;
  std::string svg;
};

struct SweepArgs {
  std::string experiment;
  std::vector<std::string> overrides;
  std::vector<std::string> vary;
  std::string out;
};

struct Run {
  sim::LoadedExperiment loaded;
  sim::SimResult result;
  trace::Summary summary;
};

/// Link utilisation as Chrome-trace counter tracks: one track per link that ever carried data, its
/// value the link's total rate in GB/s from each change on.
void add_link_counters(const Run& run, trace::Trace& t) {
  const auto& cluster = *run.loaded.cluster;
  std::map<topology::LinkId, std::string> names;
  for (const auto& s : run.result.link_timeline) {
    auto [it, fresh] = names.try_emplace(s.link);
    if (fresh) it->second = fmt::format("link {} {} (GB/s)", s.link, sim::link_name(cluster, s.link));
    t.counters.push_back({it->second, s.time, s.rate / 1e9});
  }
}

// The summary is built as the simulator retires each op (no per-op log: memory stays O(ranks) at any P);
// the records are kept (`keep_trace`) only for what needs them all: the trace file, the CSV, the SVG.
Run simulate_file(const std::string& path, const std::vector<std::string>& overrides, bool keep_trace = false,
                  bool link_timeline = false) {
  Run run;
  run.loaded = sim::load_for_simulation(path, overrides);
  auto& x = run.loaded;
  const ir::Schedule& header = x.schedule->header();
  trace::SummaryBuilder summary(static_cast<std::int32_t>(header.ranks.size()), header.variant);
  sim::SimOptions options;
  options.record_trace = keep_trace;
  options.summary = &summary;
  options.record_link_timeline = link_timeline;
  run.result = sim::simulate(*x.schedule, *x.platform, x.gpu_of_rank, *x.cost, options);
  const topology::Cluster* cluster = x.cluster.get();
  run.summary = sim::make_summary(
      run.result, header, [cluster](topology::LinkId id) { return sim::link_name(*cluster, id); }, &summary);
  return run;
}

struct Axis {
  std::string key;
  std::vector<std::string> values;
};

Axis parse_vary(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    throw InputError("--vary", 0, 0, spec, "expected key=v1,v2,... (for example schedule.ranks=2,4,8)");
  }
  Axis a;
  a.key = spec.substr(0, eq);
  std::string rest = spec.substr(eq + 1);
  std::size_t pos = 0;
  while (pos <= rest.size()) {
    const auto comma = rest.find(',', pos);
    const std::string v = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (v.empty()) throw InputError("--vary", 0, 0, a.key, fmt::format("empty value in '{}'", spec));
    a.values.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return a;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::string opt_num(const std::optional<double>& v) { return v ? trace::json_number(*v) : std::string(); }

// A line plot: x = the first axis's values (evenly spaced, in the given order), one line per
// combination of the other axes; two panels, end-to-end time and speedup.
std::string sweep_svg(const std::vector<Axis>& axes, const std::vector<std::vector<std::size_t>>& points,
                      const std::vector<double>& times, const std::vector<double>& speedups, const std::string& title) {
  const double width = 900, panel_h = 260, left = 80, right = 200, top = 40, gap = 70;
  const double plot_w = width - left - right;
  const std::size_t nx = axes[0].values.size();
  auto xpos = [&](std::size_t i) { return left + (nx <= 1 ? plot_w / 2 : plot_w * static_cast<double>(i) / static_cast<double>(nx - 1)); };
  // Series: key = indices of the other axes.
  std::map<std::vector<std::size_t>, std::vector<std::pair<std::size_t, std::size_t>>> series;  // -> (x index, point)
  for (std::size_t p = 0; p < points.size(); ++p) {
    std::vector<std::size_t> rest(points[p].begin() + 1, points[p].end());
    series[rest].emplace_back(points[p][0], p);
  }
  static const char* colours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" font-size=\"14\">{}</text>\n",
      width, top + 2 * panel_h + gap + 40, left, sim::xml_escape(title));
  auto panel = [&](double y0, const std::vector<double>& v, const std::string& label, double scale, const char* unit) {
    double hi = 0;
    for (const double x : v) hi = std::max(hi, x * scale);
    if (hi <= 0) hi = 1;
    const double mag = std::pow(10.0, std::floor(std::log10(hi / 5)));
    const double step = hi / 5 / mag < 2 ? 2 * mag : hi / 5 / mag < 5 ? 5 * mag : 10 * mag;
    const double top_v = std::ceil(hi / step) * step;
    auto ypos = [&](double x) { return y0 + panel_h - panel_h * x * scale / top_v; };
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"12\">{} ({})</text>\n", left, y0 - 8, label, unit);
    for (double t = 0; t <= top_v * (1 + 1e-9); t += step) {
      const double y = y0 + panel_h - panel_h * t / top_v;
      svg += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n",
                         left, left + plot_w, y, y, left - 6, y + 4, t);
    }
    for (std::size_t i = 0; i < nx; ++i) {
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", xpos(i), y0 + panel_h + 16,
                         sim::xml_escape(axes[0].values[i]));
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", left + plot_w / 2, y0 + panel_h + 32,
                       sim::xml_escape(axes[0].key));
    std::size_t k = 0;
    for (const auto& [rest, pts] : series) {
      const char* colour = colours[k % 8];
      std::string d;
      for (const auto& [xi, p] : pts) d += fmt::format("{}{:.1f},{:.1f}", d.empty() ? "M" : " L", xpos(xi), ypos(v[p]));
      svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", d, colour);
      for (const auto& [xi, p] : pts) {
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", xpos(xi), ypos(v[p]), colour);
      }
      std::string name;
      for (std::size_t a = 0; a < rest.size(); ++a) {
        name += fmt::format("{}{}={}", a ? " " : "", axes[a + 1].key, axes[a + 1].values[rest[a]]);
      }
      if (name.empty()) name = label;
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n", left + plot_w + 12, y0 + 14 * static_cast<double>(k + 1), colour,
                         sim::xml_escape(name));
      ++k;
    }
  };
  panel(top + 20, times, "end-to-end time", 1e3, "ms");
  panel(top + 20 + panel_h + gap, speedups, "speedup over one GPU", 1.0, "x");
  svg += "</svg>\n";
  return svg;
}

}  // namespace

void add_simulate_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SimulateArgs>();
  auto* sim_cmd = app.add_subcommand("simulate", "Predict an experiment's timing on its modelled cluster");
  sim_cmd->add_option("experiment", args->experiment, "Experiment YAML file")->required();
  sim_cmd->add_option("--set", args->overrides, "Override a scalar of the experiment: dotted.key=value (repeatable)");
  sim_cmd->add_option("--format", args->format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  sim_cmd->add_option("--trace", args->trace, "Write the predicted trace as Chrome trace JSON (Perfetto)");
  sim_cmd->add_option("--csv", args->csv, "Write the per-phase CSV");
  sim_cmd->add_option("--svg", args->svg, "Write a timeline picture (SVG)");
  sim_cmd->callback([args, &exit_code] {
    const bool keep_trace = !args->trace.empty() || !args->csv.empty() || !args->svg.empty();
    const Run run = simulate_file(args->experiment, args->overrides, keep_trace, !args->trace.empty());
    const auto& x = run.loaded;
    if (!args->trace.empty()) {
      auto t = run.result.trace;
      add_link_counters(run, t);
      trace::write_chrome_trace(args->trace, t);
    }
    if (!args->csv.empty()) trace::write_phase_csv(args->csv, run.result.trace);
    if (!args->svg.empty()) {
      const std::string title = fmt::format("{}: {} on {} ranks, {}", x.experiment.name, x.schedule->header().variant,
                                            x.schedule->header().ranks.size(), x.cluster->name());
      write_file_atomic(args->svg, sim::timeline_svg(run.result, x.gpu_of_rank, title));
    }
    if (args->format == "json") {
      fmt::print("{}\n", trace::to_json(run.summary));
    } else {
      fmt::print("experiment  {} ({})\ncluster     {} ({} GPUs)\nschedule    {} on {} ranks, hash {}\n\n",
                 x.experiment.name, x.experiment.file, x.cluster->name(), x.cluster->gpu_count(), x.schedule->header().variant,
                 x.schedule->header().ranks.size(), run.summary.schedule_hash);
      fmt::print("{}", sim::format_table(run.summary, run.result));
      if (run.result.busiest) {
        fmt::print("                    {}\n", sim::link_name(*x.cluster, run.result.busiest->usage.link));
      }
    }
    exit_code = 0;
  });

  auto sargs = std::make_shared<SweepArgs>();
  auto* sweep = app.add_subcommand("sweep", "Simulate an experiment over the product of varied values");
  sweep->add_option("experiment", sargs->experiment, "Experiment YAML file")->required();
  sweep->add_option("--vary", sargs->vary, "key=v1,v2,... (repeatable; the first is the plot's x axis)")->required();
  sweep->add_option("--set", sargs->overrides, "Override a scalar of the experiment: dotted.key=value (repeatable)");
  sweep->add_option("--out", sargs->out, "Output prefix: writes PREFIX.csv and PREFIX.svg")->required();
  sweep->callback([sargs, &exit_code] {
    std::vector<Axis> axes;
    for (const auto& v : sargs->vary) axes.push_back(parse_vary(v));
    // A key varied twice, or varied and fixed by --set, would have one value silently override the
    // other while the CSV still listed both.
    for (std::size_t a = 0; a < axes.size(); ++a) {
      for (std::size_t b = 0; b < a; ++b) {
        if (axes[b].key == axes[a].key) {
          throw InputError("--vary", 0, 0, axes[a].key, "varied twice: give all its values in one --vary");
        }
      }
      for (const auto& o : sargs->overrides) {
        if (o.substr(0, o.find('=')) == axes[a].key) {
          throw InputError("--vary", 0, 0, axes[a].key, fmt::format("also fixed by --set {}: vary it or set it, not both", o));
        }
      }
    }
    std::vector<std::vector<std::size_t>> points(1);
    for (std::size_t a = axes.size(); a-- > 0;) {  // the first axis varies slowest
      std::vector<std::vector<std::size_t>> next;
      for (std::size_t i = 0; i < axes[a].values.size(); ++i) {
        for (const auto& p : points) {
          std::vector<std::size_t> q{i};
          q.insert(q.end(), p.begin(), p.end());
          next.push_back(std::move(q));
        }
      }
      points = std::move(next);
    }
    std::sort(points.begin(), points.end());
    const bool tty = isatty(fileno(stderr)) != 0;
    std::string csv;
    for (const auto& a : axes) csv += csv_field(a.key) + ",";
    csv += "total_time_s,single_gpu_time_s,speedup,parallel_efficiency,overlap_pct,peak_memory_bytes,"
           "busiest_link,busiest_link_utilisation,schedule_hash\n";
    std::vector<double> times, speedups;
    std::string name;
    for (std::size_t p = 0; p < points.size(); ++p) {
      std::vector<std::string> overrides = sargs->overrides;
      std::string label;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        overrides.push_back(axes[a].key + "=" + axes[a].values[points[p][a]]);
        label += fmt::format("{}{}={}", a ? " " : "", axes[a].key, axes[a].values[points[p][a]]);
      }
      if (tty) fmt::print(stderr, "\r[{}/{}] {}\x1b[K", p + 1, points.size(), label);
      const Run run = [&] {
        try {
          return simulate_file(sargs->experiment, overrides);
        } catch (const InputError& e) {
          // The varied values go in as overrides: name the option the user wrote.
          for (const auto& a : axes) {
            if (e.file() == "--set" && e.field() == a.key) throw InputError("--vary", 0, 0, e.field(), e.reason());
          }
          throw;
        }
      }();
      name = run.loaded.experiment.name;
      for (std::size_t a = 0; a < axes.size(); ++a) csv += csv_field(axes[a].values[points[p][a]]) + ",";
      const auto& s = run.summary;
      const auto& r = run.result;
      csv += fmt::format("{},{},{},{},{},{},{},{},{}\n", trace::json_number(s.total_time_s),
                         trace::json_number(to_seconds(r.single_gpu)), opt_num(s.speedup), opt_num(s.parallel_efficiency),
                         trace::json_number(s.overlap_pct), s.peak_memory_bytes ? fmt::format("{}", *s.peak_memory_bytes) : "",
                         r.busiest ? csv_field(sim::link_name(*run.loaded.cluster, r.busiest->usage.link)) : "",
                         r.busiest ? trace::json_number(r.busiest->utilisation) : "", s.schedule_hash);
      times.push_back(s.total_time_s);
      speedups.push_back(s.speedup.value_or(0.0));
    }
    if (tty) fmt::print(stderr, "\r\x1b[K");
    write_file_atomic(sargs->out + ".csv", csv);
    write_file_atomic(sargs->out + ".svg", sweep_svg(axes, points, times, speedups, fmt::format("sweep of {}", name)));
    fmt::print("{} points -> {}.csv, {}.svg\n", points.size(), sargs->out, sargs->out);
    exit_code = 0;
  });
}

}  // namespace ringlab::app
