#include "analog/records.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/hdf5.hpp"

namespace memcarlo::analog {

PulseHistogram pulse_histogram(std::span<const std::uint32_t> pulses) {
  const std::uint32_t top = pulses.empty() ? 0 : *std::max_element(pulses.begin(), pulses.end());
  PulseHistogram h;
  h.edges.push_back(0);
  h.edges.push_back(1);
  while (h.edges.back() <= static_cast<std::int64_t>(top)) h.edges.push_back(2 * h.edges.back());
  h.counts.assign(h.edges.size() - 1, 0);
  for (std::uint32_t p : pulses) {
    const auto bin = static_cast<std::size_t>(
        std::upper_bound(h.edges.begin(), h.edges.end(), static_cast<std::int64_t>(p)) -
        h.edges.begin() - 1);
    ++h.counts[bin];
  }
  return h;
}

void AnalogExtras::write(h5::Group& replica) const {
  if (!tiles.empty()) {
    h5::Group a = replica.create_group("analog");
    a.write_attr("device", device);
    a.write_attr("update", update);
    std::int64_t total = 0;
    for (const auto& t : tiles) total += t.pulses;
    a.write_attr("pulses", total);
    for (const auto& t : tiles) {
      h5::Group g = a.create_group(t.name);
      g.write_attr("rows", t.rows);
      g.write_attr("cols", t.cols);
      g.write_attr("devices", t.devices);
      g.write_attr("w_max", t.w_max);
      g.write_attr("alpha_per_S", t.alpha);
      g.write_attr("mean_step_weight", t.mean_step_weight);
      g.write_attr("epsilon_weight", t.epsilon_weight);
      g.write_attr("pulses", t.pulses);
      g.write_attr("programming_operations", t.programs);
      g.write_attr("refreshes", t.refreshes);
      g.write_attr("max_pulses_per_device", t.max_pulses);
      g.write_attr("devices_never_pulsed", t.never_pulsed);
      g.write_attr("adc_saturated_forward", t.saturated_forward);
      g.write_attr("adc_saturated_backward", t.saturated_backward);
      g.write_attr("bound_managed_forward", static_cast<std::int64_t>(t.managed_forward));
      g.write_attr("bound_managed_backward", static_cast<std::int64_t>(t.managed_backward));
      if (!t.drift_compensation.empty()) {
        g.write_attr("drift_compensation", t.drift_compensation);
        g.write_attr("drift_evaluations", t.drift_evaluations);
        g.write_attr("drift_refreshes", t.drift_refreshes);
        g.write_attr("drift_gain", t.drift_gain);
      }
      const std::size_t nb = t.histogram.counts.size();
      g.write("pulse_histogram_edges", NdArray<std::int64_t>({nb + 1}, t.histogram.edges),
              {"1", "bin edges of pulses per device: bin i holds devices with edges[i] <= pulses < "
                    "edges[i+1]"});
      g.write("pulse_histogram_counts", NdArray<std::int64_t>({nb}, t.histogram.counts),
              {"1", "devices per bin of pulses received during training"});
    }
  }
  if (inference) {
    const InferenceRecord& r = *inference;
    h5::Group g = replica.create_group("inference");
    g.write_attr("device", "pcm");
    g.write_attr("compensation_reference_time_s", r.t0_s);
    const std::size_t T = r.time_s.size(), L = r.layers.size();
    g.write("time_s", NdArray<double>({T}, r.time_s), {"s", "time after programming the chip"});
    g.write("test_accuracy", NdArray<double>({T}, r.accuracy),
            {"1", "test accuracy on the drifted chip, no drift compensation"});
    g.write("test_accuracy_compensated", NdArray<double>({T}, r.accuracy_compensated),
            {"1", "test accuracy with global drift compensation of every layer"});
    NdArray<double> c({L, T});
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t t = 0; t < T; ++t) c(l, t) = r.compensation[l][t];
    g.write("compensation_factor", c,
            {"1", "output gain of each analog layer (rows, in the order of attribute layers) at "
                  "each time: sum |W(t0) 1| / sum |W(t) 1|"});
    g.write_attr("layers", fmt::format("{}", fmt::join(r.layers, ",")));
  }
}

std::string AnalogExtras::summary() const {
  std::string s;
  if (!tiles.empty()) {
    std::int64_t pulses = 0, devices = 0, refreshes = 0;
    for (const auto& t : tiles) {
      pulses += t.pulses;
      devices += t.devices;
      refreshes += t.refreshes;
    }
    s = fmt::format("{} ({}): {} pulses, {:.3g} per device", device, update, pulses,
                    static_cast<double>(pulses) / static_cast<double>(std::max<std::int64_t>(devices, 1)));
    if (refreshes) s += fmt::format(", {} refreshes", refreshes);
  }
  if (inference) {
    const auto& r = *inference;
    s += fmt::format("{}inference on pcm after {:g} s: {:.4f} ({:.4f} compensated)",
                     s.empty() ? "" : "; ", r.time_s.back(), r.accuracy.back(),
                     r.accuracy_compensated.back());
  }
  return s;
}

}  // namespace memcarlo::analog
