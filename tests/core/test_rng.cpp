// Tests of the counter-based RngStream: the generator pinned by Random123's known answers,
// the keying by (seed, entity, stream, substream), the maps to the unit interval, and
// statistical checks of uniformity and serial independence with stated tolerances.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>

#include "core/rng.hpp"

using memcarlo::RngStream;
using memcarlo::stream_id;

namespace {

std::vector<std::uint64_t> draw_u64(RngStream rng, std::size_t n) {
  std::vector<std::uint64_t> out(n);
  for (auto& x : out) x = rng.next_u64();
  return out;
}

// Upper 1e-4 quantile of chi-square with `dof` degrees of freedom (Boost.Math).
double chi2_critical(double dof, double p = 1e-4) {
  return boost::math::quantile(boost::math::complement(boost::math::chi_squared(dof), p));
}

double chi2_uniform_64_bins(const std::vector<double>& u) {
  std::array<double, 64> counts{};
  for (double x : u) counts[static_cast<std::size_t>(x * 64.0)] += 1.0;
  const double expected = static_cast<double>(u.size()) / 64.0;
  double chi2 = 0;
  for (double c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

}  // namespace

// Random123 kat_vectors, "philox4x64 10" lines: counter (4 words), key (2 words), output.
// Copied from DEShawResearch/Random123-Boost libs/random/test/test_philox.cpp, which quotes
// the kat_vectors file of the original Random123 distribution.
TEST_CASE("Philox4x64-10 reproduces Random123's known-answer vectors") {
  struct Kat {
    std::array<std::uint64_t, 4> ctr;
    std::array<std::uint64_t, 2> key;
    std::array<std::uint64_t, 4> out;
  };
  const std::uint64_t ones = ~std::uint64_t{0};
  const Kat kats[] = {
      {{0, 0, 0, 0},
       {0, 0},
       {0x16554d9eca36314cULL, 0xdb20fe9d672d0fdcULL, 0xd7e772cee186176bULL,
        0x7e68b68aec7ba23bULL}},
      {{ones, ones, ones, ones},
       {ones, ones},
       {0x87b092c3013fe90bULL, 0x438c3c67be8d0224ULL, 0x9cc7d7c69cd777b6ULL,
        0xa09caebf594f0ba0ULL}},
      {{0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL,
        0x082efa98ec4e6c89ULL},
       {0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL},
       {0xa528f45403e61d95ULL, 0x38c72dbd566e9788ULL, 0xa5a1610e72fd18b5ULL,
        0x57bd43b5e52b7fe6ULL}},
  };
  r123::Philox4x64 philox;
  for (const Kat& kat : kats) {
    r123::Philox4x64::ctr_type ctr = {{kat.ctr[0], kat.ctr[1], kat.ctr[2], kat.ctr[3]}};
    r123::Philox4x64::key_type key = {{kat.key[0], kat.key[1]}};
    const auto out = philox(ctr, key);
    for (int i = 0; i < 4; ++i) CHECK(out[i] == kat.out[i]);
  }

  SUBCASE("RngStream's first block is the all-zero known answer") {
    // key = (seed, entity), counter = (stream, substream, block, 0).
    const auto first = draw_u64(RngStream(0, 0, 0, 0), 4);
    for (int i = 0; i < 4; ++i) CHECK(first[i] == kats[0].out[i]);
  }
}

TEST_CASE("RngStream lays out key and counter as documented") {
  const std::uint64_t seed = 0x452821e638d01377ULL, entity = 17, stream = stream_id("pulse"),
                      sub = 42;
  const auto got = draw_u64(RngStream(seed, entity, stream, sub), 12);
  r123::Philox4x64 philox;
  const r123::Philox4x64::key_type key = {{seed, entity}};
  for (std::uint64_t block = 0; block < 3; ++block) {
    const r123::Philox4x64::ctr_type ctr = {{stream, sub, block, 0}};
    const auto out = philox(ctr, key);
    for (std::size_t i = 0; i < 4; ++i) CHECK(got[block * 4 + i] == out[i]);
  }
}

TEST_CASE("same key and counter give the same sequence, any change gives another") {
  const std::uint64_t seed = 20240601, entity = 7, stream = stream_id("read_noise"), sub = 3;
  const std::size_t n = 1000;
  const auto ref = draw_u64(RngStream(seed, entity, stream, sub), n);
  CHECK(draw_u64(RngStream(seed, entity, stream, sub), n) == ref);
  // A default substream is substream 0.
  CHECK(draw_u64(RngStream(seed, entity, stream), n) ==
        draw_u64(RngStream(seed, entity, stream, 0), n));

  // Any single change, including the swaps that a symmetric mix-up would not notice, must
  // change every value: a coincidence of 64-bit values has probability ~n * 2^-64.
  const std::vector<std::array<std::uint64_t, 4>> variants = {
      {seed + 1, entity, stream, sub}, {seed, entity + 1, stream, sub},
      {seed, entity, stream + 1, sub}, {seed, entity, stream, sub + 1},
      {entity, seed, stream, sub},     {seed, entity, sub, stream},
      {seed ^ (1ULL << 63), entity, stream, sub},
  };
  for (const auto& v : variants) {
    CAPTURE(v[0]);
    CAPTURE(v[1]);
    CAPTURE(v[2]);
    CAPTURE(v[3]);
    const auto other = draw_u64(RngStream(v[0], v[1], v[2], v[3]), n);
    std::size_t equal = 0;
    for (std::size_t i = 0; i < n; ++i) equal += other[i] == ref[i];
    CHECK(equal == 0);
  }
}

TEST_CASE("stream_id is constexpr FNV-1a and distinct for distinct names") {
  // Published FNV-1a 64-bit test vectors (offset basis for "", and "a", "foobar").
  static_assert(stream_id("") == 0xcbf29ce484222325ULL);
  static_assert(stream_id("a") == 0xaf63dc4c8601ec8cULL);
  static_assert(stream_id("foobar") == 0x85944171f73967e8ULL);
  constexpr std::uint64_t read = stream_id("read_noise");
  constexpr std::uint64_t program = stream_id("programming");
  static_assert(read != program);
  CHECK(stream_id(std::string("read_noise")) == read);  // same value at run time

  std::unordered_set<std::uint64_t> seen;
  const char* names[] = {"device", "pulse", "read", "read_noise", "programming", "drift",
                         "Device", "device ", "devic", "a", "b", "ab", "ba"};
  for (const char* name : names) CHECK(seen.insert(stream_id(name)).second);
  for (int i = 0; i < 100000; ++i) {
    CAPTURE(i);
    REQUIRE(seen.insert(stream_id("stream_" + std::to_string(i))).second);
  }
}

TEST_CASE("draws() counts the 64-bit values consumed") {
  RngStream rng(1, 2, 3);
  CHECK(rng.draws() == 0);
  for (std::uint64_t k = 1; k <= 9; ++k) {  // across two block refills
    (void)rng.next_u64();
    CHECK(rng.draws() == k);
  }
  (void)rng.uniform();
  (void)rng.uniform_open();
  CHECK(rng.draws() == 11);
  RngStream fresh(1, 2, 3);
  for (int i = 0; i < 1001; ++i) (void)fresh.uniform();
  CHECK(fresh.draws() == 1001);
}

TEST_CASE("uniform maps raw bits into the half-open and uniform_open into the open unit interval") {
  const std::uint64_t max = ~std::uint64_t{0};
  // Extremes of the maps, with 53 and 52 significant bits respectively.
  CHECK(RngStream::to_unit(0) == 0.0);
  CHECK(RngStream::to_unit(max) == 1.0 - std::ldexp(1.0, -53));
  CHECK(RngStream::to_unit(max) < 1.0);
  CHECK(RngStream::to_unit_open(0) > 0.0);
  CHECK(RngStream::to_unit_open(0) == std::ldexp(1.0, -53));
  CHECK(RngStream::to_unit_open(max) < 1.0);
  CHECK(RngStream::to_unit_open(max) == 1.0 - std::ldexp(1.0, -53));
  static_assert(RngStream::to_unit_open(~std::uint64_t{0}) < 1.0);
  // Centred: the open map is symmetric about 1/2.
  CHECK(RngStream::to_unit_open(0) == 1.0 - RngStream::to_unit_open(max));

  // uniform() and uniform_open() are those maps applied to the next raw value.
  RngStream raw(11, 12, 13), u(11, 12, 13), uo(11, 12, 13);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t bits = raw.next_u64();
    REQUIRE(u.uniform() == RngStream::to_unit(bits));
    REQUIRE(uo.uniform_open() == RngStream::to_unit_open(bits));
  }

  RngStream rng(99, 0, stream_id("range"));
  double lo = 1, hi = 0, lo_open = 1, hi_open = 0;
  for (int i = 0; i < 1000000; ++i) {
    const double x = rng.uniform(), y = rng.uniform_open();
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    lo_open = std::min(lo_open, y);
    hi_open = std::max(hi_open, y);
  }
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  CHECK(lo_open > 0.0);
  CHECK(hi_open < 1.0);
  // With 1e6 draws the extremes lie within ~1e-5 of the ends (P(miss) = e^-10 each).
  CHECK(lo < 1e-5);
  CHECK(hi > 1 - 1e-5);
}

TEST_CASE("uniform draws pass a 64-bin chi-square test at p = 1e-4") {
  const std::size_t n = 1000000;
  const double critical = chi2_critical(63);  // ~ 113 for 63 degrees of freedom
  CHECK(critical > 100.0);
  CHECK(critical < 130.0);
  for (std::uint64_t entity : {0ULL, 1ULL, 123456789ULL}) {
    CAPTURE(entity);
    RngStream rng(2024, entity, stream_id("chi2"));
    std::vector<double> u(n), uo(n);
    for (auto& x : u) x = rng.uniform();
    for (auto& x : uo) x = rng.uniform_open();
    CHECK(chi2_uniform_64_bins(u) < critical);
    CHECK(chi2_uniform_64_bins(uo) < critical);
  }
}

TEST_CASE("the 64-bin chi-square test has power: it rejects a 10% dent in one bin") {
  const std::size_t n = 1000000;
  RngStream rng(2024, 0, stream_id("chi2"));
  std::vector<double> u;
  u.reserve(n);
  while (u.size() < n) {
    const double x = rng.uniform();
    if (x < 1.0 / 64 && rng.uniform() < 0.1) continue;  // drop 10% of the first bin
    u.push_back(x);
  }
  CHECK(chi2_uniform_64_bins(u) > chi2_critical(63));
}

TEST_CASE("successive and parallel draws are uncorrelated") {
  // Pearson correlation of n pairs of independent uniforms has standard deviation 1/sqrt(n);
  // the tolerance is 5 of those (two-sided P ~ 6e-7).
  const std::size_t n = 1000000;
  const double tolerance = 5.0 / std::sqrt(static_cast<double>(n));
  auto correlation = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - 0.5) * (b[i] - 0.5);
    return s / (static_cast<double>(a.size()) / 12.0);  // variance of U(0,1) is 1/12
  };
  RngStream rng(5, 6, stream_id("lag"));
  std::vector<double> u(n + 1);
  for (auto& x : u) x = rng.uniform();
  const std::vector<double> head(u.begin(), u.end() - 1), tail(u.begin() + 1, u.end());
  CHECK(std::fabs(correlation(head, tail)) < tolerance);

  // Neighbouring entities (devices) at the same position in their streams.
  RngStream a(5, 6, stream_id("lag")), b(5, 7, stream_id("lag"));
  std::vector<double> ua(n), ub(n);
  for (std::size_t i = 0; i < n; ++i) {
    ua[i] = a.uniform();
    ub[i] = b.uniform();
  }
  CHECK(std::fabs(correlation(ua, ub)) < tolerance);
  // Sanity check of the statistic itself: a sequence with itself has correlation 1.
  CHECK(correlation(ua, ua) == doctest::Approx(1.0).epsilon(0.01));
}

TEST_CASE("derive_seed: a fixed function of (seed, entity, child), distinct for every child") {
  // The definition, on a twin stream.
  RngStream twin(11, 3, stream_id("derive_seed"), 7);
  CHECK(memcarlo::derive_seed(11, 3, 7) == twin.next_u64());
  std::unordered_set<std::uint64_t> seen;
  for (std::uint64_t entity = 0; entity < 50; ++entity)
    for (std::uint64_t child = 0; child < 50; ++child)
      seen.insert(memcarlo::derive_seed(11, entity, child));
  CHECK(seen.size() == 2500);
  CHECK(memcarlo::derive_seed(12, 3, 7) != memcarlo::derive_seed(11, 3, 7));
}
