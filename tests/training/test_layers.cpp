// Tests of the training layers, loss and GEMM: gradients against central finite differences,
// forward passes against naive double-precision references, PyTorch's batch-norm running
// statistics, dropout statistics, and the shape errors users see. The optimizers are in
// test_optimizer.cpp.
#include <doctest/doctest.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <limits>
#include <memory>
#include <numbers>
#include <vector>

#include "core/rng.hpp"
#include "tests/test_support.hpp"
#include "training/gemm.hpp"
#include "training/layers.hpp"
#include "training/loss.hpp"
#include "training/optimizer.hpp"

using namespace memcarlo;
using namespace memcarlo::training;

namespace {

Tensor random_tensor(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t(shape);
  RngStream rng(seed, 0, stream_id("test_layers"));
  for (float& v : t.data) v = static_cast<float>(lo + (hi - lo) * rng.uniform());
  return t;
}

// Values at least `gap` apart from each other and from zero, in shuffled order, so that no
// finite-difference step crosses a ReLU or max-pool kink.
Tensor kink_free_tensor(const Shape& shape, std::uint64_t seed, double gap = 0.05) {
  Tensor t(shape);
  const std::size_t n = t.size();
  for (std::size_t i = 0; i < n; ++i) {
    const double v = (static_cast<double>(i) - static_cast<double>(n) / 2.0 + 0.5) * gap;
    t.data[i] = static_cast<float>(v);
  }
  RngStream rng(seed, 0, stream_id("shuffle"));
  for (std::size_t i = n; i > 1; --i) {  // Fisher–Yates
    const std::size_t j = static_cast<std::size_t>(rng.uniform() * static_cast<double>(i));
    std::swap(t.data[i - 1], t.data[j]);
  }
  return t;
}

// Compares an analytic gradient with central differences of f. Tolerance, stated: the relative
// error of the whole vector ||a - n|| / ||n|| <= 1e-2, and every element within 2e-2 max|n|.
void check_gradient(const std::string& what, const std::vector<float>& analytic,
                    std::vector<float>& point, const std::function<double()>& f, float h) {
  REQUIRE(analytic.size() == point.size());
  std::vector<double> numeric(point.size());
  for (std::size_t i = 0; i < point.size(); ++i) {
    const float saved = point[i];
    point[i] = saved + h;
    const double up = f();
    point[i] = saved - h;
    const double down = f();
    point[i] = saved;
    // The step actually taken, as stored in float.
    const double step = static_cast<double>(saved + h) - static_cast<double>(saved - h);
    numeric[i] = (up - down) / step;
  }
  double diff2 = 0, norm2 = 0, max_abs = 0;
  for (std::size_t i = 0; i < point.size(); ++i) {
    diff2 += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i]);
    norm2 += numeric[i] * numeric[i];
    max_abs = std::max(max_abs, std::abs(numeric[i]));
  }
  INFO(what);
  REQUIRE(norm2 > 0);
  CHECK(std::sqrt(diff2 / norm2) <= 1e-2);
  for (std::size_t i = 0; i < point.size(); ++i) {
    INFO(what << " element " << i << ": analytic " << analytic[i] << ", numeric " << numeric[i]);
    CHECK(std::abs(analytic[i] - numeric[i]) <= 2e-2 * max_abs);
  }
}

// The loss L = sum(r * layer(x)) with fixed random weights r, so dL/dout = r. Checks dL/dx and
// dL/dparameter for every parameter. `pass_of` makes the Pass of each forward (dropout needs a
// fresh copy of the same stream every time).
void check_layer_gradients(Layer& layer, Tensor x, const std::function<Pass()>& pass_of,
                           float h = 5e-3f) {
  Tensor out;
  layer.forward(x, out, pass_of());
  const Tensor r = random_tensor(out.shape, 99, -1.0, 1.0);
  auto loss = [&] {
    Tensor y;
    layer.forward(x, y, pass_of());
    double s = 0;
    for (std::size_t i = 0; i < y.size(); ++i) s += static_cast<double>(r.data[i]) * y.data[i];
    return s;
  };
  layer.forward(x, out, pass_of());
  Tensor grad_in;
  layer.backward(r, &grad_in, Pass{Mode::train, nullptr});
  REQUIRE(grad_in.shape == x.shape);
  std::vector<std::vector<float>> param_grads;
  for (Parameter& p : layer.parameters()) param_grads.push_back(p.grad.data);

  check_gradient(layer.kind() + " input", grad_in.data, x.data, loss, h);
  std::size_t i = 0;
  for (Parameter& p : layer.parameters()) {
    check_gradient(layer.kind() + " " + p.name, param_grads[i++], p.value.data, loss, h);
  }
}

Pass eval_pass() { return Pass{Mode::eval, nullptr}; }
Pass train_pass() { return Pass{Mode::train, nullptr}; }

// Direct cross-correlation in double, the definition torch.nn.Conv2d documents.
std::vector<double> naive_conv(const Tensor& x, Conv2d& conv) {
  const Parameter& w = conv.parameters()[0];
  const Parameter& b = conv.parameters()[1];
  const int N = int(x.shape[0]), C = int(x.shape[1]), H = int(x.shape[2]), W = int(x.shape[3]);
  const int k = int(conv.kernel()), s = int(conv.stride()), pad = int(conv.padding());
  const int OC = int(conv.out_channels());
  const int OH = (H + 2 * pad - k) / s + 1, OW = (W + 2 * pad - k) / s + 1;
  std::vector<double> y;
  for (int n = 0; n < N; ++n)
    for (int oc = 0; oc < OC; ++oc)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          double acc = b.value.data[oc];
          for (int c = 0; c < C; ++c)
            for (int ki = 0; ki < k; ++ki)
              for (int kj = 0; kj < k; ++kj) {
                const int ih = oh * s + ki - pad, iw = ow * s + kj - pad;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += double(w.value.data[((oc * C + c) * k + ki) * k + kj]) *
                       x.data[((n * C + c) * H + ih) * W + iw];
              }
          y.push_back(acc);
        }
  return y;
}

}  // namespace

TEST_CASE("sgemm: every backend matches a double-precision triple loop for every transpose") {
  const int M = 7, N = 5, K = 11, pad = 3;  // leading dimensions padded beyond the rows
  for (GemmBackend backend : {GemmBackend::onednn, GemmBackend::openblas, GemmBackend::eigen}) {
    if (!gemm_backend_available(backend)) continue;
    for (Trans ta : {Trans::no, Trans::yes}) {
      for (Trans tb : {Trans::no, Trans::yes}) {
        for (float beta : {0.0f, 0.3f}) {
          const int a_rows = ta == Trans::no ? M : K, a_cols = ta == Trans::no ? K : M;
          const int b_rows = tb == Trans::no ? K : N, b_cols = tb == Trans::no ? N : K;
          const int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
          const Tensor A = random_tensor({std::size_t(a_rows * lda)}, 1);
          const Tensor B = random_tensor({std::size_t(b_rows * ldb)}, 2);
          Tensor C = random_tensor({std::size_t(M * ldc)}, 3);
          // beta = 0 must not read C: fill it with NaN.
          if (beta == 0.0f) C.fill(std::numeric_limits<float>::quiet_NaN());
          const Tensor C0 = C;
          const float alpha = 0.7f;
          sgemm(backend, ta, tb, M, N, K, alpha, A.ptr(), lda, B.ptr(), ldb, beta, C.ptr(), ldc);
          INFO(gemm_backend_name(backend)
               << " ta " << int(ta) << " tb " << int(tb) << " beta " << beta);
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j) {
              double acc = 0;
              for (int p = 0; p < K; ++p) {
                const double a = ta == Trans::no ? A.data[i * lda + p] : A.data[p * lda + i];
                const double b = tb == Trans::no ? B.data[p * ldb + j] : B.data[j * ldb + p];
                acc += a * b;
              }
              double expected = alpha * acc;
              if (beta != 0.0f) expected += double(beta) * C0.data[i * ldc + j];
              // float rounding of K = 11 products of magnitude <= 1
              CHECK(std::abs(C.data[i * ldc + j] - expected) <= 1e-5);
            }
          // Padding columns of C are untouched.
          for (int i = 0; i < M; ++i)
            for (int j = N; j < ldc; ++j)
              CHECK(test::same_bits(std::vector<float>{C.data[i * ldc + j]},
                                    std::vector<float>{C0.data[i * ldc + j]}));
        }
      }
    }
  }
  CHECK(gemm_backend_available(GemmBackend::eigen));
}

#ifdef _OPENMP
// The oneDNN backend runs each product on one thread by lowering the OpenMP thread count around
// the call; the caller's setting must come back unchanged, or every later parallel region of
// the program (replicas, device loops) would silently run on one thread.
TEST_CASE("sgemm: the caller's OpenMP thread count is unchanged after every backend") {
  const int before = omp_get_max_threads();
  omp_set_num_threads(2);
  const Tensor A = random_tensor({64 * 32}, 1), B = random_tensor({32 * 48}, 2);
  Tensor C({64 * 48});
  for (GemmBackend backend : {GemmBackend::onednn, GemmBackend::openblas, GemmBackend::eigen}) {
    if (!gemm_backend_available(backend)) continue;
    sgemm(backend, Trans::no, Trans::no, 64, 48, 32, 1.0f, A.ptr(), 32, B.ptr(), 48, 0.0f,
          C.ptr(), 48);
    INFO(gemm_backend_name(backend));
    CHECK(omp_get_max_threads() == 2);
  }
  omp_set_num_threads(before);
}
#endif

TEST_CASE("dense: forward matches x W^T + b and gradients match finite differences") {
  Dense dense(5, 4);
  RngStream rng(7, 0, stream_id("init"));
  dense.initialize(rng);
  const Tensor x = random_tensor({3, 5}, 11);
  Tensor y;
  dense.forward(x, y, eval_pass());
  REQUIRE(y.shape == Shape{3, 4});
  const auto& w = dense.parameters()[0].value.data;
  const auto& b = dense.parameters()[1].value.data;
  for (int n = 0; n < 3; ++n)
    for (int o = 0; o < 4; ++o) {
      double acc = b[o];
      for (int i = 0; i < 5; ++i) acc += double(w[o * 5 + i]) * x.data[n * 5 + i];
      CHECK(y.data[n * 4 + o] == doctest::Approx(acc).epsilon(1e-6));
    }
  check_layer_gradients(dense, x, eval_pass);
}

TEST_CASE("dense and conv2d initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), reproducible") {
  Dense dense(400, 120);
  RngStream rng(3, 0, stream_id("init"));
  dense.initialize(rng);
  const double bound = 1.0 / 20.0;
  double sum = 0, sum2 = 0;
  const auto& w = dense.parameters()[0].value.data;
  for (float v : w) {
    CHECK(std::abs(v) <= bound);
    sum += v;
    sum2 += double(v) * v;
  }
  const double n = double(w.size());
  // U(-b, b): mean 0 (sd of the mean b / sqrt(3 n)), variance b^2 / 3; 5-sigma bands.
  CHECK(std::abs(sum / n) <= 5 * bound / std::sqrt(3 * n));
  CHECK(sum2 / n == doctest::Approx(bound * bound / 3).epsilon(0.02));
  for (float v : dense.parameters()[1].value.data) CHECK(std::abs(v) <= bound);
  // 400*120 + 120 draws, one per element.
  CHECK(rng.draws() == 400 * 120 + 120);

  Dense again(400, 120);
  RngStream rng2(3, 0, stream_id("init"));
  again.initialize(rng2);
  CHECK(test::same_bits(again.parameters()[0].value.data, w));

  Conv2d conv(6, 16, 5);
  RngStream rng3(3, 0, stream_id("init"));
  conv.initialize(rng3);
  for (float v : conv.parameters()[0].value.data) CHECK(std::abs(v) <= 1.0 / std::sqrt(150.0));
  CHECK(rng3.draws() == 16 * 6 * 25 + 16);
}

TEST_CASE("conv2d: forward matches direct convolution, gradients match finite differences") {
  struct Case {
    std::size_t C, OC, k, stride, pad, H, W;
  };
  // Square and non-square inputs, padding, stride 2 with a partial last window.
  const Case cases[] = {{2, 3, 3, 1, 1, 5, 5}, {2, 3, 3, 2, 1, 6, 5}, {1, 2, 2, 1, 0, 4, 3}};
  for (ConvAlgorithm algorithm : {ConvAlgorithm::per_sample, ConvAlgorithm::batched,
                                  ConvAlgorithm::onednn, ConvAlgorithm::automatic}) {
    if (algorithm == ConvAlgorithm::onednn && !onednn_convolution_available()) continue;
    for (const Case& c : cases) {
      INFO("algorithm " << int(algorithm) << " C " << c.C << " k " << c.k << " stride "
                        << c.stride << " pad " << c.pad << " H " << c.H << " W " << c.W);
      Conv2d conv(c.C, c.OC, c.k, c.stride, c.pad, algorithm);
      RngStream rng(5, 0, stream_id("init"));
      conv.initialize(rng);
      const Tensor x = random_tensor({2, c.C, c.H, c.W}, 13);
      Tensor y;
      conv.forward(x, y, eval_pass());
      const std::size_t OH = (c.H + 2 * c.pad - c.k) / c.stride + 1;
      const std::size_t OW = (c.W + 2 * c.pad - c.k) / c.stride + 1;
      REQUIRE(y.shape == Shape{2, c.OC, OH, OW});
      const std::vector<double> ref = naive_conv(x, conv);
      REQUIRE(ref.size() == y.size());
      for (std::size_t i = 0; i < ref.size(); ++i) {
        CHECK(y.data[i] == doctest::Approx(ref[i]).epsilon(1e-5));
      }
      check_layer_gradients(conv, x, eval_pass);
    }
  }
}

TEST_CASE("dense and conv2d backward_split: weights from one error, the input gradient from another") {
  // backward_split(g, h) must give backward(g)'s parameter gradients and backward(h)'s input
  // gradient, on every convolution algorithm.
  auto check = [](Layer& layer, const Tensor& x, auto&& split) {
    Tensor y;
    layer.forward(x, y, eval_pass());
    const Tensor g = random_tensor(y.shape, 21), h = random_tensor(y.shape, 22);
    Tensor gi_g, gi_h, gi_split;
    layer.backward(g, &gi_g, eval_pass());
    std::vector<std::vector<float>> grads_g;
    for (Parameter& p : layer.parameters()) grads_g.push_back(p.grad.data);
    layer.backward(h, &gi_h, eval_pass());
    split(g, h, &gi_split);
    CHECK(gi_split.data == gi_h.data);
    CHECK(gi_split.data != gi_g.data);
    std::size_t i = 0;
    for (Parameter& p : layer.parameters()) CHECK(p.grad.data == grads_g[i++]);
  };
  Dense dense(7, 4);
  RngStream rng(5, 0, stream_id("init"));
  dense.initialize(rng);
  check(dense, random_tensor({3, 7}, 13), [&](const Tensor& g, const Tensor& h, Tensor* gi) {
    dense.backward_split(g, h, gi);
  });
  for (ConvAlgorithm algorithm : {ConvAlgorithm::per_sample, ConvAlgorithm::batched,
                                  ConvAlgorithm::onednn}) {
    if (algorithm == ConvAlgorithm::onednn && !onednn_convolution_available()) continue;
    INFO("algorithm " << int(algorithm));
    Conv2d conv(3, 4, 3, 1, 1, algorithm);
    conv.initialize(rng);
    check(conv, random_tensor({2, 3, 6, 5}, 14), [&](const Tensor& g, const Tensor& h, Tensor* gi) {
      conv.backward_split(g, h, gi);
    });
  }
}

TEST_CASE("maxpool: first maximum wins ties, and gradients match finite differences") {
  MaxPool2d pool(2);
  Tensor x({1, 1, 2, 4});
  x.data = {1, 3, 2, 2,  //
            3, 0, 2, 2};
  Tensor y;
  pool.forward(x, y, eval_pass());
  REQUIRE(y.shape == Shape{1, 1, 1, 2});
  CHECK(y.data == std::vector<float>{3, 2});
  Tensor dy({1, 1, 1, 2});
  dy.data = {10, 20};
  Tensor dx;
  pool.backward(dy, &dx, Pass{Mode::train, nullptr});
  // Row-major window order: (0, 1) before (1, 0); (0, 2) first of four equal values.
  CHECK(dx.data == std::vector<float>{0, 10, 20, 0, 0, 0, 0, 0});

  MaxPool2d plain(2);
  check_layer_gradients(plain, kink_free_tensor({2, 2, 4, 5}, 3), eval_pass, 1e-3f);
  MaxPool2d overlapping(3, 2);  // windows share rows and columns
  check_layer_gradients(overlapping, kink_free_tensor({2, 1, 7, 5}, 4), eval_pass, 1e-3f);
}

// PyTorch's CPU rule written out per window: start from -inf at the window's first element,
// visit in row-major order, take a strictly larger value or a NaN.
TEST_CASE("maxpool: values and argmax follow PyTorch's rule with ties, NaN and -inf") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float pool_values[] = {0.0f, 1.0f, 1.0f, 2.0f, -inf, nan};  // many ties
  for (std::size_t k : {2, 3}) {
    for (std::size_t stride : {std::size_t{2}, k}) {
      const std::size_t H = 7, W = 9;
      Tensor x({2, 3, H, W});
      RngStream rng(k, stride, stream_id("maxpool"));
      for (float& v : x.data) v = pool_values[rng.next_u64() % 6];
      MaxPool2d pool(k, stride);
      Tensor y;
      pool.forward(x, y, eval_pass());
      const std::size_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1;
      REQUIRE(y.shape == Shape{2, 3, OH, OW});
      Tensor dy(y.shape);
      for (std::size_t i = 0; i < dy.size(); ++i) dy.data[i] = static_cast<float>(i + 1);
      Tensor dx;
      pool.backward(dy, &dx, Pass{Mode::train, nullptr});
      std::vector<float> expected_y(y.size()), expected_dx(x.size(), 0.0f);
      for (std::size_t pl = 0; pl < 6; ++pl)
        for (std::size_t oh = 0; oh < OH; ++oh)
          for (std::size_t ow = 0; ow < OW; ++ow) {
            float best = -inf;
            std::size_t at = pl * H * W + oh * stride * W + ow * stride;
            for (std::size_t ki = 0; ki < k; ++ki)
              for (std::size_t kj = 0; kj < k; ++kj) {
                const std::size_t i = pl * H * W + (oh * stride + ki) * W + ow * stride + kj;
                if (x.data[i] > best || std::isnan(x.data[i])) {
                  best = x.data[i];
                  at = i;
                }
              }
            const std::size_t o = (pl * OH + oh) * OW + ow;
            expected_y[o] = best;
            expected_dx[at] += dy.data[o];
          }
      INFO("kernel " << k << " stride " << stride);
      CHECK(test::same_bits(y.data, expected_y));
      CHECK(test::same_bits(dx.data, expected_dx));
    }
  }
}

TEST_CASE("avgpool: window means, and gradients match finite differences") {
  AvgPool2d pool(2);
  Tensor x({1, 1, 2, 2});
  x.data = {1, 2, 3, 6};
  Tensor y;
  pool.forward(x, y, eval_pass());
  CHECK(y.data == std::vector<float>{3});
  AvgPool2d plain(2);
  check_layer_gradients(plain, random_tensor({2, 2, 4, 5}, 5), eval_pass);
  AvgPool2d overlapping(3, 2);
  check_layer_gradients(overlapping, random_tensor({1, 2, 7, 5}, 6), eval_pass);
}

TEST_CASE("relu, tanh, flatten: values and gradients") {
  ReLU relu;
  Tensor x({1, 3});
  x.data = {-1.0f, 0.0f, 2.0f};
  Tensor y;
  relu.forward(x, y, eval_pass());
  CHECK(y.data == std::vector<float>{0, 0, 2});
  Tensor dx;
  relu.backward(Tensor({1, 3}, 1.0f), &dx, Pass{Mode::train, nullptr});
  CHECK(dx.data == std::vector<float>{0, 0, 1});  // derivative 0 at 0, as PyTorch
  check_layer_gradients(relu, kink_free_tensor({3, 2, 4}, 7), eval_pass, 1e-3f);

  Tanh tanh_layer;
  check_layer_gradients(tanh_layer, random_tensor({3, 7}, 8, -2, 2), eval_pass);

  Flatten flatten;
  const Tensor img = random_tensor({2, 3, 2, 2}, 9);
  flatten.forward(img, y, eval_pass());
  CHECK(y.shape == Shape{2, 12});
  CHECK(test::same_bits(y.data, img.data));
  check_layer_gradients(flatten, img, eval_pass);
}

TEST_CASE("tanh: within 4 float ulp of the double-precision tanh, NaN and infinities") {
  // A dense grid over the small-|x| polynomial, the exp branch and the saturated tail, plus
  // the branch points and tiny values.
  std::vector<float> xs;
  for (int i = -200000; i <= 200000; ++i) xs.push_back(static_cast<float>(i * 1e-4));
  for (float v : {0.625f, std::nextafter(0.625f, 0.0f), 9.0f, 9.5f, 1e-30f, 1e-8f, 3e-4f}) {
    xs.push_back(v);
    xs.push_back(-v);
  }
  Tensor x({xs.size()});
  x.data = xs;
  x.shape = {1, xs.size()};
  Tanh layer;
  Tensor y;
  layer.forward(x, y, eval_pass());
  float worst = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double exact = std::tanh(static_cast<double>(xs[i]));
    const double ulp = std::nextafter(std::abs(static_cast<float>(exact)),
                                      std::numeric_limits<float>::infinity()) -
                       std::abs(static_cast<float>(exact));
    const float err = static_cast<float>(std::abs(y.data[i] - exact) / ulp);
    worst = std::max(worst, err);
    INFO("x = " << xs[i] << ": " << y.data[i] << " vs " << exact);
    REQUIRE(err <= 4.0f);
    CHECK(std::signbit(y.data[i]) == std::signbit(xs[i]));
  }
  MESSAGE("worst tanh error " << worst << " ulp");
  x.data = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
            -std::numeric_limits<float>::infinity()};
  x.shape = {1, 3};
  layer.forward(x, y, eval_pass());
  CHECK(std::isnan(y.data[0]));
  CHECK(y.data[1] == 1.0f);
  CHECK(y.data[2] == -1.0f);
}

TEST_CASE("batchnorm: gradients in train and eval mode, 1-d and 2-d") {
  for (Mode mode : {Mode::train, Mode::eval}) {
    INFO("mode " << int(mode));
    auto pass = [mode] { return Pass{mode, nullptr}; };
    BatchNorm bn1(3);
    RngStream rng(1, 0, 0);
    bn1.initialize(rng);
    // Non-trivial affine parameters and running statistics.
    bn1.parameters()[0].value.data = {0.5f, 1.5f, -1.0f};
    bn1.parameters()[1].value.data = {0.1f, -0.2f, 0.3f};
    bn1.buffers()[0].data = {0.2f, -0.1f, 0.0f};
    bn1.buffers()[1].data = {0.8f, 1.3f, 0.5f};
    check_layer_gradients(bn1, random_tensor({5, 3}, 21, -2, 2), pass, 1e-2f);

    BatchNorm bn2(2);
    bn2.parameters()[0].value.data = {0.7f, 1.2f};
    bn2.parameters()[1].value.data = {0.1f, -0.3f};
    check_layer_gradients(bn2, random_tensor({3, 2, 3, 2}, 22, -2, 2), pass, 1e-2f);
  }
}

TEST_CASE("batchnorm: running statistics after one step equal PyTorch's closed form") {
  const std::size_t N = 4, C = 2, S = 3;
  BatchNorm bn(C);
  const Tensor x = random_tensor({N, C, 1, S}, 31, -3, 5);
  Tensor y;
  bn.forward(x, y, train_pass());
  for (std::size_t c = 0; c < C; ++c) {
    double sum = 0, ss = 0;
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t s = 0; s < S; ++s) sum += x.data[(n * C + c) * S + s];
    const double mean = sum / (N * S);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t s = 0; s < S; ++s) {
        const double d = x.data[(n * C + c) * S + s] - mean;
        ss += d * d;
      }
    const double biased = ss / (N * S), unbiased = ss / (N * S - 1);
    // running = (1 - 0.1) running + 0.1 batch, from mean 0 and variance 1; unbiased variance.
    CHECK(bn.buffers()[0].data[c] == doctest::Approx(0.1 * mean).epsilon(1e-6));
    CHECK(bn.buffers()[1].data[c] == doctest::Approx(0.9 + 0.1 * unbiased).epsilon(1e-6));
    // Train output normalised with the biased variance, gamma 1, beta 0.
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t s = 0; s < S; ++s) {
        const std::size_t i = (n * C + c) * S + s;
        CHECK(y.data[i] ==
              doctest::Approx((x.data[i] - mean) / std::sqrt(biased + 1e-5)).epsilon(1e-5));
      }
  }
  // Eval uses the running statistics.
  Tensor z;
  bn.forward(x, z, eval_pass());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t c = (i / S) % C;
    const double rm = bn.buffers()[0].data[c], rv = bn.buffers()[1].data[c];
    CHECK(z.data[i] == doctest::Approx((x.data[i] - rm) / std::sqrt(rv + 1e-5)).epsilon(1e-5));
  }
  // One value per feature cannot be normalised in train mode (PyTorch raises too).
  BatchNorm single(3);
  CHECK_THROWS_AS(single.forward(Tensor({1, 3}), y, train_pass()), InputError);
}

TEST_CASE("dropout: identity in eval, binomial keep fraction in train, reproducible") {
  const double p = 0.3;
  Dropout drop(p);
  const Tensor x = random_tensor({100, 1000}, 41, 0.5, 1.5);  // no zeros in x
  Tensor y;
  drop.forward(x, y, eval_pass());
  CHECK(test::same_bits(y.data, x.data));
  Tensor dx;
  drop.backward(x, &dx, Pass{Mode::train, nullptr});
  CHECK(test::same_bits(dx.data, x.data));

  RngStream rng(8, 0, stream_id("dropout"));
  drop.forward(x, y, Pass{Mode::train, &rng});
  CHECK(rng.draws() == x.size());  // one uniform per element
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  std::size_t kept = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (y.data[i] != 0.0f) {
      ++kept;
      CHECK(y.data[i] == x.data[i] * scale);
    }
  }
  // Kept ~ Binomial(n, 1 - p): within 5 standard deviations.
  const double n = double(x.size()), sd = std::sqrt(n * p * (1 - p));
  CHECK(std::abs(double(kept) - n * (1 - p)) <= 5 * sd);

  // Same stream, same mask; backward applies the mask.
  RngStream again(8, 0, stream_id("dropout"));
  Tensor y2;
  drop.forward(x, y2, Pass{Mode::train, &again});
  CHECK(test::same_bits(y2.data, y.data));
  drop.backward(Tensor(x.shape, 1.0f), &dx, Pass{Mode::train, nullptr});
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(dx.data[i] == (y.data[i] != 0 ? scale : 0.0f));
  // Another substream, another mask.
  RngStream other(8, 0, stream_id("dropout"), 1);
  drop.forward(x, y2, Pass{Mode::train, &other});
  CHECK_FALSE(test::same_bits(y2.data, y.data));

  // Gradient with the mask held fixed (a fresh copy of one stream per forward pass).
  Dropout small(0.5);
  const RngStream base(9, 0, 0);
  RngStream copy = base;
  check_layer_gradients(small, random_tensor({4, 6}, 42), [&] {
    copy = base;
    return Pass{Mode::train, &copy};
  });
  CHECK_THROWS_AS(Dropout(1.0), InputError);
  CHECK_THROWS_AS(drop.forward(x, y, train_pass()), InputError);  // train needs a stream
}

TEST_CASE("softmax cross-entropy: closed-form values, stability, gradient") {
  Tensor logits({2, 3});
  logits.data = {1, 2, 3, 1, 1, 1};
  const std::vector<int> labels{2, 0};
  Tensor grad;
  const double loss = softmax_cross_entropy(logits, labels, &grad);
  const double row1 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  CHECK(loss == doctest::Approx((row1 + std::log(3.0)) / 2).epsilon(1e-12));
  // (softmax - onehot) / N
  CHECK(grad.data[2] ==
        doctest::Approx((std::exp(3.0) / std::exp(row1 + 3.0) - 1) / 2).epsilon(1e-6));
  CHECK(grad.data[4] == doctest::Approx(1.0 / 6).epsilon(1e-6));

  Tensor big({1, 2});
  big.data = {1000.0f, 0.0f};
  CHECK(softmax_cross_entropy(big, std::vector<int>{1}, nullptr) == doctest::Approx(1000.0));
  CHECK(softmax_cross_entropy(big, std::vector<int>{0}, nullptr) == doctest::Approx(0.0));

  Tensor z = random_tensor({4, 5}, 51, -3, 3);
  const std::vector<int> y{0, 4, 2, 2};
  softmax_cross_entropy(z, y, &grad);
  const std::vector<float> analytic = grad.data;
  check_gradient(
      "cross-entropy logits", analytic, z.data,
      [&] { return softmax_cross_entropy(z, y, nullptr); }, 1e-2f);

  CHECK_THROWS_AS(softmax_cross_entropy(logits, std::vector<int>{2, 3}, nullptr), InputError);
  CHECK_THROWS_AS(softmax_cross_entropy(logits, std::vector<int>{2}, nullptr), InputError);
}

TEST_CASE("accuracy: argmax with ties to the lowest index") {
  Tensor logits({3, 3});
  logits.data = {1, 1, 0,  //
                 0, 2, 2,  //
                 5, 4, 3};
  CHECK(argmax_row(logits, 0) == 0);
  CHECK(argmax_row(logits, 1) == 1);
  CHECK(count_correct(logits, std::vector<int>{0, 2, 0}) == 2);
  CHECK(accuracy(logits, std::vector<int>{1, 1, 0}) == doctest::Approx(2.0 / 3));
}

TEST_CASE("shape errors name the expected and the given shapes") {
  Dense dense(400, 120);
  Tensor out;
  const std::string msg = test::message_of([&] { dense.forward(Tensor({8, 256}), out, {}); });
  INFO(msg);
  CHECK(test::contains(msg, "(400)"));
  CHECK(test::contains(msg, "(256)"));
  CHECK_THROWS_AS(dense.forward(Tensor({8, 256}), out, {}), InputError);

  Conv2d conv(3, 8, 5, 1, 0);
  const std::string conv_msg = test::message_of([&] {
    conv.forward(Tensor({2, 3, 4, 4}), out, {});
  });
  INFO(conv_msg);
  CHECK(test::contains(conv_msg, "(3, 5, 5)"));
  CHECK(test::contains(conv_msg, "(3, 4, 4)"));
  CHECK_THROWS_AS(conv.forward(Tensor({2, 3, 4, 4}), out, {}), InputError);
  // With padding 1 the same input fits.
  Conv2d padded(3, 8, 5, 1, 1);
  CHECK_NOTHROW(padded.forward(Tensor({2, 3, 4, 4}), out, {}));
  CHECK(out.shape == Shape{2, 8, 2, 2});
  CHECK_THROWS_AS(conv.forward(Tensor({2, 2, 8, 8}), out, {}), InputError);  // channels
  MaxPool2d pool(3);
  CHECK_THROWS_AS(pool.forward(Tensor({1, 1, 2, 5}), out, {}), InputError);
}

TEST_CASE("layers reuse their buffers: no reallocation after the first batch") {
  Conv2d conv(1, 6, 5, 1, 2);
  RngStream rng(1, 0, 0);
  conv.initialize(rng);
  MaxPool2d pool(2);
  const Tensor x = random_tensor({4, 1, 12, 12}, 61);
  Tensor a, b, gb, ga;
  conv.forward(x, a, eval_pass());
  pool.forward(a, b, eval_pass());
  pool.backward(Tensor(b.shape, 1.0f), &ga, Pass{Mode::train, nullptr});
  conv.backward(ga, &gb, Pass{Mode::train, nullptr});
  const float* pointers[] = {a.ptr(), b.ptr(), ga.ptr(), gb.ptr()};
  conv.forward(x, a, eval_pass());
  pool.forward(a, b, eval_pass());
  pool.backward(Tensor(b.shape, 1.0f), &ga, Pass{Mode::train, nullptr});
  conv.backward(ga, &gb, Pass{Mode::train, nullptr});
  CHECK(pointers[0] == a.ptr());
  CHECK(pointers[1] == b.ptr());
  CHECK(pointers[2] == ga.ptr());
  CHECK(pointers[3] == gb.ptr());
}
