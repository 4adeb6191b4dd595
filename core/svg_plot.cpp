#include "core/svg_plot.hpp"

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

// The SI unit at the end of an axis label ("G (S)" -> "S"), or "" if there is none.
std::string trailing_unit(const std::string& label, std::string* stem = nullptr) {
  static const char* const kUnits[] = {"S", "s", "V", "A", "W", "J", "m", "Hz", "F", "Ohm"};
  if (label.size() < 4 || label.back() != ')') return "";
  const auto open = label.rfind(" (");
  if (open == std::string::npos) return "";
  const std::string unit = label.substr(open + 2, label.size() - open - 3);
  for (const char* u : kUnits)
    if (unit == u) {
      if (stem) *stem = label.substr(0, open);
      return unit;
    }
  return "";
}

// Prefix for 10^exponent, exponent a multiple of 3 in [-15, 12].
const char* si_prefix(int exponent) {
  switch (exponent) {
    case -15: return "f";
    case -12: return "p";
    case -9: return "n";
    case -6: return "\u00b5";
    case -3: return "m";
    case 3: return "k";
    case 6: return "M";
    case 9: return "G";
    case 12: return "T";
    default: return "";
  }
}

int si_exponent(double magnitude) {
  if (!(magnitude > 0) || !std::isfinite(magnitude)) return 0;
  const int e = static_cast<int>(std::floor(std::log10(magnitude) / 3 + 1e-9)) * 3;
  return std::clamp(e, -15, 12);
}

// A tick of a log axis: its decade with the unit's prefix ("10 uS") or as 1eN without a unit.
std::string log_tick_label(double decade, const std::string& unit) {
  const int d = static_cast<int>(std::lround(decade));
  if (unit.empty()) return fmt::format("1e{}", d);
  const int e = std::clamp(static_cast<int>(std::floor(d / 3.0)) * 3, -15, 12);
  return fmt::format("{:g} {}{}", std::pow(10.0, d - e), si_prefix(e), unit);
}

PlotSeries make_series(std::string label, std::vector<double> x, std::vector<double> y,
                       SeriesStyle style) {
  PlotSeries s;
  s.label = std::move(label);
  s.x = std::move(x);
  s.y = std::move(y);
  s.style = style;
  return s;
}

}  // namespace

ScaledLabel si_scaled_label(const std::string& label, double magnitude) {
  std::string stem;
  const std::string unit = trailing_unit(label, &stem);
  const int e = si_exponent(magnitude);
  if (unit.empty() || e == 0) return {label, 1.0};
  return {fmt::format("{} ({}{})", stem, si_prefix(e), unit), std::pow(10.0, e)};
}

Plot& Plot::line(std::string label, std::vector<double> x, std::vector<double> y, bool dashed) {
  PlotSeries s = make_series(std::move(label), std::move(x), std::move(y), SeriesStyle::line);
  s.dashed = dashed;
  return add(std::move(s));
}

Plot& Plot::points(std::string label, std::vector<double> x, std::vector<double> y) {
  return add(make_series(std::move(label), std::move(x), std::move(y), SeriesStyle::points));
}

Plot& Plot::band(std::string label, std::vector<double> x, std::vector<double> lower,
                 std::vector<double> upper) {
  PlotSeries s = make_series(std::move(label), std::move(x), std::move(lower), SeriesStyle::band);
  s.y2 = std::move(upper);
  return add(std::move(s));
}

Plot& Plot::colour(int index) {
  MC_VALIDATE(!series_.empty() && index >= 0, "Plot::colour needs a series and an index >= 0");
  series_.back().colour = index;
  return *this;
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
  return add(make_series(std::move(label), std::move(sample), std::move(y), SeriesStyle::steps));
}

std::string Plot::svg(int width, int height) const {
  const double left = 80, right = 20, top = 40, bottom = 60;
  const double pw = width - left - right, ph = height - top - bottom;
  const bool categorical = !x_categories_.empty();
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  double x_mag = 0, y_mag = 0;  // largest |value| drawn, for the SI prefixes
  const auto include = [&](double x, double y) {
    if (!usable(x, x_scale_) || !usable(y, y_scale_)) return;
    const double tx = transform(x, x_scale_), ty = transform(y, y_scale_);
    x0 = std::min(x0, tx), x1 = std::max(x1, tx), y0 = std::min(y0, ty), y1 = std::max(y1, ty);
    x_mag = std::max(x_mag, std::abs(x)), y_mag = std::max(y_mag, std::abs(y));
  };
  for (const auto& s : series_) {
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) include(s.x[i], s.y[i]);
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y2.size()); ++i) include(s.x[i], s.y2[i]);
  }
  if (!(x0 <= x1)) x0 = 0, x1 = 1;
  if (!(y0 <= y1)) y0 = 0, y1 = 1;
  const auto pad = [](double& a, double& b) {
    const double span = b - a;
    const double p = span > 0 ? 0.04 * span : (a != 0 ? 0.1 * std::abs(a) : 1.0);
    a -= p, b += p;
  };
  if (categorical) {
    x0 = -0.5, x1 = static_cast<double>(x_categories_.size()) - 0.5;
  } else {
    pad(x0, x1);
  }
  pad(y0, y1);
  const auto px = [&](double tx) { return left + (tx - x0) / (x1 - x0) * pw; };
  const auto py = [&](double ty) { return top + ph - (ty - y0) / (y1 - y0) * ph; };

  // Axis labels with SI prefixes (linear axes: one prefix for the axis; log axes: per tick).
  const ScaledLabel xl = x_scale_ == PlotScale::linear && !categorical
                             ? si_scaled_label(x_label_, x_mag)
                             : ScaledLabel{x_label_, 1.0};
  const ScaledLabel yl = y_scale_ == PlotScale::linear ? si_scaled_label(y_label_, y_mag)
                                                       : ScaledLabel{y_label_, 1.0};
  const auto tick_text = [](double t, PlotScale scale, double unit_scale, const std::string& label) {
    if (scale == PlotScale::log) return log_tick_label(t, trailing_unit(label));
    return fmt::format("{:.4g}", t / unit_scale);
  };

  // The legend: outside the data area, on the right, so it never covers data.
  std::size_t longest = 0, entries = 0;
  for (const auto& s : series_)
    if (!s.label.empty()) longest = std::max(longest, s.label.size()), ++entries;
  const double legend_w = entries ? std::min(420.0, 40.0 + 6.6 * static_cast<double>(longest)) : 0.0;
  const double total_w = width + legend_w;

  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      total_w, height);
  o += fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
                   left + pw / 2, escape(title_));
  if (categorical) {
    for (std::size_t k = 0; k < x_categories_.size(); ++k)
      o += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{}</text>\n",
                       px(static_cast<double>(k)), top + ph + 16, escape(x_categories_[k]));
  } else {
    for (double t : ticks(x0, x1, x_scale_)) {
      o += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{0:.2f}\" y=\"{3:.2f}\" text-anchor=\"middle\">{4}</text>\n",
                       px(t), top, top + ph, top + ph + 16, tick_text(t, x_scale_, xl.scale, x_label_));
    }
  }
  for (double t : ticks(y0, y1, y_scale_)) {
    o += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{2:.2f}\" y2=\"{1:.2f}\" stroke=\"#ddd\"/>"
                     "<text x=\"{3:.2f}\" y=\"{4:.2f}\" text-anchor=\"end\">{5}</text>\n",
                     left, py(t), left + pw, left - 6, py(t) + 4, tick_text(t, y_scale_, yl.scale, y_label_));
  }
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
                   left, top, pw, ph);
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2,
                   height - 18, escape(xl.label));
  o += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                   top + ph / 2, escape(yl.label));

  // Colours: explicit ones as given, the others in order.
  std::vector<const char*> colours;
  int next = 0;
  for (const auto& s : series_)
    colours.push_back(kPalette[static_cast<std::size_t>(s.colour >= 0 ? s.colour : next++) % std::size(kPalette)]);

  // Bands first, so that lines and points lie on top of them.
  for (std::size_t k = 0; k < series_.size(); ++k) {
    const auto& s = series_[k];
    if (s.style != SeriesStyle::band) continue;
    std::string up, down;
    const std::size_t n = std::min({s.x.size(), s.y.size(), s.y2.size()});
    for (std::size_t i = 0; i < n; ++i) {
      if (!usable(s.x[i], x_scale_) || !usable(s.y[i], y_scale_) || !usable(s.y2[i], y_scale_)) continue;
      const double X = px(transform(s.x[i], x_scale_));
      up += fmt::format("{}{:.2f},{:.2f}", up.empty() ? "M" : "L", X, py(transform(s.y2[i], y_scale_)));
      down = fmt::format("L{:.2f},{:.2f}", X, py(transform(s.y[i], y_scale_))) + down;
    }
    if (!up.empty())
      o += fmt::format("<path d=\"{}{}Z\" fill=\"{}\" fill-opacity=\"0.2\" stroke=\"none\"/>\n", up,
                       down, colours[k]);
  }
  for (std::size_t k = 0; k < series_.size(); ++k) {
    const auto& s = series_[k];
    const char* colour = colours[k];
    const std::size_t n = std::min(s.x.size(), s.y.size());
    if (s.style == SeriesStyle::band) continue;
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
  }
  int legend_rows = 0;
  const double lx = left + pw + right + 8;
  for (std::size_t k = 0; k < series_.size(); ++k) {
    const auto& s = series_[k];
    if (s.label.empty()) continue;  // a companion line (e.g. the second edge of a band)
    const double ly = top + 14 + 16 * static_cast<double>(legend_rows++);
    if (s.style == SeriesStyle::band)
      o += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"20\" height=\"10\" fill=\"{}\" "
                       "fill-opacity=\"0.2\"/>",
                       lx, ly - 9, colours[k]);
    else
      o += fmt::format("<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"{}\" "
                       "stroke-width=\"{}\"{}/>",
                       lx, ly - 4, lx + 20, ly - 4, colours[k], s.style == SeriesStyle::points ? 5 : 2,
                       s.dashed ? " stroke-dasharray=\"6,4\"" : "");
    o += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\">{}</text>\n", lx + 25, ly, escape(s.label));
  }
  o += "</svg>\n";
  return o;
}

namespace {

// A sequential colour scale (viridis, by its published anchor colours), f in [0, 1].
std::string sequential_colour(double f) {
  static const double kAnchors[][3] = {{68, 1, 84},    {59, 82, 139},  {33, 145, 140},
                                       {94, 201, 98},  {253, 231, 37}};
  f = std::clamp(f, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(f));
  const double t = f - i;
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<int>(std::lround(kAnchors[i][c] + t * (kAnchors[i + 1][c] - kAnchors[i][c])));
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

}  // namespace

std::string heatmap_svg(const std::string& title, const std::string& row_label,
                        const std::vector<std::string>& rows, const std::string& col_label,
                        const std::vector<std::string>& cols,
                        const std::vector<std::vector<double>>& values,
                        const std::string& value_label) {
  std::size_t row_text = 0;
  for (const auto& r : rows) row_text = std::max(row_text, r.size());
  std::size_t col_text = 0;
  for (const auto& c : cols) col_text = std::max(col_text, c.size());
  const double cell_w = std::max(90.0, 14.0 + 7.0 * static_cast<double>(col_text)), cell_h = 32;
  const double left = 50 + 7.0 * static_cast<double>(row_text), top = 50;
  const double bar = std::max(90.0, 12.0 + 6.6 * static_cast<double>(value_label.size()));
  const double w = left + cell_w * static_cast<double>(cols.size()) + 20 + bar;
  const double h = top + cell_h * static_cast<double>(rows.size()) + 60;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& row : values)
    for (double v : row)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  const auto fraction = [&](double v) { return hi > lo ? (v - lo) / (hi - lo) : 0.5; };
  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{3}</text>\n",
      w, h, w / 2, escape(title));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const double y = top + cell_h * static_cast<double>(r);
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6,
                     y + cell_h / 2 + 4, escape(rows[r]));
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const double v = r < values.size() && c < values[r].size()
                           ? values[r][c]
                           : std::numeric_limits<double>::quiet_NaN();
      const double x = left + cell_w * static_cast<double>(c);
      const bool finite = std::isfinite(v);
      o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
                       "stroke=\"white\"/>",
                       x, y, cell_w, cell_h, finite ? sequential_colour(fraction(v)) : "#cccccc");
      o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
                       x + cell_w / 2, y + cell_h / 2 + 4,
                       finite && fraction(v) < 0.6 ? "white" : "black",
                       finite ? fmt::format("{:.4g}", v) : std::string("n/a"));
    }
  }
  for (std::size_t c = 0; c < cols.size(); ++c)
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                     left + cell_w * (static_cast<double>(c) + 0.5),
                     top + cell_h * static_cast<double>(rows.size()) + 16, escape(cols[c]));
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                   left + cell_w * static_cast<double>(cols.size()) / 2, h - 12, escape(col_label));
  o += fmt::format("<text x=\"12\" y=\"{:.1f}\">{}</text>\n", top - 10, escape(row_label));
  // colour bar
  const double bx = left + cell_w * static_cast<double>(cols.size()) + 20;
  const double bh = std::max(80.0, cell_h * static_cast<double>(rows.size()));
  for (int i = 0; i < 20; ++i)
    o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"{:.2f}\" fill=\"{}\"/>",
                     bx, top + bh * (1 - (i + 1) / 20.0), bh / 20 + 0.5, sequential_colour((i + 0.5) / 20));
  o += fmt::format("\n<text x=\"{0:.1f}\" y=\"{1:.1f}\">{2}</text><text x=\"{0:.1f}\" y=\"{3:.1f}\">{4}</text>"
                   "<text x=\"{5:.1f}\" y=\"{6:.1f}\" font-size=\"11\">{7}</text>\n",
                   bx + 18, top + 10, std::isfinite(hi) ? fmt::format("{:.4g}", hi) : "",
                   top + bh, std::isfinite(lo) ? fmt::format("{:.4g}", lo) : "", bx, top - 10,
                   escape(value_label));
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
