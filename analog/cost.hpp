// Time and energy of on-chip training from counted events: the [cost] table and the per-phase
// estimate of one training step, for backprop and for DFA on the same network (Lu et al., IEDM
// 2020, report DFA 3x faster and 3.3x more energy-efficient than hardware-accelerated in-memory
// backprop on their 40 nm PCM chip).
//
// The chip (assumption, Lu 2020's architecture): every dense and conv2d layer on its own
// crossbar of differential pairs (cells = 2 x rows x cols; a convolution as its unrolled
// matrix, one product per output position); DFA's feedback array of `feedback_cells` cells
// (merged or shared layout); a digital unit for what arrays cannot do. Products of one array run
// one after another (one input vector per read cycle); arrays of different layers do not
// overlap in time (no pipelining: a training step is forward, then error, then update).
//
// Events per training step of batch N, for layer l with P_l output positions (1 for dense):
//   forward    N P_l products of layer l: rows cols devices cells read, cols DAC and rows ADC
//              conversions each; time N P_l t_read per layer, summed over layers.
//   error      backprop: a block that learns by backprop gets its error through the transposed
//              array of the layer above it: N P products of that layer with rows DAC and cols
//              ADC conversions each, layer after layer (sequential latency). DFA: one product per
//              sample through the feedback array (classes DAC, its rows ADC conversions), which
//              gives every block its error at once (parallel: time N t_read). Both then multiply
//              by the activation derivative digitally: one MAC per block output and sample.
//   update     update_mode = digital: the weight gradients as outer products in the digital unit
//              (N P_l rows cols MACs per learning layer; Nandakumar 2020's mixed precision
//              computes them digitally), the accumulation (one MAC per weight), and the
//              programming pulses (measured by the tiles of the run, or `pulses_per_weight` per
//              weight and step). update_mode = in_array: the outer products applied in the array
//              by coincident stochastic pulse trains on rows and columns (Gokmen and Vlasov,
//              Front. Neurosci. 10, 333 (2016)): no MACs, update_slots pulse slots per rank-one
//              update (N P_l per layer, layer after layer), the same pulse energy.
//   Digital MACs take mac_time / mac_parallel each; pulses pulse_time / write_parallel each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "training/network.hpp"
#include "training/trainer.hpp"

namespace memcarlo::analog {

struct CostConfig {
  double read_energy = 1.8e-15;
  double read_time = 100e-9;
  double dac_energy = 0.1e-12;
  double adc_energy = 2e-12;
  double mac_energy = 1.5e-12;
  double mac_time = 1e-9;
  std::int64_t mac_parallel = 256;
  double pulse_energy = 7.5e-12;
  double pulse_time = 100e-9;
  std::int64_t write_parallel = 128;
  double pulses_per_weight = 0.01;
  std::int64_t devices_per_weight = 2;
  std::string update_mode = "digital";
  std::int64_t update_slots = 31;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"read_energy", "J", "array read, per cell per product [issue figure: 1.8 fJ; crossbar read energies of ISAAC/PUMA-class designs]"}, read_energy);
    v(ParamInfo{"read_time", "s", "one product (input vector) through an array (assumption: 100 ns, ISAAC's 100 ns read cycle)"}, read_time);
    v(ParamInfo{"dac_energy", "J", "input DAC, per conversion (assumption: 0.1 pJ)"}, dac_energy);
    v(ParamInfo{"adc_energy", "J", "output ADC, per conversion [ISAAC/PUMA 8-bit ADC: ~2 pJ]"}, adc_energy);
    v(ParamInfo{"mac_energy", "J", "digital multiply-accumulate [Horowitz, ISSCC 2014, 45 nm fp16: 1.1 pJ mult + 0.4 pJ add]"}, mac_energy);
    v(ParamInfo{"mac_time", "s", "digital MAC cycle (assumption: 1 GHz)"}, mac_time);
    v(ParamInfo{"mac_parallel", "1", "digital MACs per cycle (assumption: 256)"}, mac_parallel);
    v(ParamInfo{"pulse_energy", "J", "one programming pulse [PCM partial SET at memcarlo's default 0.15 mW x 50 ns = 7.5 pJ]"}, pulse_energy);
    v(ParamInfo{"pulse_time", "s", "one programming slot (assumption: 50 ns pulse plus 50 ns settling)"}, pulse_time);
    v(ParamInfo{"write_parallel", "1", "devices pulsed in one slot (assumption: 128, one array row)"}, write_parallel);
    v(ParamInfo{"pulses_per_weight", "1", "programming pulses per weight and step when the run has no tiles to count them (assumption: 0.01, PCM tiles' mixed precision on LeNet-5 measured 34 per device over 2,800 steps)"}, pulses_per_weight);
    v(ParamInfo{"devices_per_weight", "1", "cells per weight (2: differential pair)"}, devices_per_weight);
    v(ParamInfo{"update_mode", "", "digital (outer products in the digital unit, then pulses; mixed precision) or in_array (parallel outer-product pulses in the array; Gokmen 2016)"}, update_mode);
    v(ParamInfo{"update_slots", "1", "in_array: pulse slots per rank-one update [aihwkit default desired_bl: 31]"}, update_slots);
  }
  // clang-format on
};

// Every value; errors name the key (`cost.KEY`) and the value.
void validate(const CostConfig& config);

// What the cost model needs of a network: its linear layers and blocks.
struct CostLayer {
  std::size_t rows = 0, cols = 0;  // weight matrix: outputs x fan-in
  std::size_t positions = 1;       // products per sample (conv: output height x width)
  std::size_t block = 0;           // the block it starts
};
struct CostNetwork {
  std::vector<CostLayer> layers;            // one per block, in order
  std::vector<std::size_t> block_outputs;   // elements per sample at each block's output
  std::size_t classes = 0;
};
CostNetwork cost_network(training::Network& net);

// Counted events and their time (s) and energy (J) for one phase of one training step.
struct PhaseCost {
  std::string phase;  // forward, error, update
  double cell_reads = 0, dac = 0, adc = 0, macs = 0, pulses = 0;
  double time_s = 0, energy_J = 0;
};
struct StepCost {
  std::vector<PhaseCost> phases;  // forward, error, update
  double time_s = 0, energy_J = 0;
};

// One training step of batch `batch` under the block rules (training::BlockRule per block;
// frozen blocks neither learn nor need an error unless a backprop block below reads through
// them). feedback_rows: DFA's array rows (merged: sum of the dfa blocks' outputs, shared: the
// largest); pulses: programming pulses of the step (negative: pulses_per_weight times the
// learning weights).
StepCost step_cost(const CostConfig& config, const CostNetwork& net,
                   const std::vector<training::BlockRule>& rules, std::size_t feedback_rows,
                   std::size_t batch, double pulses = -1);

// The cost of a run: its network under the run's rules, and the same network all-backprop and
// all-DFA (train.feedback's layout sizes the array: merged or per_layer stack every hidden
// block's rows, shared keeps the largest), per step; steps = epochs x steps per epoch.
struct RunCost {
  StepCost run, backprop, dfa;
  std::size_t dfa_feedback_rows = 0;
  double steps = 0;
};
// What the cost of a run depends on besides the per-event costs: its network's structure and
// rules, batch, layout and step count. Builds the network (InputError for a bad model), so a
// caller that trains takes it before training and keeps the cost itself (arithmetic) for after.
struct CostPlan {
  CostNetwork net;
  std::vector<training::BlockRule> rules;
  std::string layout;
  std::size_t batch = 0;
  double steps = 0;
};
CostPlan plan_cost(const training::TrainConfig& train);
// pulses_per_step: the run's measured programming pulses per step (negative: the assumption of
// cost.pulses_per_weight); used for all three, so the ratios compare the other phases.
RunCost run_cost(const CostConfig& config, const CostPlan& plan, double pulses_per_step = -1);
RunCost run_cost(const CostConfig& config, const training::TrainConfig& train,
                 double pulses_per_step = -1);

// DFA's feedback array rows for the rules and layout ("merged", "per_layer", "shared").
std::size_t feedback_rows(const CostNetwork& net, const std::vector<training::BlockRule>& rules,
                          const std::string& layout);

// The cost as a record of the results file: group /cost with the per-event costs used (the
// [cost] table, in `config`), and per rule (run, backprop, dfa) the events, time and energy of
// each phase of one step.
class CostRecord final : public training::ReplicaExtras {
 public:
  CostRecord(RunCost cost, CostConfig config, std::string pulses_source)
      : cost_(std::move(cost)), config_(std::move(config)), pulses_source_(std::move(pulses_source)) {}
  void write(h5::Group& root) const override;
  std::string summary() const override;
  const RunCost& cost() const { return cost_; }

 private:
  RunCost cost_;
  CostConfig config_;
  std::string pulses_source_;
};

// The cost as text: a table per phase (events, time, energy) for backprop and DFA, their
// ratios, and the run's own per step and over the run.
std::string describe(const RunCost& cost, const training::TrainConfig& train);

}  // namespace memcarlo::analog
