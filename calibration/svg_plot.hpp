// Small self-contained SVG line/scatter plots for calibration reports (measured vs fitted
// curves and distributions). Output is plain SVG 1.1 that opens in any browser or in Inkscape;
// no plotting library is needed at run time. Non-finite points (and non-positive ones on a
// log axis) are skipped and break lines; series with an empty label get no legend entry.
#pragma once

#include <string>
#include <vector>

namespace memcarlo {

enum class PlotScale { linear, log };
enum class SeriesStyle { line, points, steps };  // steps: empirical CDF (right-continuous)

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
  SeriesStyle style = SeriesStyle::line;
  bool dashed = false;
};

class Plot {
 public:
  Plot(std::string title, std::string x_label, std::string y_label)
      : title_(std::move(title)), x_label_(std::move(x_label)), y_label_(std::move(y_label)) {}

  Plot& x_scale(PlotScale s) { x_scale_ = s; return *this; }
  Plot& y_scale(PlotScale s) { y_scale_ = s; return *this; }
  Plot& add(PlotSeries s) { series_.push_back(std::move(s)); return *this; }
  Plot& line(std::string label, std::vector<double> x, std::vector<double> y, bool dashed = false);
  Plot& points(std::string label, std::vector<double> x, std::vector<double> y);
  // The empirical CDF of `sample` as a step line (at most 600 steps, at evenly spaced ranks).
  Plot& ecdf(std::string label, std::vector<double> sample);

  std::string svg(int width = 720, int height = 450) const;

 private:
  std::string title_, x_label_, y_label_;
  PlotScale x_scale_ = PlotScale::linear, y_scale_ = PlotScale::linear;
  std::vector<PlotSeries> series_;
};

// Evenly spaced values, and log-spaced ones (for drawing fitted curves).
std::vector<double> linspace(double a, double b, std::size_t n);
std::vector<double> logspace(double a, double b, std::size_t n);

}  // namespace memcarlo
