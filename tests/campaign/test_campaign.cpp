// Campaign files: parsing, the trial grid, seeds, and errors that list every problem.
#include <cmath>
#include <string>

#include <doctest/doctest.h>

#include "campaign/campaign.hpp"
#include "core/error.hpp"

namespace cp = memcarlo::campaign;

namespace {

cp::Campaign parse(const std::string& text) {
  return cp::parse_campaign(toml::parse(text), "C.toml", text);
}

// The message of the InputError that parsing `text` throws ("" if none).
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const memcarlo::InputError& e) {
    return e.what();
  }
  return "";
}

// The example of the format in docs/campaigns.md (and issue 12).
const std::string kExample = R"(
[campaign]
name = "variation-vs-threshold"
seed = 1
replicas = 3
combine = "product"
[base.train]
model = "mlp"
dataset = "mnist"
epochs = 1
[[axis]]
key = "train.lr"
values = [0.01, 0.05]
[[axis]]
key = "train.rule"
values = ["bp", "dfa"]
[[axis]]
key = "analog.epsilon"
range = { from = 0.1, to = 10, count = 5, scale = "log" }
)";

}  // namespace

TEST_CASE("campaign: the documented example expands to a point-major grid, last axis fastest") {
  const cp::Campaign c = parse(kExample);
  CHECK(c.name == "variation-vs-threshold");
  REQUIRE(c.axes.size() == 3);
  CHECK(c.points() == 2 * 2 * 5);
  CHECK(c.trials() == 60);
  CHECK(c.base.train.model == "mlp");
  CHECK(c.base.train.epochs == 1);
  // log range: 10^(-1 + k/2), end points exact
  REQUIRE(c.axes[2].values.size() == 5);
  for (int k = 0; k < 5; ++k)
    CHECK(std::get<double>(c.axes[2].values[k]) == doctest::Approx(std::pow(10.0, -1 + 0.5 * k)).epsilon(1e-14));
  CHECK(std::get<double>(c.axes[2].values[0]) == 0.1);
  // end points exactly as given, also where pow(10, log10(x)) would round (0.3)
  const cp::Campaign d = parse("[campaign]\nname = \"e\"\n[[axis]]\nkey = \"train.lr\"\n"
                               "range = { from = 0.3, to = 3, count = 3, scale = \"log\" }\n");
  CHECK(std::get<double>(d.axes[0].values[0]) == 0.3);
  CHECK(std::get<double>(d.axes[0].values[2]) == 3.0);
  CHECK(std::get<double>(c.axes[2].values[4]) == 10.0);

  // trial 37 = point 12, replica 1; point 12 = 1*10 + 0*5 + 2 = (1, 0, 2) in radix (2, 2, 5)
  const cp::Trial t = cp::trial(c, 37);
  CHECK(t.point == 12);
  CHECK(t.replica == 1);
  CHECK(t.value_index == std::vector<std::size_t>{1, 0, 2});
  const cp::RunConfig run = cp::resolve(c, t);
  CHECK(run.train.lr == 0.05);
  CHECK(run.train.rule == "bp");
  CHECK(run.analog.epsilon == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(run.train.replicas == 1);
  CHECK(run.train.seed == cp::replica_seed(c, 1));
  CHECK(cp::describe_point(c, t) == "train.lr = 0.05, train.rule = 'bp', analog.epsilon = 1.0");
  // every trial maps back to a distinct (point, replica)
  for (std::int64_t id = 0; id < c.trials(); ++id) {
    const cp::Trial u = cp::trial(c, id);
    CHECK(u.point * c.replicas + u.replica == id);
  }
  CHECK_THROWS_AS(cp::trial(c, 60), memcarlo::InputError);
}

TEST_CASE("campaign: replica seeds are common to every point and differ between replicas") {
  const cp::Campaign c = parse(kExample);
  const cp::RunConfig a = cp::resolve(c, cp::trial(c, 0 * 3 + 2));
  const cp::RunConfig b = cp::resolve(c, cp::trial(c, 19 * 3 + 2));
  CHECK(a.train.seed == b.train.seed);  // common random numbers across points
  CHECK(cp::replica_seed(c, 0) != cp::replica_seed(c, 1));
  CHECK(cp::replica_seed(c, 1) != cp::replica_seed(c, 2));
  for (int r = 0; r < 3; ++r) CHECK(cp::replica_seed(c, r) >= 0);
  // a function of (campaign seed, replica) alone: another seed, other seeds
  std::string other = kExample;
  other.replace(other.find("seed = 1"), 8, "seed = 2");
  const cp::Campaign d = parse(other);
  CHECK(cp::replica_seed(d, 0) != cp::replica_seed(c, 0));
}

TEST_CASE("campaign: zip pairs the axes' values, and needs axes of one length") {
  const std::string zip = R"(
[campaign]
name = "zip"
combine = "zip"
[[axis]]
key = "train.lr"
values = [0.01, 0.02, 0.03]
[[axis]]
key = "train.batch"
range = { from = 16, to = 64, count = 3 }
)";
  const cp::Campaign c = parse(zip);
  CHECK(c.points() == 3);
  const cp::RunConfig run = cp::resolve(c, cp::trial(c, 2));
  CHECK(run.train.lr == 0.03);
  CHECK(run.train.batch == 64);
  CHECK(cp::resolve(c, cp::trial(c, 1)).train.batch == 40);
  std::string uneven = zip;
  uneven.replace(uneven.find("count = 3"), 9, "count = 2");
  const std::string e = error_of(uneven);
  CHECK(e.find("combine = \"zip\" needs axes of one length") != std::string::npos);
  CHECK(e.find("train.lr 3, train.batch 2") != std::string::npos);
}

TEST_CASE("campaign: every problem is listed in one error naming the file, key and value") {
  const std::string bad = R"(
[campaign]
name = "bad"
replicas = 0
[base.train]
epochs = "three"
seed = 4
[[axis]]
key = "train.learning_rate"
values = [0.1]
[[axis]]
key = "analog.epsilon"
values = []
[[axis]]
key = "analog.dac_bits"
values = [7, 8.5]
[[axis]]
key = "train.lr"
range = { from = 0.1, to = 1, count = 3, scale = "cubic" }
)";
  const std::string e = error_of(bad);
  INFO(e);
  CHECK(e.rfind("C.toml: 7 problems: ", 0) == 0);
  CHECK(e.find("[campaign] replicas must be an integer in [1, 100000]") != std::string::npos);
  CHECK(e.find("[base.train]: key 'epochs' needs an integer") != std::string::npos);
  CHECK(e.find("[base.train] seed: the campaign sets this key itself; use [campaign] seed") != std::string::npos);
  CHECK(e.find("axis 1 (train.learning_rate): unknown key") != std::string::npos);
  CHECK(e.find("axis 2 (analog.epsilon): values is empty") != std::string::npos);
  CHECK(e.find("axis 3 (analog.dac_bits): value 2: 8.5 is not an integer") != std::string::npos);
  CHECK(e.find("axis 4 (train.lr): scale = 'cubic': use linear or log") != std::string::npos);
}

TEST_CASE("campaign: values out of range for their key are refused before any trial runs") {
  const std::string e = error_of(R"(
[campaign]
name = "range"
[[axis]]
key = "analog.epsilon"
values = [1.0, -0.5]
[[axis]]
key = "analog.adc_bits"
values = [9, 17]
)");
  INFO(e);
  CHECK(e.rfind("C.toml: 2 problems: ", 0) == 0);
  CHECK(e.find("axis analog.epsilon = -0.5: ") != std::string::npos);
  CHECK(e.find("axis analog.adc_bits = 17: ") != std::string::npos);
  // combinations invalid only together are found per point
  const std::string pair = error_of(R"(
[campaign]
name = "pair"
[base.analog]
device = "memristor"
[[axis]]
key = "analog.pair_update"
values = ["alternate", "potentiation"]
[[axis]]
key = "analog.encoding"
values = ["differential", "reference"]
)");
  INFO(pair);
  CHECK(pair.find("point 3 (analog.pair_update = 'potentiation', analog.encoding = 'reference')") !=
        std::string::npos);
}

TEST_CASE("campaign: random axes draw from the campaign seed, one stream per axis") {
  const std::string text = R"(
[campaign]
name = "random"
seed = 7
[[axis]]
key = "train.lr"
random = { distribution = "log-uniform", from = 0.001, to = 0.1, count = 50 }
[[axis]]
key = "analog.out_noise"
random = { distribution = "normal", mean = 0.5, std = 0.1, count = 4000 }
)";
  const cp::Campaign c = parse(text);
  CHECK(c.points() == 50 * 4000);
  double log_sum = 0;
  for (const auto& v : c.axes[0].values) {
    const double x = std::get<double>(v);
    CHECK(x >= 0.001);
    CHECK(x <= 0.1);
    log_sum += std::log10(x);
  }
  // log10 of a log-uniform draw is uniform on [-3, -1]: mean -2, SE sqrt(1/3)/sqrt(50) = 0.082
  CHECK(std::abs(log_sum / 50 + 2) < 4 * 0.082);
  double sum = 0, sum2 = 0;
  for (const auto& v : c.axes[1].values) {
    sum += std::get<double>(v);
    sum2 += std::get<double>(v) * std::get<double>(v);
  }
  const double n = 4000, mean = sum / n, var = sum2 / n - mean * mean;
  CHECK(std::abs(mean - 0.5) < 4 * 0.1 / std::sqrt(n));                        // 4 SE
  CHECK(std::abs(std::sqrt(var) - 0.1) < 4 * 0.1 / std::sqrt(2 * (n - 1)));    // 4 SE of the std
  // the same file gives the same draws; the first axis does not depend on the second
  CHECK(parse(text).axes[0].values == c.axes[0].values);
  std::string fewer = text;
  fewer.replace(fewer.find("count = 4000"), 12, "count = 10");
  CHECK(parse(fewer).axes[0].values == c.axes[0].values);
  // random draws need a number key
  const std::string e = error_of(R"(
[campaign]
name = "r"
[[axis]]
key = "train.epochs"
random = { distribution = "uniform", from = 1, to = 5, count = 3 }
)");
  CHECK(e.find("random draws need a key that takes a number; train.epochs takes an integer") != std::string::npos);
}

TEST_CASE("campaign: the config hash follows everything that decides a trial's run") {
  const std::string h = cp::config_hash(parse(kExample));
  CHECK(h.size() == 16);
  CHECK(cp::config_hash(parse(kExample)) == h);
  std::string lr = kExample;
  lr.replace(lr.find("0.05]"), 5, "0.06]");
  CHECK(cp::config_hash(parse(lr)) != h);
  std::string epochs = kExample;
  epochs.replace(epochs.find("epochs = 1"), 10, "epochs = 2");
  CHECK(cp::config_hash(parse(epochs)) != h);
  std::string replicas = kExample;
  replicas.replace(replicas.find("replicas = 3"), 12, "replicas = 2");
  CHECK(cp::config_hash(parse(replicas)) != h);
  // Only values that differ from the defaults count: a key stated at its default (as a key that
  // a later memcarlo adds is, implicitly) leaves the hash, and so resume and analyze, alone.
  std::string stated = kExample;
  stated.replace(stated.find("epochs = 1"), 10, "epochs = 1\nmomentum = 0.9\noptimizer = \"sgd\"");
  CHECK(cp::config_hash(parse(stated)) == h);
}

TEST_CASE("campaign: integer keys take whole numbers from a range, and a campaign has limits") {
  const std::string e = error_of(R"(
[campaign]
name = "int"
[[axis]]
key = "train.epochs"
range = { from = 1, to = 2, count = 3 }
)");
  CHECK(e.find("1.5 is not a whole number, but train.epochs takes integers") != std::string::npos);
  const std::string huge = error_of(R"(
[campaign]
name = "huge"
replicas = 100
[[axis]]
key = "train.lr"
range = { from = 0.01, to = 1, count = 1000 }
[[axis]]
key = "analog.epsilon"
range = { from = 0.1, to = 1, count = 1000 }
)");
  CHECK(huge.find("more than 1000000 trials") != std::string::npos);
  CHECK(error_of("[campaign]\nname = \"x\"\n[[axis]]\nkey = \"train.seed\"\nvalues = [1, 2]\n")
            .find("the campaign sets this key itself; use [campaign] seed") != std::string::npos);
  CHECK(error_of("[campaign]\nname = \"x\"\nfoo = 1\n").find("[campaign]: unknown key 'foo'") !=
        std::string::npos);
  CHECK(error_of("name = \"x\"\n").find("needs a [campaign] table") != std::string::npos);
}

TEST_CASE("campaign: axes and the base reach the device models' own keys") {
  const cp::Campaign c = parse(R"(
[campaign]
name = "devices"
[base.analog]
device = "memristor"
[base.memristor]
sigma_c2c = 0
[[axis]]
key = "memristor.sigma_area"
values = [0, 0.1]
[[axis]]
key = "memristor.pulses_per_cycle"
values = [16, 32]
)");
  CHECK(c.points() == 4);
  const cp::RunConfig run = cp::resolve(c, cp::trial(c, 3));
  const auto* m = run.devices["memristor"].as_table();
  REQUIRE(m);
  CHECK((*m)["sigma_area"].value<double>() == 0.1);
  CHECK((*m)["sigma_c2c"].value<double>() == 0.0);  // an integer given for a number key
  CHECK((*m)["sigma_c2c"].is_floating_point());
  CHECK((*m)["pulses_per_cycle"].value<std::int64_t>() == 32);
  CHECK(cp::run_toml(run).find("[memristor]") != std::string::npos);
  // the hash sees the device keys
  std::string other = c.text;
  other.replace(other.find("sigma_c2c = 0"), 13, "sigma_c2c = 0.01");
  CHECK(cp::config_hash(parse(other)) != cp::config_hash(c));
  // errors: a key the model lacks, a wrong type, a table the device does not read
  const std::string e = error_of(R"(
[campaign]
name = "bad devices"
[base.pcm-drift]
nu = 1
[[axis]]
key = "memristor.sigma"
values = [1]
[[axis]]
key = "memristor.pulses_per_cycle"
values = [1.5]
)");
  INFO(e);
  CHECK(e.find("[base.pcm-drift]: unknown key 'nu' of model pcm-drift") != std::string::npos);
  CHECK(e.find("axis 1 (memristor.sigma): unknown key") != std::string::npos);
  CHECK(e.find("axis 2 (memristor.pulses_per_cycle): value 1: 1.5 is not an integer") != std::string::npos);
  const std::string unused = error_of(R"(
[campaign]
name = "unused"
[[axis]]
key = "memristor.sigma_area"
values = [0.1]
)");
  CHECK(unused.find("[memristor] keys are set, but analog.device = none reads no device table") !=
        std::string::npos);
}

TEST_CASE("campaign: axes reach the PCM feedback array's keys, echoed only when the run reads them") {
  const cp::Campaign c = parse(R"(
[campaign]
name = "pcm feedback"
[base.train]
rule = "dfa"
feedback = "shared"
feedback_source = "pcm"
[base.pcm-feedback]
form = "mean_subtracted"
[[axis]]
key = "pcm-feedback.pulses"
values = [100, 400]
)");
  CHECK(c.points() == 2);
  const cp::RunConfig run = cp::resolve(c, cp::trial(c, 1));
  CHECK(run.pcm_feedback.pulses == 400);
  CHECK(run.pcm_feedback.form == "mean_subtracted");
  CHECK(cp::run_toml(run).find("[pcm-feedback]\npulses = 400") != std::string::npos);
  // A run without PCM feedback echoes no such table: its config (and hash) is as before.
  const cp::Campaign digital = parse(kExample);
  CHECK(cp::run_toml(cp::resolve(digital, cp::trial(digital, 0))).find("pcm-feedback") ==
        std::string::npos);
  const std::string e = error_of(R"(
[campaign]
name = "ignored"
[base.train]
rule = "dfa"
[[axis]]
key = "pcm-feedback.pulses"
values = [0, 100]
)");
  INFO(e);
  CHECK(e.find("pcm-feedback.pulses = 0") != std::string::npos);
  CHECK(e.find("[pcm-feedback] keys are set, but the run draws B from train.feedback_source = gaussian") !=
        std::string::npos);
}
