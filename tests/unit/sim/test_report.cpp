// The timeline picture (`ringlab simulate --svg`): what it draws, counted from a run whose ops are known
// by hand, and names from the user's files escaped.
#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"
#include "ringlab/sim/report.hpp"

using namespace ringlab;
using namespace ringlab::sim;
using namespace ringlab::sim::testing;

namespace {
std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

// Non-causal ring, P = 4, c = 1000 tokens: every rank runs 4 attention blocks of C = 512 us (512e6
// ps) and 3 sends and 3 recvs of T = 512e6 ps; merges are free (unit_params), so they take no time and
// are not drawn. Phases 0-2 take max(C, T), the last C: 2.048 ms in all.
SimResult ring4() {
  const auto s = make(mha(4 * 1000), "ring", 4);
  const auto platform = star(4, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  return simulate(s, platform, identity(4), cost);
}
}  // namespace

TEST_CASE("timeline_svg: a lane per GPU, compute green above, transfers orange below, a dashed line per phase") {
  const SimResult res = ring4();
  REQUIRE(res.total.value == 2'048'000'000);
  const std::string svg = timeline_svg(res, identity(4), "ring test");
  CHECK(svg.rfind("<svg ", 0) == 0);
  CHECK(svg.ends_with("</svg>\n"));
  for (const char* lane : {">GPU 0<", ">GPU 1<", ">GPU 2<", ">GPU 3<"}) CHECK(count(svg, lane) == 1);
  CHECK(count(svg, ">GPU ") == 4);
  // Drawn ops carry an opacity; the legend's two swatches do not.
  CHECK(count(svg, "fill=\"#59a14f\" fill-opacity") == 16);  // 4 ranks x 4 attention blocks
  CHECK(count(svg, "fill=\"#f28e2b\" fill-opacity") == 24);  // 4 ranks x (3 sends + 3 recvs)
  CHECK(count(svg, "stroke-dasharray") == 4);                // one per phase
  // The time axis in ms; the last phase ends at the plot's right edge (x = 90 + 1090).
  CHECK(count(svg, "time (ms)") == 1);
  CHECK(count(svg, "x1=\"1180.00\" x2=\"1180.00\"") >= 1);
  // Rank 0's first block starts at the left edge, on lane 0's upper half (y = 40 + 1).
  CHECK(count(svg, "<rect x=\"90.00\" y=\"41.0\"") == 1);
}

TEST_CASE("timeline_svg: at most max_lanes lanes, the title says so") {
  const SimResult res = ring4();
  const std::string svg = timeline_svg(res, identity(4), "cut", 2);
  CHECK(count(svg, ">GPU ") == 2);
  CHECK(count(svg, "cut (first 2 GPUs)") == 1);
  CHECK(count(svg, "fill=\"#59a14f\" fill-opacity") == 8);
  CHECK(count(svg, "fill=\"#f28e2b\" fill-opacity") == 12);
}

TEST_CASE("names from the user's files are escaped in the pictures") {
  CHECK(xml_escape("a<b & \"c\" 'd' >") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt;");
  CHECK(xml_escape("plain ring-x16") == "plain ring-x16");
  CHECK(xml_escape(std::string("bell\a nul") + '\0' + "\ttab") == "bell? nul?\ttab");
  const std::string svg = timeline_svg(ring4(), identity(4), "exp <1> & co");
  CHECK(count(svg, "exp &lt;1&gt; &amp; co") == 1);
  CHECK(count(svg, "<1>") == 0);
}
