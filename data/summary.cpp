#include "data/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace memcarlo {

namespace {

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  std::size_t n = 0;
  double sum = 0;
  void add(double x) {
    if (std::isnan(x)) return;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sum += x;
    ++n;
  }
  double mean() const { return n ? sum / static_cast<double>(n) : std::nan(""); }
};

Range range_of(const std::vector<double>& v) {
  Range r;
  for (double x : v) r.add(x);
  return r;
}

// Conductances print in µS: the unit is in the text, so no bare µS number leaks anywhere.
std::string uS(double G_S) { return fmt::format("{:.4g} uS", G_S * 1e6); }

}  // namespace

SetSummary summarize(const Measurement& m) {
  SetSummary s;
  s.kind = kind_name(m.body);
  if (const auto* d = std::get_if<DriftData>(&m.body)) {
    const std::size_t n_dev = d->G_S.shape[0], n_t = d->G_S.shape[1];
    s.shape = fmt::format("{} dev x {} t", n_dev, n_t);
    Range first, last;
    for (std::size_t i = 0; i < n_dev; ++i) {
      first.add(d->G_S(i, 0));
      last.add(d->G_S(i, n_t - 1));
    }
    s.detail = fmt::format("t {:g}..{:g} s; mean G {} -> {}", d->t_s.front(), d->t_s.back(),
                           uS(first.mean()), uS(last.mean()));
  } else if (const auto* p = std::get_if<PulseTrainData>(&m.body)) {
    s.shape = fmt::format("{} dev x {} cyc x {} pulses", p->G.shape[0], p->G.shape[1], p->G.shape[2]);
    const Range r = range_of(p->G.data);
    s.detail = p->G_units == "S" ? fmt::format("G {} .. {}", uS(r.lo), uS(r.hi))
                                 : fmt::format("G {:.4g} .. {:.4g} (normalised)", r.lo, r.hi);
  } else if (const auto* t = std::get_if<DgTableData>(&m.body)) {
    s.shape = fmt::format("{} q x {} bins", t->cdf.size(), t->G_bins_S.size());
    const std::size_t median = t->cdf.size() / 2;
    Range med;
    for (std::size_t b = 0; b < t->G_bins_S.size(); ++b) med.add(t->dG_S(median, b));
    s.detail = fmt::format("{} G {} .. {}; median dG {} .. {}", t->polarity > 0 ? "up" : "down",
                           uS(t->G_bins_S.front()), uS(t->G_bins_S.back()), uS(med.lo), uS(med.hi));
  } else if (const auto* v = std::get_if<SamplesData>(&m.body)) {
    s.shape = fmt::format("{} values", v->value.size());
    const Range r = range_of(v->value);
    s.detail = fmt::format("{} [{}] mean {:.4g}, range {:.4g} .. {:.4g}", v->quantity, v->unit,
                           r.mean(), r.lo, r.hi);
    if (v->censor_limit)
      s.detail += fmt::format("; {} censored at {:g}", v->n_censored, *v->censor_limit);
  } else if (const auto* b = std::get_if<BakeData>(&m.body)) {
    s.shape = fmt::format("{} records", b->G_before_S.size());
    const Range T = range_of(b->temperature_K);
    Range change;
    for (std::size_t i = 0; i < b->G_before_S.size(); ++i) change.add(b->G_after_S[i] - b->G_before_S[i]);
    s.detail = fmt::format("T {:.2f}..{:.2f} K; mean dG {}", T.lo, T.hi, uS(change.mean()));
  } else if (const auto* ts = std::get_if<TimeSeriesData>(&m.body)) {
    s.shape = fmt::format("{} dev x {} samples", ts->G_S.shape[0], ts->G_S.shape[1]);
    const Range r = range_of(ts->G_S.data);
    s.detail = fmt::format("{:g} Hz; G {} .. {}", ts->sample_rate_Hz, uS(r.lo), uS(r.hi));
  }
  return s;
}

}  // namespace memcarlo
