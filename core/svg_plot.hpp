// Small self-contained SVG plots for calibration reports and campaign analyses: lines, points,
// empirical CDFs and shaded bands. Output is plain SVG 1.1 that opens in any browser or in
// Inkscape; no plotting library is needed at run time. Made to read at a glance: the legend
// sits outside the data area, a series and its fit or band can share one colour, and an axis
// whose label ends in an SI unit ("G (S)") is labelled with a prefix ("G (mS)", ticks 2.4).
// Non-finite points (and non-positive ones on a log axis) are skipped and break lines; series
// with an empty label get no legend entry.
#pragma once

#include <string>
#include <vector>

namespace memcarlo {

enum class PlotScale { linear, log };
// steps: empirical CDF (right-continuous); band: the area between y and y2
enum class SeriesStyle { line, points, steps, band };

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
  SeriesStyle style = SeriesStyle::line;
  bool dashed = false;
  std::vector<double> y2;  // band: the upper edge
  int colour = -1;         // index into the palette; -1: the next colour in order
};

class Plot {
 public:
  Plot(std::string title, std::string x_label, std::string y_label)
      : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)) {}

  Plot& x_scale(PlotScale s) { x_scale_ = s; return *this; }
  Plot& y_scale(PlotScale s) { y_scale_ = s; return *this; }
  // A categorical x axis: x = 0, 1, ... are labelled with these names.
  Plot& x_categories(std::vector<std::string> names) { x_categories_ = std::move(names); return *this; }
  Plot& add(PlotSeries s) { series_.push_back(std::move(s)); return *this; }
  Plot& line(std::string label, std::vector<double> x, std::vector<double> y, bool dashed = false);
  Plot& points(std::string label, std::vector<double> x, std::vector<double> y);
  // The shaded area between lower and upper (e.g. a confidence band), drawn under the lines.
  Plot& band(std::string label, std::vector<double> x, std::vector<double> lower,
             std::vector<double> upper);
  // The empirical CDF of `sample` as a step line (at most 600 steps, at evenly spaced ranks).
  Plot& ecdf(std::string label, std::vector<double> sample);
  // Gives the last added series palette colour `index` (a fit the colour of its data).
  Plot& colour(int index);

  // `width` is the data area's share; a legend adds its own width on the right.
  std::string svg(int width = 720, int height = 450) const;

 private:
  std::string title_, x_label_, y_label_;
  PlotScale x_scale_ = PlotScale::linear, y_scale_ = PlotScale::linear;
  std::vector<std::string> x_categories_;
  std::vector<PlotSeries> series_;
};

// An axis label's unit with an SI prefix for values of magnitude `magnitude`: ("G (S)", 2.4e-3)
// -> {"G (mS)", 1e-3}. Labels without a trailing "(unit)" of an SI unit (S, s, V, A, W, J, m,
// Hz, F, Ohm) and magnitudes between 1 and 1000 are left as they are (scale 1).
struct ScaledLabel {
  std::string label;
  double scale = 1;  // divide values by it
};
ScaledLabel si_scaled_label(const std::string& label, double magnitude);

// A heat map: values[r][c] coloured on one sequential scale (NaN cells left grey), each cell
// labelled with its value (format `cell_format`, e.g. "{:.3f}"), rows and columns named.
std::string heatmap_svg(const std::string& title, const std::string& row_label,
                        const std::vector<std::string>& rows, const std::string& col_label,
                        const std::vector<std::string>& cols,
                        const std::vector<std::vector<double>>& values,
                        const std::string& value_label);

// Evenly spaced values, and log-spaced ones (for drawing fitted curves).
std::vector<double> linspace(double a, double b, std::size_t n);
std::vector<double> logspace(double a, double b, std::size_t n);

}  // namespace memcarlo
