// GEMM backends of the training engine on the products LeNet-5, VGG-16 at 1/4 width (32 x 32
// input) and the MLP 784-800-800-10 actually issue at batch 64: forward, weight gradient and
// input gradient of every layer, convolutions as batched im2col products. Prints GFLOP/s per
// shape for every GEMM backend compiled in (oneDNN, OpenBLAS, Eigen), each one's time relative
// to the build's default, the time per network step, and how the default backend scales with
// two OpenMP replicas on two threads. A benchmark: it prints, it does not assert.
// Usage: bench_gemm [--quick]
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "training/gemm.hpp"

using namespace memcarlo;
using namespace memcarlo::training;

namespace {

struct Product {
  std::string name;
  Trans ta, tb;
  int M, N, K;
  double flops() const { return 2.0 * M * N * K; }
};

struct Network {
  std::string name;
  std::vector<Product> products;
};

constexpr int batch = 64;

// Products of a convolution computed as one batched im2col GEMM: W (OC, CKK) x col (CKK, N P).
void add_conv(std::vector<Product>& v, const std::string& name, int C, int OC, int k, int H,
              int pad, bool first) {
  const int OH = H + 2 * pad - k + 1, P = OH * OH, CKK = C * k * k, NP = batch * P;
  v.push_back({name + " fwd", Trans::no, Trans::no, OC, NP, CKK});
  v.push_back({name + " dW", Trans::no, Trans::yes, OC, CKK, NP});
  if (!first) v.push_back({name + " dX", Trans::yes, Trans::no, CKK, NP, OC});
}

void add_dense(std::vector<Product>& v, const std::string& name, int I, int O, bool first) {
  v.push_back({name + " fwd", Trans::no, Trans::yes, batch, O, I});
  v.push_back({name + " dW", Trans::yes, Trans::no, O, I, batch});
  if (!first) v.push_back({name + " dX", Trans::no, Trans::no, batch, I, O});
}

std::vector<Network> networks() {
  Network lenet{"LeNet-5", {}};
  add_conv(lenet.products, "conv1 1->6 k5 28x28 p2", 1, 6, 5, 28, 2, true);
  add_conv(lenet.products, "conv2 6->16 k5 14x14", 6, 16, 5, 14, 0, false);
  add_dense(lenet.products, "fc 400->120", 400, 120, false);
  add_dense(lenet.products, "fc 120->84", 120, 84, false);
  add_dense(lenet.products, "fc 84->10", 84, 10, false);

  // VGG-16 configuration D with every width divided by 4, 3x3 convolutions with padding 1 on
  // 32 x 32 inputs, classifier 128 -> 10 (the usual CIFAR variant).
  Network vgg{"VGG-16/4", {}};
  const int widths[] = {16, 16, 0, 32, 32, 0, 64, 64, 64, 0, 128, 128, 128, 0, 128, 128, 128, 0};
  int C = 3, H = 32, index = 1;
  for (int w : widths) {
    if (w == 0) {
      H /= 2;
      continue;
    }
    add_conv(vgg.products, fmt::format("conv{} {}->{} k3 {}x{}", index, C, w, H, H), C, w, 3, H, 1,
             index == 1);
    C = w;
    ++index;
  }
  add_dense(vgg.products, "fc 128->10", 128, 10, false);

  Network mlp{"MLP 784-800-800-10", {}};
  add_dense(mlp.products, "fc 784->800", 784, 800, true);
  add_dense(mlp.products, "fc 800->800", 800, 800, false);
  add_dense(mlp.products, "fc 800->10", 800, 10, false);
  return {lenet, vgg, mlp};
}

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Operands {
  std::vector<float> A, B, C;
  explicit Operands(const Product& p)
      : A(std::size_t(p.M) * p.K), B(std::size_t(p.K) * p.N), C(std::size_t(p.M) * p.N) {
    RngStream rng(1, 0, stream_id("bench_gemm"));
    for (float& x : A) x = static_cast<float>(rng.uniform() - 0.5);
    for (float& x : B) x = static_cast<float>(rng.uniform() - 0.5);
  }
};

void run(GemmBackend backend, const Product& p, Operands& o) {
  const int lda = p.ta == Trans::no ? p.K : p.M;
  const int ldb = p.tb == Trans::no ? p.N : p.K;
  sgemm(backend, p.ta, p.tb, p.M, p.N, p.K, 1.0f, o.A.data(), lda, o.B.data(), ldb, 0.0f,
        o.C.data(), p.N);
}

std::vector<GemmBackend> compiled_backends() {
  std::vector<GemmBackend> v;
  for (GemmBackend b : {GemmBackend::onednn, GemmBackend::openblas, GemmBackend::eigen})
    if (gemm_backend_available(b)) v.push_back(b);
  return v;
}

// Seconds per call of each backend: best of `repeats` timings of enough calls to fill
// `target_s`, the backends interleaved so that a slow spell of the machine hits all of them.
std::vector<double> time_backends(const std::vector<GemmBackend>& backends, const Product& p,
                                  int repeats, double target_s) {
  Operands o(p);
  for (GemmBackend b : backends) run(b, p, o);
  const int calls = std::max(1, static_cast<int>(target_s * 1e9 / p.flops()));  // ~1 GFLOP/s floor
  std::vector<double> best(backends.size(), 1e300);
  for (int r = 0; r < repeats; ++r)
    for (std::size_t b = 0; b < backends.size(); ++b) {
      const double t = seconds_of([&] {
        for (int c = 0; c < calls; ++c) run(backends[b], p, o);
      });
      best[b] = std::min(best[b], t / calls);
    }
  return best;
}

// Wall time of `replicas` OpenMP threads each running the network's products `steps` times
// with the default backend (independent operands per replica).
double replicas_seconds(const Network& net, int replicas, int steps) {
  std::vector<std::vector<Operands>> ops(replicas);
  for (auto& v : ops)
    for (const Product& p : net.products) v.emplace_back(p);
  const GemmBackend backend = default_gemm_backend();
  return seconds_of([&] {
#pragma omp parallel num_threads(replicas)
    {
      auto& mine = ops[omp_get_thread_num()];
      for (int s = 0; s < steps; ++s)
        for (std::size_t i = 0; i < net.products.size(); ++i)
          run(backend, net.products[i], mine[i]);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int repeats = quick ? 2 : 5;
  const double target_s = quick ? 0.005 : 0.02;
  const std::vector<GemmBackend> backends = compiled_backends();
  const GemmBackend chosen = default_gemm_backend();
  fmt::print("GEMM backends, single-threaded, batch {}; default backend of this build: {}\n", batch,
             gemm_backend_name(chosen));
  std::string header = fmt::format("{:<34} {:>5} {:>7} {:>5}", "product", "M", "N", "K");
  for (GemmBackend b : backends) header += fmt::format(" {:>11}", gemm_backend_name(b));
  for (GemmBackend b : backends)
    if (b != chosen)
      header += fmt::format(" {:>9}", fmt::format("{}/{:.2}", gemm_backend_name(b),
                                                  gemm_backend_name(chosen)));
  const auto chosen_index = static_cast<std::size_t>(
      std::find(backends.begin(), backends.end(), chosen) - backends.begin());

  std::vector<double> total(backends.size(), 0.0);
  for (const Network& net : networks()) {
    fmt::print("\n{}\n{}\n", net.name, header);
    std::vector<double> step(backends.size(), 0.0);
    for (const Product& p : net.products) {
      const std::vector<double> t = time_backends(backends, p, repeats, target_s);
      std::string line = fmt::format("{:<34} {:>5} {:>7} {:>5}", p.name, p.M, p.N, p.K);
      for (std::size_t b = 0; b < backends.size(); ++b) {
        step[b] += t[b];
        line += fmt::format(" {:>6.1f} GF/s", p.flops() / t[b] * 1e-9);
      }
      for (std::size_t b = 0; b < backends.size(); ++b)
        if (b != chosen_index) line += fmt::format(" {:>8.2f}x", t[b] / t[chosen_index]);
      fmt::print("{}\n", line);
    }
    std::string line = fmt::format("{:<54}", "one training step (GEMMs)");
    for (std::size_t b = 0; b < backends.size(); ++b) {
      total[b] += step[b];
      line += fmt::format(" {:>8.3f} ms", step[b] * 1e3);
    }
    for (std::size_t b = 0; b < backends.size(); ++b)
      if (b != chosen_index) line += fmt::format(" {:>8.2f}x", step[b] / step[chosen_index]);
    fmt::print("{}\n", line);
  }
  fmt::print("\nall three networks, one step each:");
  for (std::size_t b = 0; b < backends.size(); ++b)
    fmt::print(" {} {:.3f} ms{}", gemm_backend_name(backends[b]), total[b] * 1e3,
               b + 1 < backends.size() ? "," : "\n");

  // Replica scaling of the default backend: two OpenMP replicas on two threads against one.
  // The backend must not start threads of its own inside a replica (oneDNN's OpenMP
  // parallelism, OpenBLAS's pthreads); if it did, two replicas would oversubscribe the cores.
  fmt::print("\n{}: 2 replicas on 2 threads against 1 on 1 (GEMM throughput ratio, ideal 2)\n",
             gemm_backend_name(chosen));
  for (const Network& net : networks()) {
    const int steps = quick ? 5 : (net.name == "VGG-16/4" ? 10 : 50);
    replicas_seconds(net, 2, 1);  // warm-up
    double best1 = 1e300, best2 = 1e300;
    for (int r = 0; r < (quick ? 1 : 3); ++r) {
      best1 = std::min(best1, replicas_seconds(net, 1, steps));
      best2 = std::min(best2, replicas_seconds(net, 2, steps));
    }
    fmt::print("{:<20} 1 replica {:8.3f} ms/step   2 replicas {:8.3f} ms/step   speedup {:.2f}x\n",
               net.name, best1 / steps * 1e3, best2 / steps * 1e3, 2.0 * best1 / best2);
  }
  return 0;
}
