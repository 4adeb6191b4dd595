#include "calibration/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.hpp"

namespace memcarlo {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

bool usable(double v, PlotScale s) { return std::isfinite(v) && (s == PlotScale::linear || v > 0); }
double transform(double v, PlotScale s) { return s == PlotScale::log ? std::log10(v) : v; }

// Tick positions in transformed coordinates over [lo, hi]: 1-2-5 steps for linear axes,
// decades for log axes (every decade, thinned to at most 8 labels).
std::vector<double> ticks(double lo, double hi, PlotScale s) {
  std::vector<double> t;
  if (s == PlotScale::log) {
    const double first = std::ceil(lo - 1e-9), last = std::floor(hi + 1e-9);
    const double step = std::max(1.0, std::ceil((last - first + 1) / 8));
    for (double d = first; d <= last; d += step) t.push_back(d);
    return t;
  }
  const double raw = (hi - lo) / 6;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step)
    t.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
  return t;
}

std::string tick_label(double v, PlotScale s) {
  if (s == PlotScale::log) return fmt::format("1e{}", static_cast<int>(std::lround(v)));
  return fmt::format("{:.4g}", v);
}

}  // namespace

Plot& Plot::line(std::string label, std::vector<double> x, std::vector<double> y, bool dashed) {
  return add({std::move(label), std::move(x), std::move(y), SeriesStyle::line, dashed});
}

Plot& Plot::points(std::string label, std::vector<double> x, std::vector<double> y) {
  return add({std::move(label), std::move(x), std::move(y), SeriesStyle::points, false});
}

Plot& Plot::ecdf(std::string label, std::vector<double> sample) {
  std::erase_if(sample, [](double v) { return !std::isfinite(v); });
  std::sort(sample.begin(), sample.end());
  // At most kMaxSteps steps, taken at evenly spaced ranks: a figure, not a data file (the full
  // ECDF of 16k devices would make a 0.5 MB SVG that looks the same).
  constexpr std::size_t kMaxSteps = 600;
  const std::size_t n = sample.size();
  std::vector<double> x, y;
  const std::size_t m = std::min(n, kMaxSteps);
  for (std::size_t k = 0; k < m; ++k) {
    const std::size_t i = m == n ? k : (k * (n - 1) + (m - 1) / 2) / (m - 1);
    x.push_back(sample[i]);
    y.push_back(static_cast<double>(i + 1) / static_cast<double>(n));
  }
  sample = std::move(x);
  return add({std::move(label), std::move(sample), std::move(y), SeriesStyle::steps, false});
}

std::string Plot::svg(int width, int height) const {
  const double left = 80, right = 20, top = 40, bottom = 60;
  const double pw = width - left - right, ph = height - top - bottom;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series_)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!usable(s.x[i], x_scale_) || !usable(s.y[i], y_scale_)) continue;
      const double tx = transform(s.x[i], x_scale_), ty = transform(s.y[i], y_scale_);
      x0 = std::min(x0, tx), x1 = std::max(x1, tx), y0 = std::min(y0, ty), y1 = std::max(y1, ty);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1;
  if (!(y0 <= y1)) y0 = 0, y1 = 1;
  const auto pad = [](double& a, double& b) {
    const double span = b - a;
    const double p = span > 0 ? 0.04 * span : (a != 0 ? 0.1 * std::abs(a) : 1.0);
    a -= p, b += p;
  };
  pad(x0, x1);
  pad(y0, y1);
  const auto px = [&](double tx) { return left + (tx - x0) / (x1 - x0) * pw; };
  const auto py = [&](double ty) { return top + ph - (ty - y0) / (y1 - y0) * ph; };

  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, width, height);
  o += fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
                   left + pw / 2, escape(title_));
  for (double t : ticks(x0, x1, x_scale_)) {
    o += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" stroke=\"#ddd\"/>"
                     "<text x=\"{0:.2f}\" y=\"{3:.2f}\" text-anchor=\"middle\">{4}</text>\n",
                     px(t), top, top + ph, top + ph + 16, tick_label(t, x_scale_));
  }
  for (double t : ticks(y0, y1, y_scale_)) {
    o += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{2:.2f}\" y2=\"{1:.2f}\" stroke=\"#ddd\"/>"
                     "<text x=\"{3:.2f}\" y=\"{4:.2f}\" text-anchor=\"end\">{5}</text>\n",
                     left, py(t), left + pw, left - 6, py(t) + 4, tick_label(t, y_scale_));
  }
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
                   left, top, pw, ph);
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2,
                   height - 18, escape(x_label_));
  o += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                   top + ph / 2, escape(y_label_));

  int legend_rows = 0;
  for (std::size_t k = 0; k < series_.size(); ++k) {
    const auto& s = series_[k];
    const char* colour = kPalette[k % std::size(kPalette)];
    const std::size_t n = std::min(s.x.size(), s.y.size());
    if (s.style == SeriesStyle::points) {
      o += fmt::format("<g fill=\"{}\" fill-opacity=\"0.6\">", colour);
      for (std::size_t i = 0; i < n; ++i) {
        if (!usable(s.x[i], x_scale_) || !usable(s.y[i], y_scale_)) continue;
        o += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.5\"/>",
                         px(transform(s.x[i], x_scale_)), py(transform(s.y[i], y_scale_)));
      }
      o += "</g>\n";
    } else {
      std::string d;
      bool pen = false;
      double last_y = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!usable(s.x[i], x_scale_) || !usable(s.y[i], y_scale_)) {
          pen = false;
          continue;
        }
        const double X = px(transform(s.x[i], x_scale_)), Y = py(transform(s.y[i], y_scale_));
        if (s.style == SeriesStyle::steps && pen) d += fmt::format("L{:.2f},{:.2f}", X, last_y);
        d += fmt::format("{}{:.2f},{:.2f}", pen ? "L" : "M", X, Y);
        pen = true;
        last_y = Y;
      }
      o += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{}/>\n", d,
                       colour, s.dashed ? " stroke-dasharray=\"6,4\"" : "");
    }
    if (s.label.empty()) continue;  // a companion line (e.g. the second edge of a band)
    const double ly = top + 14 + 16 * static_cast<double>(legend_rows++);
    o += fmt::format("<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"{}\" "
                     "stroke-width=\"{}\"{}/><text x=\"{:.2f}\" y=\"{:.2f}\">{}</text>\n",
                     left + pw - 190, ly - 4, left + pw - 170, ly - 4, colour,
                     s.style == SeriesStyle::points ? 5 : 2,
                     s.dashed ? " stroke-dasharray=\"6,4\"" : "", left + pw - 165, ly,
                     escape(s.label));
  }
  o += "</svg>\n";
  return o;
}

std::vector<double> linspace(double a, double b, std::size_t n) {
  MC_VALIDATE(n >= 2, "linspace needs at least 2 points, got {}", n);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = a + (b - a) * static_cast<double>(i) / static_cast<double>(n - 1);
  return v;
}

std::vector<double> logspace(double a, double b, std::size_t n) {
  MC_VALIDATE(a > 0 && b > 0, "logspace needs positive ends, got {} and {}", a, b);
  auto v = linspace(std::log(a), std::log(b), n);
  for (double& x : v) x = std::exp(x);
  return v;
}

}  // namespace memcarlo
