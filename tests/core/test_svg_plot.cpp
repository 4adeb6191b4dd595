// Tests of the SVG plots (core/svg_plot): structure, escaping, SI-prefixed axes, shared
// colours, a legend outside the data area, bands and heat maps.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/svg_plot.hpp"

using namespace memcarlo;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = s.find(part, at)) != std::string::npos; ++at) ++n;
  return n;
}
}  // namespace

TEST_CASE("Plot writes SVG with one path per line series and escapes text") {
  Plot p("a < b & c", "x", "y");
  p.x_scale(PlotScale::log);
  p.line("fit", {1, 10, 100}, {1, 2, 3}).points("data", {0.0, 1, 10}, {1, 2, 3}).ecdf("cdf", {3, 1, 2});
  const std::string svg = p.svg();
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(contains(svg, "a &lt; b &amp; c"));
  CHECK(contains(svg, "</svg>"));
  CHECK(count(svg, "<path") == 2);
  CHECK(count(svg, "<circle") == 2);  // x = 0 cannot be drawn on a log axis
  CHECK(linspace(0, 1, 5)[1] == 0.25);
  CHECK(logspace(1, 100, 3)[1] == doctest::Approx(10.0));
}

TEST_CASE("axis labels take SI prefixes from the magnitude of the data") {
  CHECK(si_scaled_label("G (S)", 2.4e-3).label == "G (mS)");
  CHECK(si_scaled_label("G (S)", 2.4e-3).scale == 1e-3);
  CHECK(si_scaled_label("G (S)", 25e-6).label == "G (\u00b5S)");
  CHECK(si_scaled_label("t (s)", 3.6e3).label == "t (ks)");
  CHECK(si_scaled_label("G (S)", 1e-3).label == "G (mS)");   // exact powers of 1000
  CHECK(si_scaled_label("G (S)", 999.0).label == "G (S)");   // 1 ... 1000: no prefix
  CHECK(si_scaled_label("1000 / T (1/K)", 3e-3).label == "1000 / T (1/K)");  // not an SI unit
  CHECK(si_scaled_label("accuracy", 0.9).scale == 1);
  // in a figure: the axis reads "G (mS)" with ticks in mS, never 0.0024
  Plot p("", "pulse", "G (S)");
  p.line("G", {0, 1, 2}, {1e-3, 2e-3, 3e-3});
  const std::string svg = p.svg();
  CHECK(contains(svg, ">G (mS)<"));
  CHECK(contains(svg, ">2<"));
  CHECK_FALSE(contains(svg, ">0.002<"));
  // a log axis labels each decade with its prefix
  Plot q("", "t (s)", "G (S)");
  q.y_scale(PlotScale::log).line("G", {1, 2}, {1e-6, 1e-4});
  CHECK(contains(q.svg(), ">10 \u00b5S<"));
}

TEST_CASE("a series and its fit share a colour, bands are filled, the legend is outside") {
  Plot p("", "x", "y");
  p.points("cycle 1", {0, 1}, {0, 1}).colour(3);
  p.line("cycle 1 fit", {0, 1}, {0, 1}).colour(3);
  p.band("95% CI", {0, 1}, {0, 0.5}, {0.5, 1}).colour(3);
  p.line("other", {0, 1}, {1, 0});
  const std::string svg = p.svg(720, 450);
  CHECK(count(svg, "#ff7f0e") == 6);   // palette 3: points, line, band and their legend keys
  CHECK(count(svg, "fill-opacity=\"0.2\"") == 2);  // the band and its legend key
  CHECK(contains(svg, "#1f77b4"));     // the uncoloured series takes the first colour
  // the legend starts right of the data area (x > 720 - 20)
  const auto at = svg.find(">cycle 1<");
  REQUIRE(at != std::string::npos);
  const auto x_at = svg.rfind("x=\"", at);
  CHECK(std::stod(svg.substr(x_at + 3)) > 700);
}

TEST_CASE("categorical axes name their ticks, and heat maps colour and label every cell") {
  Plot p("", "rule", "accuracy");
  p.x_categories({"bp", "dfa"}).points("mean", {0, 1}, {0.9, 0.8});
  const std::string svg = p.svg();
  CHECK(contains(svg, ">bp<"));
  CHECK(contains(svg, ">dfa<"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::string h = heatmap_svg("acc", "lr", {"0.01", "0.1"}, "rule", {"bp", "dfa"},
                                    {{0.9, 0.8}, {0.95, nan}}, "mean accuracy");
  CHECK(count(h, "<rect x=") == 4 + 20);  // cells and the colour bar
  CHECK(contains(h, ">0.95<"));
  CHECK(contains(h, ">n/a<"));
  CHECK(contains(h, "#fde725"));  // the largest value at the top of the scale
  CHECK(contains(h, "#440154"));  // the smallest at the bottom
}
