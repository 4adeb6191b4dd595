// Tests of the optimizers and schedules: SGD and the schedules against closed forms, Adam
// against its first-step closed form and torch.optim.Adam's trajectory, and the state a
// checkpoint saves (a save and restore between steps changes nothing, bit for bit).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "tests/test_support.hpp"
#include "training/optimizer.hpp"

using namespace memcarlo;
using namespace memcarlo::training;

TEST_CASE("sgd: two steps with momentum and weight decay match the closed form") {
  Parameter w{"weight", Tensor({2}, 1.0f), Tensor({2}, 0.5f), true};
  Parameter b{"bias", Tensor({1}, 1.0f), Tensor({1}, 0.5f), false};
  w.value.data[1] = -2.0f;
  Sgd sgd(SgdConfig{0.9, 0.1}, {&w, &b});
  sgd.step(0.1);
  sgd.step(0.1);
  // w0 = 1, g = 0.5: d1 = 0.5 + 0.1 = 0.6, v1 = 0.6, w1 = 0.94;
  // d2 = 0.5 + 0.094 = 0.594, v2 = 0.54 + 0.594 = 1.134, w2 = 0.94 - 0.1134 = 0.8266.
  CHECK(w.value.data[0] == doctest::Approx(0.8266).epsilon(1e-6));
  CHECK(sgd.velocity(0)[0] == doctest::Approx(1.134).epsilon(1e-6));
  // w0 = -2: d1 = 0.3, w1 = -2.03; d2 = 0.5 - 0.203 = 0.297, v2 = 0.27 + 0.297 = 0.567,
  // w2 = -2.03 - 0.0567 = -2.0867.
  CHECK(w.value.data[1] == doctest::Approx(-2.0867).epsilon(1e-6));
  // No decay on the bias: v1 = 0.5, b1 = 0.95; v2 = 0.45 + 0.5 = 0.95, b2 = 0.855.
  CHECK(b.value.data[0] == doctest::Approx(0.855).epsilon(1e-6));

  // Without momentum: plain w -= lr (g + wd w).
  Parameter q{"weight", Tensor({1}, 2.0f), Tensor({1}, 1.0f), true};
  Sgd plain(SgdConfig{0.0, 0.5}, {&q});
  plain.step(0.1);
  CHECK(q.value.data[0] == doctest::Approx(2.0 - 0.1 * (1.0 + 1.0)).epsilon(1e-7));
  // reset(): the next step starts the velocity afresh.
  sgd.reset();
  sgd.step(0.0);
  CHECK(sgd.velocity(0)[0] == doctest::Approx(0.5 + 0.1 * 0.8266).epsilon(1e-6));
  CHECK_THROWS_AS(Sgd(SgdConfig{1.0, 0.0}, {&w}), InputError);
}

TEST_CASE("adam: the first step moves every weight by lr in the gradient's direction") {
  // Step 1: m = (1 - b1) g, v = (1 - b2) g^2; after the bias corrections m_hat = g and
  // v_hat = g^2, so w1 = w0 - lr g / (|g| + eps) (Kingma & Ba 2015, section 2.1).
  Parameter w{"weight", Tensor({3}, 1.0f), Tensor({3}, 0.0f), true};
  w.grad.data = {0.25f, -4.0f, 0.0f};
  Adam adam(AdamConfig{0.9, 0.999, 1e-8, 0.0}, {&w});
  adam.step(0.1);
  CHECK(w.value.data[0] == doctest::Approx(1.0 - 0.1 * 0.25 / (0.25 + 1e-8)).epsilon(1e-6));
  CHECK(w.value.data[1] == doctest::Approx(1.0 + 0.1 * 4.0 / (4.0 + 1e-8)).epsilon(1e-6));
  CHECK(w.value.data[2] == 1.0f);  // g = 0: m = 0, no move
  CHECK(adam.first_moment(0)[1] == doctest::Approx(-0.4).epsilon(1e-6));
  CHECK(adam.second_moment(0)[1] == doctest::Approx(0.016).epsilon(1e-5));
  CHECK(adam.steps() == 1);
  // reset(): the next step is a first step again.
  adam.reset();
  w.grad.data = {1.0f, 1.0f, 1.0f};
  const float before = w.value.data[2];
  adam.step(0.5);
  CHECK(w.value.data[2] == doctest::Approx(before - 0.5).epsilon(1e-6));

  const auto message = [](AdamConfig c) {
    return test::message_of([&] { Adam(c, std::vector<Parameter*>{}); });
  };
  CHECK(test::contains(message(AdamConfig{1.0, 0.999, 1e-8, 0}), "beta1"));
  CHECK(test::contains(message(AdamConfig{0.9, -0.1, 1e-8, 0}), "beta2"));
  CHECK(test::contains(message(AdamConfig{0.9, 0.999, 0.0, 0}), "eps"));
  CHECK(parse_optimizer_kind("adam") == OptimizerKind::adam);
  CHECK(test::contains(test::message_of([] { parse_optimizer_kind("rmsprop"); }), "rmsprop"));
}

TEST_CASE("adam: 20 steps follow torch.optim.Adam's trajectory (tests/reference/torch_adam_reference.csv)") {
  // The file holds, for two settings, the values torch 1.13 computes in float32 after every
  // step of a fixed sequence of gradients and learning rates (weight with L2 decay, bias
  // without). Tolerance: 4 float32 ulps of 2 (the largest |value|) per value, the order of
  // the difference an FMA or another evaluation order makes per step, accumulated over 20
  // (measured: at most 1 ulp of 1).
  std::ifstream in(std::string(MEMCARLO_SOURCE_DIR) + "/tests/reference/torch_adam_reference.csv");
  REQUIRE(in.good());
  struct Row {
    int step;
    std::string param;
    std::size_t index;
    double lr, grad, value;
  };
  std::map<std::string, std::vector<Row>> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("case,", 0) == 0) continue;
    std::stringstream ss(line);
    std::string field[7];
    for (auto& f : field) std::getline(ss, f, ',');
    cases[field[0]].push_back({std::stoi(field[1]), field[2], std::stoul(field[3]),
                               std::stod(field[4]), std::stod(field[5]), std::stod(field[6])});
  }
  REQUIRE(cases.size() == 2);
  const std::map<std::string, AdamConfig> configs = {{"default", {0.9, 0.999, 1e-8, 0.0}},
                                                     {"tuned", {0.8, 0.99, 1e-3, 0.05}}};
  for (const auto& [name, rows] : cases) {
    CAPTURE(name);
    Parameter w{"weight", Tensor({6}), Tensor({6}), true};
    Parameter b{"bias", Tensor({3}), Tensor({3}), false};
    auto param = [&](const Row& r) -> Parameter& { return r.param == "weight" ? w : b; };
    Adam adam(configs.at(name), {&w, &b});
    std::size_t k = 0, checked = 0;
    while (k < rows.size() && rows[k].step == 0) {
      param(rows[k]).value.data.at(rows[k].index) = static_cast<float>(rows[k].value);
      ++k;
    }
    while (k < rows.size()) {
      const std::size_t first = k;
      const int step = rows[k].step;
      for (; k < rows.size() && rows[k].step == step; ++k)
        param(rows[k]).grad.data.at(rows[k].index) = static_cast<float>(rows[k].grad);
      adam.step(rows[first].lr);
      for (std::size_t j = first; j < k; ++j) {
        const double got = param(rows[j]).value.data.at(rows[j].index);
        CHECK(std::fabs(got - rows[j].value) <= 4 * 2 * std::numeric_limits<float>::epsilon());
        ++checked;
      }
    }
    CHECK(checked == 20 * 9);
  }
}

TEST_CASE("learning-rate schedules match torch.optim.lr_scheduler closed forms") {
  LrSchedule constant(ScheduleConfig{ScheduleKind::constant, 0.05});
  CHECK(constant.lr(0) == 0.05);
  CHECK(constant.lr(100) == 0.05);

  ScheduleConfig step_cfg;
  step_cfg.kind = ScheduleKind::step;
  step_cfg.lr = 0.1;
  step_cfg.step_epochs = 3;
  step_cfg.gamma = 0.5;
  LrSchedule step(step_cfg);
  const double expected_step[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
  for (int e = 0; e < 7; ++e) CHECK(step.lr(e) == doctest::Approx(expected_step[e]));

  ScheduleConfig cos_cfg;
  cos_cfg.kind = ScheduleKind::cosine;
  cos_cfg.lr = 0.1;
  cos_cfg.cosine_epochs = 10;
  LrSchedule cosine(cos_cfg);
  CHECK(cosine.lr(0) == doctest::Approx(0.1));
  CHECK(cosine.lr(2) == doctest::Approx(0.1 * (1 + std::cos(std::numbers::pi / 5)) / 2));
  CHECK(cosine.lr(5) == doctest::Approx(0.05));
  CHECK(cosine.lr(10) == doctest::Approx(0.0));

  CHECK(parse_schedule_kind("cosine") == ScheduleKind::cosine);
  CHECK(test::contains(test::message_of([] { parse_schedule_kind("linear"); }), "linear"));
  step_cfg.step_epochs = 0;
  CHECK_THROWS_AS(LrSchedule{step_cfg}, InputError);
}

TEST_CASE("optimizer state: saved and restored into a new optimizer, the steps go on bit for bit") {
  // Two runs of 6 steps over the same gradients: one optimizer throughout, or a second
  // optimizer (over copies of the parameters) restored from the first's state after step 3.
  const auto gradient = [](int step, std::size_t i) {
    RngStream rng(7, static_cast<std::uint64_t>(step), stream_id("test_optimizer"));
    float g = 0;
    for (std::size_t k = 0; k <= i; ++k) g = static_cast<float>(rng.uniform() - 0.5);
    return g;
  };
  const OptimizerConfig sgd{OptimizerKind::sgd, SgdConfig{0.9, 0.01}, {}};
  const OptimizerConfig adam{OptimizerKind::adam, {}, AdamConfig{0.9, 0.999, 1e-8, 0.01}};
  for (const OptimizerConfig& config : {sgd, adam}) {
    CAPTURE(optimizer_kind_name(config.kind));
    Parameter w{"weight", Tensor({5}, 0.5f), Tensor({5}), true};
    Parameter b{"bias", Tensor({2}, -0.25f), Tensor({2}), false};
    auto straight = make_optimizer(config, {&w, &b});
    Parameter w2 = w, b2 = b;
    auto first = make_optimizer(config, {&w2, &b2});
    std::unique_ptr<Optimizer> second;
    StateArchive before;
    first->save_state(before);  // before any step: empty buffers
    for (int step = 0; step < 6; ++step) {
      for (std::size_t i = 0; i < 5; ++i) w.grad.data[i] = w2.grad.data[i] = gradient(step, i);
      for (std::size_t i = 0; i < 2; ++i) b.grad.data[i] = b2.grad.data[i] = gradient(step, 5 + i);
      straight->step(0.05);
      if (step < 3) {
        first->step(0.05);
      } else {
        if (!second) {
          StateArchive state;
          first->save_state(state);
          Parameter w3 = w2, b3 = b2;  // the tensors a checkpoint holds
          w2 = w3;
          b2 = b3;
          second = make_optimizer(config, {&w2, &b2});
          second->restore_state(state);
        }
        second->step(0.05);
      }
    }
    CHECK(w.value.data == w2.value.data);
    CHECK(b.value.data == b2.value.data);
    // the state of a fresh optimizer restores too (a checkpoint before any step)
    auto fresh = make_optimizer(config, {&w2, &b2});
    CHECK_NOTHROW(fresh->restore_state(before));
    // a state of other parameters is refused, naming the entry
    Parameter other{"weight", Tensor({4}), Tensor({4}), true};
    StateArchive state;
    first->save_state(state);
    auto mismatched = make_optimizer(config, {&other, &b2});
    CHECK_THROWS_AS(mismatched->restore_state(state), InputError);
    CHECK_THROWS_AS(make_optimizer(config, {&w2, &b2})->restore_state(StateArchive{}), InputError);
  }
}
