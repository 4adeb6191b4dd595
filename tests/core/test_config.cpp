// Tests of the visit-based config machinery: filling a config from TOML tables, files and
// `--set key=value` assignments, the errors for unknown keys and wrong types, the --help
// listing, and the TOML echo that must read back to the same values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using namespace memcarlo::test;

namespace {

// A config of every supported member type, with units and docs as the real ones have.
struct TestConfig {
  double E_a_eV = 0.3;
  std::int64_t n_devices = 16;
  bool enabled = true;
  std::string label = "gst";
  double T_kelvin = 300.0;

  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"E_a", "eV", "activation energy [assumption]"}, E_a_eV);
    v(ParamInfo{"n_devices", "1", "number of devices"}, n_devices);
    v(ParamInfo{"enabled", "", "switch"}, enabled);
    v(ParamInfo{"label", "", "material name"}, label);
    v(ParamInfo{"T", "K", "ambient temperature"}, T_kelvin);
  }
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("apply_table sets every member type from TOML") {
  TestConfig c;
  apply_table(c, toml::parse(R"(
E_a = 0.25
n_devices = 32
enabled = false
label = "agst"
T = 350            # an integer is accepted for a double
)"),
              "test.toml");
  CHECK(c.E_a_eV == 0.25);
  CHECK(c.n_devices == 32);
  CHECK(c.enabled == false);
  CHECK(c.label == "agst");
  CHECK(c.T_kelvin == 350.0);

  // Keys not mentioned keep their values.
  TestConfig d;
  apply_table(d, toml::parse("n_devices = 2"), "x");
  CHECK(d.n_devices == 2);
  CHECK(d.E_a_eV == TestConfig{}.E_a_eV);
  CHECK(d.label == TestConfig{}.label);
}

TEST_CASE("apply_assignment parses the value as TOML, a bare word as a string") {
  TestConfig c;
  apply_assignment(c, "E_a=3.5");
  CHECK(c.E_a_eV == 3.5);
  apply_assignment(c, "E_a=1e-3");
  CHECK(c.E_a_eV == 1e-3);
  apply_assignment(c, "E_a=-2");
  CHECK(c.E_a_eV == -2.0);
  apply_assignment(c, "n_devices=7");
  CHECK(c.n_devices == 7);
  apply_assignment(c, "enabled=false");
  CHECK(c.enabled == false);
  apply_assignment(c, "enabled=true");
  CHECK(c.enabled == true);
  apply_assignment(c, "label=hello");
  CHECK(c.label == "hello");
  apply_assignment(c, "label=\"quoted words\"");
  CHECK(c.label == "quoted words");
  apply_assignment(c, "label=two words");
  CHECK(c.label == "two words");
  apply_assignment(c, "label=C-doped_GST");
  CHECK(c.label == "C-doped_GST");
}

TEST_CASE("unknown keys and wrong types throw InputError naming the key") {
  TestConfig c;
  const TestConfig before;
  CHECK_THROWS_AS(apply_assignment(c, "bogus=1"), InputError);
  CHECK(contains(message_of([&] { apply_assignment(c, "bogus=1"); }), "bogus"));

  TestConfig t;
  const std::string table_error =
      message_of([&] { apply_table(t, toml::parse("E_a = 1.0\ncolour = 2"), "model.toml"); });
  CHECK(contains(table_error, "colour"));
  CHECK(contains(table_error, "model.toml"));

  struct Case {
    const char* assignment;
    const char* key;
  };
  for (const Case& bad : {Case{"n_devices=3.5", "n_devices"}, Case{"n_devices=true", "n_devices"},
                          Case{"enabled=1", "enabled"}, Case{"enabled=yes", "enabled"},
                          Case{"E_a=true", "E_a"}, Case{"E_a=[1, 2]", "E_a"},
                          Case{"label=5", "label"}, Case{"T=\"300\"", "T"}}) {
    CAPTURE(bad.assignment);
    CHECK_THROWS_AS(apply_assignment(c, bad.assignment), InputError);
    const std::string msg = message_of([&] { apply_assignment(c, bad.assignment); });
    CHECK(contains(msg, std::string("'") + bad.key + "'"));
  }
  // Malformed assignments.
  for (const char* bad : {"noequals", "=3", "E_a=", "E a=3", "E.a=3"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(apply_assignment(c, bad), InputError);
  }
  // Failed assignments left the config alone.
  CHECK(c.E_a_eV == before.E_a_eV);
  CHECK(c.n_devices == before.n_devices);

  // A nested table is not a parameter.
  CHECK_THROWS_AS(apply_table(t, toml::parse("[pcm]\nE_a = 1.0"), "x"), InputError);
  CHECK(contains(message_of([&] { apply_table(t, toml::parse("[pcm]\nE_a = 1.0"), "x"); }), "pcm"));
}

TEST_CASE("describe_params lists keys, units, defaults and docs in visit order") {
  TestConfig c;
  c.E_a_eV = 0.125;  // the current value is what is listed as the default
  const auto params = describe_params(c);
  REQUIRE(params.size() == 5);
  CHECK(params[0].key == "E_a");
  CHECK(params[0].unit == "eV");
  CHECK(params[0].default_value == "0.125");
  CHECK(params[0].doc == "activation energy [assumption]");
  CHECK(params[1].key == "n_devices");
  CHECK(params[1].unit == "1");
  CHECK(params[1].default_value == "16");
  CHECK(params[2].key == "enabled");
  CHECK(params[2].unit == "");
  CHECK(params[2].default_value == "true");
  CHECK(params[3].key == "label");
  CHECK(params[3].default_value == "'gst'");  // toml++ writes a literal string when it can
  CHECK(params[4].key == "T");
  CHECK(params[4].unit == "K");
  CHECK(params[4].default_value == "300");
  CHECK(params[4].doc == "ambient temperature");
}

TEST_CASE("to_toml reads back through apply_table to the same values") {
  auto round_trip = [](const TestConfig& a) {
    const std::string text = to_toml(a);
    CAPTURE(text);
    TestConfig b;
    b.E_a_eV = -1;
    b.n_devices = -1;
    b.enabled = !a.enabled;
    b.label = "<unset>";
    b.T_kelvin = -1;
    REQUIRE_NOTHROW(apply_table(b, toml::parse(text), "echo"));
    CHECK(same_bits(b.E_a_eV, a.E_a_eV));
    CHECK(b.n_devices == a.n_devices);
    CHECK(b.enabled == a.enabled);
    CHECK(b.label == a.label);
    if (std::isnan(a.T_kelvin))
      CHECK(std::isnan(b.T_kelvin));
    else
      CHECK(same_bits(b.T_kelvin, a.T_kelvin));
  };

  round_trip(TestConfig{});
  const double tricky[] = {0.1,    1.0 / 3.0, 1e-300, 6.02214076e23, 5e-324, 1.7976931348623157e308,
                           -2.5e-7, 123456.0, 1e16,  std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()};
  for (double x : tricky) {
    CAPTURE(x);
    TestConfig a;
    a.E_a_eV = x;
    a.T_kelvin = -x;
    round_trip(a);
  }
  TestConfig nan;
  nan.T_kelvin = std::numeric_limits<double>::quiet_NaN();
  round_trip(nan);

  for (std::int64_t n : {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::max(),
                         std::numeric_limits<std::int64_t>::min()}) {
    CAPTURE(n);
    TestConfig a;
    a.n_devices = n;
    a.enabled = false;
    round_trip(a);
  }

  // Strings that need escaping in TOML: quotes, backslashes (a Windows path), control
  // characters, and non-ASCII UTF-8 (which TOML allows verbatim).
  for (const char* s : {"", "with \"quotes\"", "C:\\data\\run 1", "tab\there", "two\nlines",
                        "bell\x07", "Ge\xe2\x82\x82Sb\xe2\x82\x82Te\xe2\x82\x85 \xc2\xb5S", "# not a comment"}) {
    const std::string str = s;
    CAPTURE(str);
    TestConfig a;
    a.label = str;
    round_trip(a);
  }

  // Units appear as comments.
  CHECK(contains(to_toml(TestConfig{}), "# eV"));
  CHECK(contains(to_toml(TestConfig{}), "# K"));
}

TEST_CASE("load_toml_file reads a file and reports missing and malformed files") {
  TempDir dir;
  const std::string good = dir.write("good.toml", "E_a = 0.5\nlabel = \"from file\"\n");
  TestConfig c;
  apply_table(c, load_toml_file(good), good);
  CHECK(c.E_a_eV == 0.5);
  CHECK(c.label == "from file");

  const std::string missing = (dir.path / "missing.toml").string();
  CHECK_THROWS_AS(load_toml_file(missing), FileError);
  CHECK(contains(message_of([&] { load_toml_file(missing); }), missing));

  // The error is on line 3.
  const std::string bad = dir.write("bad.toml", "E_a = 0.5\n# fine\nlabel = = \"x\"\nT = 3\n");
  CHECK_THROWS_AS(load_toml_file(bad), FileError);
  const std::string msg = message_of([&] { load_toml_file(bad); });
  CHECK(contains(msg, bad));
  CHECK(contains(msg, "line 3"));

  // A duplicate key is also a parse error, on the line of the second definition.
  const std::string dup = dir.write("dup.toml", "E_a = 0.5\nE_a = 0.6\n");
  const std::string dup_msg = message_of([&] { load_toml_file(dup); });
  CHECK(contains(dup_msg, dup));
  CHECK(contains(dup_msg, "line 2"));
}

TEST_CASE("toml_value_text writes floats shortest and still as floats, and reads back") {
  for (double v : {0.3, 1.0, 1e-5, 2.5e20, -0.1, 0.1 + 0.2}) {
    const std::string text = toml_value_text(toml::value<double>(v));
    const auto back = toml::parse("x = " + text)["x"].value_exact<double>();
    REQUIRE(back);
    CHECK(*back == v);  // bit for bit
  }
  CHECK(toml_value_text(toml::value<double>(0.3)) == "0.3");
  CHECK(toml_value_text(toml::value<double>(1.0)) == "1.0");
  CHECK(toml_value_text(toml::value<std::int64_t>(3)) == "3");
  CHECK(toml_value_text(toml::value<bool>(true)) == "true");
  const std::string quoted = toml_value_text(toml::value<std::string>("a 'b' \"c\""));
  CHECK(toml::parse("x = " + quoted)["x"].value<std::string>() == "a 'b' \"c\"");
  toml::table t;
  t.insert("sigma", 0.3);
  t.insert("n", 4);
  CHECK(flat_table_toml(t) == "n = 4\nsigma = 0.3\n");
}
