// Tests of the cost model (analog/cost.hpp): every event count of one training step of a tiny
// network (a 3x3 convolution with 4 output positions, two dense layers) equals the count made
// by hand from the layer shapes, for backprop, DFA in both layouts and a hybrid with a frozen
// block; times and energies are the counts times the configured unit costs.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "analog/cost.hpp"
#include "core/error.hpp"
#include "training/layers.hpp"

using namespace memcarlo;
using namespace memcarlo::analog;
using training::BlockRule;

namespace {

// conv 1->2 (3x3) on 1x4x4: 2x2x2 out (4 positions), flatten, dense 8->3, tanh, dense 3->2.
training::Network tiny() {
  std::vector<training::LayerPtr> layers;
  layers.push_back(std::make_unique<training::Conv2d>(1, 2, 3));
  layers.push_back(std::make_unique<training::Flatten>());
  layers.push_back(std::make_unique<training::Dense>(8, 3));
  layers.push_back(std::make_unique<training::Tanh>());
  layers.push_back(std::make_unique<training::Dense>(3, 2));
  return training::Network(std::move(layers), {1, 4, 4}, 2);
}

const PhaseCost& phase(const StepCost& s, std::size_t i) { return s.phases.at(i); }

}  // namespace

TEST_CASE("cost model: the event counts of a tiny network equal hand counts") {
  training::Network net = tiny();
  const CostNetwork shape = cost_network(net);
  REQUIRE(shape.layers.size() == 3);
  CHECK(shape.layers[0].rows == 2);
  CHECK(shape.layers[0].cols == 9);
  CHECK(shape.layers[0].positions == 4);
  CHECK(shape.block_outputs == std::vector<std::size_t>{8, 3, 2});

  CostConfig c;  // defaults: 2 devices per weight, digital update
  const std::size_t N = 5;
  const double mac_s = c.mac_time / static_cast<double>(c.mac_parallel);
  const std::vector<BlockRule> bp(3, BlockRule::backprop), dfa(3, BlockRule::dfa);

  // Forward, the same for every rule: conv 5x4 products of 2x(2x9) cells, 9 DAC, 2 ADC each;
  // dense 8->3: 5 products of 2x24 cells; dense 3->2: 5 of 2x6.
  const StepCost b = step_cost(c, shape, bp, 0, N);
  CHECK(phase(b, 0).cell_reads == 20 * 36 + 5 * 48 + 5 * 12);
  CHECK(phase(b, 0).dac == 20 * 9 + 5 * 8 + 5 * 3);
  CHECK(phase(b, 0).adc == 20 * 2 + 5 * 3 + 5 * 2);
  CHECK(phase(b, 0).time_s == doctest::Approx(30 * c.read_time));
  CHECK(phase(b, 0).energy_J == doctest::Approx(1020 * c.read_energy + 235 * c.dac_energy + 65 * c.adc_energy));

  // Backprop's error: block 0 through dense 8->3 transposed (3 DAC, 8 ADC per product), block 1
  // through dense 3->2 transposed (2 DAC, 3 ADC); f'(a) on 8 + 3 outputs per sample.
  CHECK(phase(b, 1).cell_reads == 5 * 48 + 5 * 12);
  CHECK(phase(b, 1).dac == 5 * 3 + 5 * 2);
  CHECK(phase(b, 1).adc == 5 * 8 + 5 * 3);
  CHECK(phase(b, 1).macs == 5 * (8 + 3));
  CHECK(phase(b, 1).time_s == doctest::Approx(10 * c.read_time + 55 * mac_s));

  // Update: outer products (conv 5x4x18, dense 5x24 and 5x6) plus one accumulation per weight;
  // pulses assumed at 0.01 per weight.
  CHECK(phase(b, 2).macs == (20 * 18 + 18) + (5 * 24 + 24) + (5 * 6 + 6));
  CHECK(phase(b, 2).pulses == doctest::Approx(0.01 * 48));
  CHECK(phase(b, 2).time_s ==
        doctest::Approx(558 * mac_s + 0.48 * c.pulse_time / static_cast<double>(c.write_parallel)));
  CHECK(phase(b, 2).energy_J == doctest::Approx(558 * c.mac_energy + 0.48 * c.pulse_energy));
  CHECK(b.time_s == doctest::Approx(phase(b, 0).time_s + phase(b, 1).time_s + phase(b, 2).time_s));

  // DFA, merged (8 + 3 rows) and shared (8 rows): one product per sample through the array of
  // rows x 2 classes pairs, 2 DAC and rows ADC, every block at once.
  for (const auto& [layout, rows] : {std::pair{"merged", 11}, std::pair{"shared", 8}}) {
    CAPTURE(layout);
    const std::size_t R = feedback_rows(shape, dfa, layout);
    CHECK(R == static_cast<std::size_t>(rows));
    const StepCost d = step_cost(c, shape, dfa, R, N);
    CHECK(phase(d, 1).cell_reads == 5 * 2 * rows * 2);
    CHECK(phase(d, 1).dac == 5 * 2);
    CHECK(phase(d, 1).adc == 5 * rows);
    CHECK(phase(d, 1).macs == 5 * (8 + 3));
    CHECK(phase(d, 1).time_s == doctest::Approx(5 * c.read_time + 55 * mac_s));
    CHECK(phase(d, 0).cell_reads == phase(b, 0).cell_reads);
    CHECK(phase(d, 2).macs == phase(b, 2).macs);
  }

  // Hybrid: block 0 frozen below a backprop block: no error for it (nothing below learns), no
  // update; its transposed read is skipped.
  const std::vector<BlockRule> top{BlockRule::frozen, BlockRule::backprop, BlockRule::backprop};
  const StepCost h = step_cost(c, shape, top, 0, N);
  CHECK(phase(h, 1).cell_reads == 5 * 12);
  CHECK(phase(h, 2).macs == (5 * 24 + 24) + (5 * 6 + 6));
  // A frozen block between two backprop blocks passes the error on: its transposed read counts.
  const std::vector<BlockRule> mid{BlockRule::backprop, BlockRule::frozen, BlockRule::backprop};
  CHECK(phase(step_cost(c, shape, mid, 0, N), 1).cell_reads == 5 * 48 + 5 * 12);

  // Counted pulses replace the assumption; in_array updates take no MACs and update_slots pulse
  // slots per rank-one update (20 conv positions + 5 + 5 samples).
  CHECK(phase(step_cost(c, shape, bp, 0, N, 123.0), 2).pulses == 123.0);
  CostConfig a = c;
  a.update_mode = "in_array";
  const StepCost u = step_cost(a, shape, bp, 0, N);
  CHECK(phase(u, 2).macs == 0);
  CHECK(phase(u, 2).time_s == doctest::Approx(30 * 31 * a.pulse_time));
}

TEST_CASE("cost model: bad cost table values are refused with the key named") {
  CostConfig c;
  c.read_time = 0;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("cost.read_time = 0"), InputError);
  c = CostConfig{};
  c.adc_energy = -1;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("cost.adc_energy = -1"), InputError);
  c = CostConfig{};
  c.update_mode = "magic";
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("cost.update_mode = 'magic'"), InputError);
  c = CostConfig{};
  c.write_parallel = 0;
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("cost.write_parallel = 0"), InputError);
}
