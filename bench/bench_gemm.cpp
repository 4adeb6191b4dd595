// GEMM backends of the training engine on the products LeNet-5, VGG-16 at 1/4 width (32 x 32
// input) and the MLP 784-800-800-10 actually issue at batch 64: forward, weight gradient and
// input gradient of every layer, convolutions as batched im2col products. Prints GFLOP/s per
// shape for OpenBLAS and Eigen and their ratio, the time per network step, and how OpenBLAS's
// own threads interact with two OpenMP replicas. A benchmark: it prints, it does not assert.
// Usage: bench_gemm [--quick]
#include <cblas.h>
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

// Seconds per call: best of `repeats` timings of enough calls to fill ~20 ms, the two backends
// interleaved so that a slow spell of the machine hits both.
std::pair<double, double> time_both(const Product& p, int repeats, double target_s) {
  Operands o(p);
  run(GemmBackend::openblas, p, o);
  run(GemmBackend::eigen, p, o);
  const int calls = std::max(1, static_cast<int>(target_s * 1e9 / p.flops()));  // ~1 GFLOP/s floor
  double best[2] = {1e300, 1e300};
  for (int r = 0; r < repeats; ++r) {
    for (int b = 0; b < 2; ++b) {
      const GemmBackend backend = b == 0 ? GemmBackend::openblas : GemmBackend::eigen;
      const double t = seconds_of([&] {
        for (int c = 0; c < calls; ++c) run(backend, p, o);
      });
      best[b] = std::min(best[b], t / calls);
    }
  }
  return {best[0], best[1]};
}

// Two OpenMP replicas each running the network's products `steps` times, with OpenBLAS allowed
// `blas_threads` threads of its own.
double replicas_seconds(const Network& net, int blas_threads, int steps) {
  std::vector<Operands> ops[2];
  for (auto& v : ops)
    for (const Product& p : net.products) v.emplace_back(p);
  openblas_set_num_threads(blas_threads);
  const double t = seconds_of([&] {
#pragma omp parallel num_threads(2)
    {
      auto& mine = ops[omp_get_thread_num()];
      for (int s = 0; s < steps; ++s)
        for (std::size_t i = 0; i < net.products.size(); ++i)
          run(GemmBackend::openblas, net.products[i], mine[i]);
    }
  });
  openblas_set_num_threads(1);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int repeats = quick ? 2 : 5;
  const double target_s = quick ? 0.005 : 0.02;
  fmt::print("GEMM backends, single-threaded, batch {}; default backend of this build: {}\n", batch,
             gemm_backend_name(default_gemm_backend()));
  if (!gemm_backend_available(GemmBackend::openblas)) {
    fmt::print("OpenBLAS is not compiled into this build: nothing to compare\n");
    return 0;
  }
  // First call pins OpenBLAS to one thread (gemm_openblas.cpp); later calls here change it.
  {
    Product p{"warm-up", Trans::no, Trans::no, 8, 8, 8};
    Operands o(p);
    run(GemmBackend::openblas, p, o);
  }
  double total_ob = 0, total_ei = 0;
  for (const Network& net : networks()) {
    fmt::print("\n{}\n{:<34} {:>5} {:>7} {:>5} {:>11} {:>11} {:>9}\n", net.name, "product", "M",
               "N", "K", "OpenBLAS", "Eigen", "OB/Eigen");
    double t_ob = 0, t_ei = 0;
    for (const Product& p : net.products) {
      const auto [ob, ei] = time_both(p, repeats, target_s);
      t_ob += ob;
      t_ei += ei;
      fmt::print("{:<34} {:>5} {:>7} {:>5} {:>7.2f} GF/s {:>6.2f} GF/s {:>8.2f}x\n", p.name, p.M,
                 p.N, p.K, p.flops() / ob * 1e-9, p.flops() / ei * 1e-9, ei / ob);
    }
    fmt::print("{:<34} {:>19} {:>8.3f} ms {:>8.3f} ms {:>8.2f}x\n", "one training step (GEMMs)", "",
               t_ob * 1e3, t_ei * 1e3, t_ei / t_ob);
    total_ob += t_ob;
    total_ei += t_ei;
  }
  fmt::print(
      "\nall three networks: OpenBLAS {:.3f} ms, Eigen {:.3f} ms per step each; "
      "OpenBLAS faster by {:.2f}x\n",
      total_ob * 1e3, total_ei * 1e3, total_ei / total_ob);

  // OpenBLAS threads under OpenMP replicas: Debian's libopenblas0-pthread defaults to one
  // thread per core. With two replicas on two cores, more BLAS threads only oversubscribe.
  fmt::print("\nOpenBLAS threads inside 2 OpenMP replicas (wall time of both replicas)\n");
  for (const Network& net : networks()) {
    const int steps = quick ? 5 : (net.name == "VGG-16/4" ? 10 : 50);
    replicas_seconds(net, 1, 1);  // warm-up
    double best1 = 1e300, best2 = 1e300;
    for (int r = 0; r < (quick ? 1 : 3); ++r) {
      best1 = std::min(best1, replicas_seconds(net, 1, steps));
      best2 = std::min(best2, replicas_seconds(net, 2, steps));
    }
    fmt::print(
        "{:<20} 1 BLAS thread {:8.3f} ms/step   2 BLAS threads {:8.3f} ms/step   "
        "ratio {:.2f}x\n",
        net.name, best1 / steps * 1e3, best2 / steps * 1e3, best2 / best1);
  }
  return 0;
}
