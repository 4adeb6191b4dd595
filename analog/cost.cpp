#include "analog/cost.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "data/hdf5.hpp"
#include "data/datasets.hpp"
#include "training/layers.hpp"

namespace memcarlo::analog {

using training::BlockRule;

void validate(const CostConfig& c) {
  const auto positive = [](double v, const char* key) {
    MC_VALIDATE(std::isfinite(v) && v > 0, "cost.{} = {} must be positive", key, v);
  };
  const auto non_negative = [](double v, const char* key) {
    MC_VALIDATE(std::isfinite(v) && v >= 0, "cost.{} = {} must be >= 0", key, v);
  };
  non_negative(c.read_energy, "read_energy");
  positive(c.read_time, "read_time");
  non_negative(c.dac_energy, "dac_energy");
  non_negative(c.adc_energy, "adc_energy");
  non_negative(c.mac_energy, "mac_energy");
  positive(c.mac_time, "mac_time");
  non_negative(c.pulse_energy, "pulse_energy");
  positive(c.pulse_time, "pulse_time");
  non_negative(c.pulses_per_weight, "pulses_per_weight");
  MC_VALIDATE(c.mac_parallel >= 1, "cost.mac_parallel = {} must be >= 1", c.mac_parallel);
  MC_VALIDATE(c.write_parallel >= 1, "cost.write_parallel = {} must be >= 1", c.write_parallel);
  MC_VALIDATE(c.devices_per_weight == 1 || c.devices_per_weight == 2,
              "cost.devices_per_weight = {} must be 1 or 2", c.devices_per_weight);
  MC_VALIDATE(c.update_mode == "digital" || c.update_mode == "in_array",
              "cost.update_mode = '{}': use digital or in_array", c.update_mode);
  MC_VALIDATE(c.update_slots >= 1, "cost.update_slots = {} must be >= 1", c.update_slots);
}

CostNetwork cost_network(training::Network& net) {
  CostNetwork out;
  out.classes = net.classes();
  training::Shape shape = net.input_shape();
  for (std::size_t i = 0; i < net.layers(); ++i) {
    training::Layer& layer = net.layer(i);
    const training::Shape next = layer.output_shape(shape);
    if (layer.is_linear()) {
      CostLayer c;
      c.block = out.layers.size();
      if (const auto* d = dynamic_cast<const training::Dense*>(&layer)) {
        c.rows = d->out_features();
        c.cols = d->in_features();
      } else if (const auto* v = dynamic_cast<const training::Conv2d*>(&layer)) {
        c.rows = v->out_channels();
        c.cols = v->in_channels() * v->kernel() * v->kernel();
        c.positions = next[1] * next[2];
      } else {
        // An analog layer wraps one of those: its weight is rows x cols.
        const training::Parameter& w = layer.parameters()[0];
        c.rows = w.value.shape[0];
        c.cols = w.value.size() / c.rows;
        if (next.size() == 3) c.positions = next[1] * next[2];
      }
      out.layers.push_back(c);
    }
    shape = next;
  }
  for (std::size_t b = 0; b < net.blocks(); ++b) out.block_outputs.push_back(net.block_output_size(b));
  MC_VALIDATE(out.layers.size() == out.block_outputs.size(),
              "cost model: {} linear layers for {} blocks", out.layers.size(), out.block_outputs.size());
  return out;
}

StepCost step_cost(const CostConfig& c, const CostNetwork& net, const std::vector<BlockRule>& rules,
                   std::size_t feedback_rows, std::size_t batch, double pulses) {
  validate(c);
  const std::size_t B = net.layers.size();
  MC_VALIDATE(rules.size() == B, "cost model: {} rules for {} blocks", rules.size(), B);
  const double N = static_cast<double>(batch);
  const double d = static_cast<double>(c.devices_per_weight);
  const double mac_s = c.mac_time / static_cast<double>(c.mac_parallel);
  PhaseCost forward{"forward"}, error{"error"}, update{"update"};

  for (const CostLayer& l : net.layers) {
    const double products = N * static_cast<double>(l.positions);
    forward.cell_reads += products * d * static_cast<double>(l.rows * l.cols);
    forward.dac += products * static_cast<double>(l.cols);
    forward.adc += products * static_cast<double>(l.rows);
    forward.time_s += products * c.read_time;
  }

  // Which blocks get an output error, and how. Block b (not the last) learning by backprop reads
  // it through the transposed array of layer b + 1; a frozen block does so only to pass it on
  // to a backprop block below through frozen blocks; a dfa block gets it from B.
  bool any_dfa = false;
  for (std::size_t b = 0; b + 1 < B; ++b) {
    bool transposed = rules[b] == BlockRule::backprop;
    if (rules[b] == BlockRule::frozen)
      for (std::size_t a = b; a-- > 0;) {
        if (rules[a] == BlockRule::backprop) transposed = true;
        if (rules[a] != BlockRule::frozen) break;
      }
    if (transposed) {
      const CostLayer& above = net.layers[b + 1];
      const double products = N * static_cast<double>(above.positions);
      error.cell_reads += products * d * static_cast<double>(above.rows * above.cols);
      error.dac += products * static_cast<double>(above.rows);
      error.adc += products * static_cast<double>(above.cols);
      error.time_s += products * c.read_time;
    }
    if (rules[b] == BlockRule::dfa) any_dfa = true;
    if (transposed || rules[b] == BlockRule::dfa)
      error.macs += N * static_cast<double>(net.block_outputs[b]);  // times f'(a)
  }
  if (any_dfa) {
    const double rows = static_cast<double>(feedback_rows);
    error.cell_reads += N * d * rows * static_cast<double>(net.classes);
    error.dac += N * static_cast<double>(net.classes);
    error.adc += N * rows;
    error.time_s += N * c.read_time;  // one product per sample, every block at once
  }
  error.time_s += error.macs * mac_s;

  const bool in_array = c.update_mode == "in_array";
  double learning_weights = 0, rank_one = 0;
  for (std::size_t b = 0; b < B; ++b) {
    if (rules[b] == BlockRule::frozen) continue;
    const CostLayer& l = net.layers[b];
    const double weights = static_cast<double>(l.rows * l.cols);
    learning_weights += weights;
    rank_one += N * static_cast<double>(l.positions);
    if (!in_array) update.macs += N * static_cast<double>(l.positions) * weights + weights;  // outer product, accumulation
  }
  update.pulses = pulses >= 0 ? pulses : c.pulses_per_weight * learning_weights;
  update.time_s = in_array ? rank_one * static_cast<double>(c.update_slots) * c.pulse_time
                           : update.macs * mac_s + update.pulses * c.pulse_time / static_cast<double>(c.write_parallel);

  StepCost step;
  for (PhaseCost* p : {&forward, &error, &update}) {
    p->energy_J = p->cell_reads * c.read_energy + p->dac * c.dac_energy + p->adc * c.adc_energy +
                  p->macs * c.mac_energy + p->pulses * c.pulse_energy;
    step.time_s += p->time_s;
    step.energy_J += p->energy_J;
    step.phases.push_back(*p);
  }
  return step;
}

std::size_t feedback_rows(const CostNetwork& net, const std::vector<BlockRule>& rules,
                          const std::string& layout) {
  std::size_t sum = 0, largest = 0;
  for (std::size_t b = 0; b + 1 < net.layers.size(); ++b) {
    if (rules[b] != BlockRule::dfa) continue;
    sum += net.block_outputs[b];
    largest = std::max(largest, net.block_outputs[b]);
  }
  return layout == "shared" ? largest : sum;
}

CostPlan plan_cost(const training::TrainConfig& train) {
  training::Network net = training::run_network(train);
  CostPlan plan;
  plan.net = cost_network(net);
  plan.rules = net.rules();
  plan.layout = train.feedback;
  plan.batch = static_cast<std::size_t>(train.batch);
  const DatasetSpec& d = dataset_spec(parse_dataset_id(train.dataset));
  const std::size_t samples =
      train.train_samples > 0 ? std::min<std::size_t>(static_cast<std::size_t>(train.train_samples), d.train_count)
                              : d.train_count;
  plan.steps = static_cast<double>(train.epochs) * static_cast<double>(samples / plan.batch);
  return plan;
}

RunCost run_cost(const CostConfig& config, const CostPlan& plan, double pulses_per_step) {
  const std::size_t blocks = plan.net.layers.size();
  const std::vector<BlockRule> bp(blocks, BlockRule::backprop), dfa(blocks, BlockRule::dfa);
  RunCost out;
  out.dfa_feedback_rows = feedback_rows(plan.net, dfa, plan.layout);
  out.backprop = step_cost(config, plan.net, bp, 0, plan.batch, pulses_per_step);
  out.dfa = step_cost(config, plan.net, dfa, out.dfa_feedback_rows, plan.batch, pulses_per_step);
  out.run = step_cost(config, plan.net, plan.rules, feedback_rows(plan.net, plan.rules, plan.layout),
                      plan.batch, pulses_per_step);
  out.steps = plan.steps;
  return out;
}

RunCost run_cost(const CostConfig& config, const training::TrainConfig& train, double pulses_per_step) {
  return run_cost(config, plan_cost(train), pulses_per_step);
}

void CostRecord::write(h5::Group& root) const {
  h5::Group g = root.create_group("cost");
  g.write_attr("config", "[cost]\n" + to_toml(config_));
  g.write_attr("steps", cost_.steps);
  g.write_attr("dfa_feedback_rows", static_cast<std::int64_t>(cost_.dfa_feedback_rows));
  g.write_attr("pulses", pulses_source_);
  g.write_attr("backprop_over_dfa_time", cost_.backprop.time_s / cost_.dfa.time_s);
  g.write_attr("backprop_over_dfa_energy", cost_.backprop.energy_J / cost_.dfa.energy_J);
  for (const auto& [name, step] : {std::pair{"run", &cost_.run}, std::pair{"backprop", &cost_.backprop},
                                   std::pair{"dfa", &cost_.dfa}}) {
    h5::Group r = g.create_group(name);
    r.write_attr("step_time_s", step->time_s);
    r.write_attr("step_energy_J", step->energy_J);
    for (const PhaseCost& p : step->phases) {
      r.write_attr(p.phase + "_time_s", p.time_s);
      r.write_attr(p.phase + "_energy_J", p.energy_J);
      r.write_attr(p.phase + "_cell_reads", p.cell_reads);
      r.write_attr(p.phase + "_dac_conversions", p.dac);
      r.write_attr(p.phase + "_adc_conversions", p.adc);
      r.write_attr(p.phase + "_macs", p.macs);
      r.write_attr(p.phase + "_pulses", p.pulses);
    }
  }
}

std::string CostRecord::summary() const {
  return fmt::format("cost model: {:.4g} s and {:.4g} J per step ({:.4g} s, {:.4g} J over {:.0f} steps); "
                     "backprop / dfa {:.2f}x time, {:.2f}x energy",
                     cost_.run.time_s, cost_.run.energy_J, cost_.run.time_s * cost_.steps,
                     cost_.run.energy_J * cost_.steps, cost_.steps, cost_.backprop.time_s / cost_.dfa.time_s,
                     cost_.backprop.energy_J / cost_.dfa.energy_J);
}

std::string describe(const RunCost& cost, const training::TrainConfig& train) {
  std::string s = fmt::format(
      "cost model, per training step of batch {} ({} {} on {}, width {}):\n"
      "  {:<8} {:>9} {:>12} {:>12} {:>10} {:>10} {:>10} {:>12} {:>12}\n",
      train.batch, train.model, train.rule, train.dataset, train.width, "rule", "phase", "cell reads",
      "DAC", "ADC", "MACs", "pulses", "time (s)", "energy (J)");
  for (const auto& [name, step] : {std::pair{"backprop", &cost.backprop}, std::pair{"dfa", &cost.dfa}}) {
    for (const PhaseCost& p : step->phases)
      s += fmt::format("  {:<8} {:>9} {:>12.4g} {:>12.4g} {:>10.4g} {:>10.4g} {:>10.4g} {:>12.4g} {:>12.4g}\n",
                       name, p.phase, p.cell_reads, p.dac, p.adc, p.macs, p.pulses, p.time_s, p.energy_J);
    s += fmt::format("  {:<8} {:>9} {:>66} {:>12.4g} {:>12.4g}\n", name, "step", "", step->time_s,
                     step->energy_J);
  }
  // A network of one block has no error phase under either rule: no ratio to give.
  const auto ratio = [](double a, double b) {
    return b > 0 ? fmt::format("{:.2f}x", a / b) : std::string("n/a");
  };
  s += fmt::format(
      "  backprop / dfa: time {}, energy {} (Lu 2020: 3x, 3.3x); error phase alone: time {}, "
      "energy {} (DFA array {} rows, {} layout)\n",
      ratio(cost.backprop.time_s, cost.dfa.time_s), ratio(cost.backprop.energy_J, cost.dfa.energy_J),
      ratio(cost.backprop.phases[1].time_s, cost.dfa.phases[1].time_s),
      ratio(cost.backprop.phases[1].energy_J, cost.dfa.phases[1].energy_J), cost.dfa_feedback_rows,
      train.feedback);
  s += fmt::format("  this run ({}): {:.4g} s and {:.4g} J per step; {:.0f} steps: {:.4g} s, {:.4g} J\n",
                   train.rule, cost.run.time_s, cost.run.energy_J, cost.steps,
                   cost.run.time_s * cost.steps, cost.run.energy_J * cost.steps);
  return s;
}

}  // namespace memcarlo::analog
