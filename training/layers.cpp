// Layer implementations. Loops are written over raw pointers with the innermost index
// contiguous so that GCC vectorises them at -O3 (no -ffast-math: reductions stay scalar and
// in a fixed order, so results are the same on every run).
#include "training/layers.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "training/conv_onednn.hpp"
#include "training/gemm.hpp"

namespace memcarlo::training {

namespace {

int as_int(std::size_t n, const char* what) {
  MC_VALIDATE(n <= static_cast<std::size_t>(INT_MAX), "{} of {} exceeds the GEMM index range", what,
              n);
  return static_cast<int>(n);
}

// PyTorch's default for Linear and Conv2d weights and biases: kaiming_uniform_(a = sqrt(5))
// works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch.nn.Linear docs), the same bound the
// bias uses. Elements are drawn in row-major order, weight before bias.
void fill_uniform(Tensor& t, double bound, RngStream& rng) {
  for (float& v : t.data) v = static_cast<float>(-bound + 2.0 * bound * rng.uniform());
}

void check_grad_shape(const char* layer, const Tensor& grad_out, const Shape& expected) {
  MC_VALIDATE(grad_out.shape == expected, "{} backward: gradient of shape {} for output {}", layer,
              shape_string(grad_out.shape), shape_string(expected));
}

// A sum in double over many floats, kept as 8 interleaved partial sums (element i of each
// added span goes to lane i % 8) that total() combines pairwise in a fixed order. One running
// sum is bound by the latency of the add (a dependent chain); 8 independent lanes are not, and
// GCC vectorises the fixed-width inner loops. The order is fixed, so results are reproducible.
struct LaneSum {
  static constexpr std::size_t lanes = 8;
  double v[lanes] = {};

  // Adds term(i) for i in [0, n).
  template <class Term>
  void accumulate(std::size_t n, Term term) {
    std::size_t i = 0;
    for (; i + lanes <= n; i += lanes)
      for (std::size_t j = 0; j < lanes; ++j) v[j] += term(i + j);
    for (std::size_t j = 0; i + j < n; ++j) v[j] += term(i + j);
  }
  void add(const float* x, std::size_t n) {
    accumulate(n, [x](std::size_t i) { return static_cast<double>(x[i]); });
  }
  // Sum of (x - mean)^2.
  void add_squared_deviation(const float* x, std::size_t n, double mean) {
    accumulate(n, [x, mean](std::size_t i) {
      const double d = x[i] - mean;
      return d * d;
    });
  }
  // Sum of x y.
  void add_product(const float* x, const float* y, std::size_t n) {
    accumulate(n, [x, y](std::size_t i) { return static_cast<double>(x[i]) * y[i]; });
  }
  double total() const {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
  }
};

}  // namespace

const Shape& ShapeCache::output_for(const Layer& layer, const Shape& in) {
  if (in == in_ && !in_.empty()) return out_;
  MC_VALIDATE(!in.empty(), "{} layer given an input without a batch dimension", layer.kind());
  Shape out = layer.output_shape(Shape(in.begin() + 1, in.end()));
  out.insert(out.begin(), in[0]);
  in_ = in;
  out_ = std::move(out);
  return out_;
}

// ---------------------------------------------------------------------------------------------
// Dense

Dense::Dense(std::size_t in_features, std::size_t out_features)
    : in_features_(in_features), out_features_(out_features) {
  MC_VALIDATE(in_features > 0 && out_features > 0, "dense layer needs positive sizes, got {} -> {}",
              in_features, out_features);
  params_[0] = Parameter{"weight", Tensor({out_features, in_features}),
                         Tensor({out_features, in_features}), true};
  params_[1] = Parameter{"bias", Tensor({out_features}), Tensor({out_features}), false};
}

Shape Dense::output_shape(const Shape& in) const {
  MC_VALIDATE(in.size() == 1 && in[0] == in_features_,
              "dense layer {} -> {} expects input of shape ({}), got {}", in_features_,
              out_features_, in_features_, shape_string(in));
  return {out_features_};
}

void Dense::initialize(RngStream& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
  fill_uniform(params_[0].value, bound, rng);
  fill_uniform(params_[1].value, bound, rng);
}

void Dense::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  out.resize(shapes_.output_for(*this, in.shape));
  input_ = in;
  const int N = as_int(in.batch(), "batch"), I = static_cast<int>(in_features_),
            O = static_cast<int>(out_features_);
  // Y (N, O) = X (N, I) W^T, then + b per row.
  sgemm(Trans::no, Trans::yes, N, O, I, 1.0f, in.ptr(), I, params_[0].value.ptr(), I, 0.0f,
        out.ptr(), O);
  const float* b = params_[1].value.ptr();
  for (int n = 0; n < N; ++n) {
    float* y = out.ptr() + static_cast<std::size_t>(n) * O;
    for (int o = 0; o < O; ++o) y[o] += b[o];
  }
}

void Dense::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  backward_split(grad_out, grad_out, grad_in);
}

void Dense::backward_split(const Tensor& grad_out, const Tensor& grad_out_for_input,
                           Tensor* grad_in) {
  const Shape& out_shape = shapes_.output_for(*this, input_.shape);
  check_grad_shape("dense", grad_out, out_shape);
  check_grad_shape("dense", grad_out_for_input, out_shape);
  const int N = static_cast<int>(input_.batch()), I = static_cast<int>(in_features_),
            O = static_cast<int>(out_features_);
  // dW (O, I) = dY^T (O, N) X (N, I); db = column sums of dY; dX (N, I) = dY (N, O) W (O, I).
  sgemm(Trans::yes, Trans::no, O, I, N, 1.0f, grad_out.ptr(), O, input_.ptr(), I, 0.0f,
        params_[0].grad.ptr(), I);
  float* db = params_[1].grad.ptr();
  std::fill(db, db + O, 0.0f);
  for (int n = 0; n < N; ++n) {
    const float* dy = grad_out.ptr() + static_cast<std::size_t>(n) * O;
    for (int o = 0; o < O; ++o) db[o] += dy[o];
  }
  if (grad_in) {
    grad_in->resize(input_.shape);
    sgemm(Trans::no, Trans::no, N, I, O, 1.0f, grad_out_for_input.ptr(), O, params_[0].value.ptr(),
          I, 0.0f, grad_in->ptr(), I);
  }
}

// ---------------------------------------------------------------------------------------------
// Conv2d

Conv2d::Conv2d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel,
               std::size_t stride, std::size_t padding, ConvAlgorithm algorithm)
    : in_ch_(in_channels),
      out_ch_(out_channels),
      k_(kernel),
      stride_(stride),
      pad_(padding),
      algorithm_(algorithm) {
  MC_VALIDATE(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0,
              "conv2d needs positive channels, kernel and stride, got {} -> {}, kernel {}, "
              "stride {}",
              in_channels, out_channels, kernel, stride);
  MC_VALIDATE(algorithm != ConvAlgorithm::onednn || onednn_convolution_available(),
              "conv2d algorithm onednn requested, but oneDNN is not compiled into this build");
  const Shape w{out_channels, in_channels, kernel, kernel};
  params_[0] = Parameter{"weight", Tensor(w), Tensor(w), true};
  params_[1] = Parameter{"bias", Tensor({out_channels}), Tensor({out_channels}), false};
}

Conv2d::~Conv2d() = default;

std::string Conv2d::onednn_kernels() const {
  return used_ == ConvAlgorithm::onednn && onednn_ ? onednn_->implementation() : "";
}

Shape Conv2d::output_shape(const Shape& in) const {
  MC_VALIDATE(in.size() == 3 && in[0] == in_ch_,
              "conv2d layer {} -> {} expects input of shape ({}, H, W), got {}", in_ch_, out_ch_,
              in_ch_, shape_string(in));
  const std::size_t Hp = in[1] + 2 * pad_, Wp = in[2] + 2 * pad_;
  MC_VALIDATE(
      k_ <= Hp && k_ <= Wp, "conv2d kernel of shape {} does not fit input {} (padded by {} to {})",
      shape_string({in_ch_, k_, k_}), shape_string(in), pad_, shape_string({in_ch_, Hp, Wp}));
  return {out_ch_, (Hp - k_) / stride_ + 1, (Wp - k_) / stride_ + 1};
}

void Conv2d::initialize(RngStream& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_ch_ * k_ * k_));
  fill_uniform(params_[0].value, bound, rng);
  fill_uniform(params_[1].value, bound, rng);
}

namespace {

// Output columns ow of kernel column kj whose input column iw = ow s + kj - pad lies inside
// [0, W): the range [lo, hi).
struct ColumnRange {
  int lo, hi;
};
ColumnRange valid_columns(int kj, int s, int pad, int W, int OW) {
  const int lo = kj >= pad ? 0 : std::min(OW, (pad - kj + s - 1) / s);
  const int hi = W - 1 + pad - kj < 0 ? 0 : std::min(OW, (W - 1 + pad - kj) / s + 1);
  return {lo, std::max(lo, hi)};
}

// Zeroes, in each of the OH output rows of a "same" convolution's im2col row, the columns
// outside [lo, hi) (those whose input column wrapped around a row edge).
void zero_wrapped_columns(float* row, int OH, int OW, ColumnRange valid) {
  if (valid.lo == 0 && valid.hi == OW) return;
  for (int oh = 0; oh < OH; ++oh) {
    float* d = row + oh * OW;
    for (int ow = 0; ow < valid.lo; ++ow) d[ow] = 0.0f;
    for (int ow = valid.hi; ow < OW; ++ow) d[ow] = 0.0f;
  }
}

}  // namespace

// col(row (c, ki, kj), column (oh, ow)) = x(c, oh s + ki - pad, ow s + kj - pad), zero outside.
// Columns of one sample are contiguous; ld is the row stride (P per sample, N P batched).
//
// Rows are short (OW is 2 to 32 here), so the loops below are written out rather than calls
// to memcpy and memset, whose per-call cost dominated im2col in perf (layers.cpp is compiled
// with -fno-tree-loop-distribute-patterns so that GCC keeps them as loops). A "same"
// convolution (stride 1, output plane = input plane) takes a faster path: its row (c, ki, kj)
// is the input plane shifted by (ki - pad) W + (kj - pad), one contiguous copy, after which the
// columns that wrapped around a row edge are zeroed.
void Conv2d::im2col(const float* x, float* col, int ld) const {
  const int k = static_cast<int>(k_), s = static_cast<int>(stride_), pad = static_cast<int>(pad_);
  const int H = g_.H, W = g_.W, OH = g_.OH, OW = g_.OW, P = g_.P;
  const bool same = s == 1 && OH == H && OW == W;
  for (int c = 0; c < g_.C; ++c) {
    const float* plane = x + static_cast<std::size_t>(c) * H * W;
    for (int ki = 0; ki < k; ++ki) {
      for (int kj = 0; kj < k; ++kj) {
        float* row = col + static_cast<std::size_t>((c * k + ki) * k + kj) * ld;
        const auto [lo, hi] = valid_columns(kj, s, pad, W, OW);
        if (same) {
          const int shift = (ki - pad) * W + (kj - pad);
          // Output pixels j whose source j + shift lies in the plane; the others are zero.
          const int first = std::clamp(-shift, 0, P), last = std::clamp(P - shift, first, P);
          for (int j = 0; j < first; ++j) row[j] = 0.0f;
          for (int j = first; j < last; ++j) row[j] = plane[j + shift];
          for (int j = last; j < P; ++j) row[j] = 0.0f;
          zero_wrapped_columns(row, OH, OW, {lo, hi});
          continue;
        }
        for (int oh = 0; oh < OH; ++oh) {
          float* d = row + oh * OW;
          const int ih = oh * s + ki - pad;
          if (ih < 0 || ih >= H) {
            for (int ow = 0; ow < OW; ++ow) d[ow] = 0.0f;
            continue;
          }
          const float* src = plane + static_cast<std::size_t>(ih) * W + (kj - pad);
          for (int ow = 0; ow < lo; ++ow) d[ow] = 0.0f;
          if (s == 1) {
            for (int ow = lo; ow < hi; ++ow) d[ow] = src[ow];
          } else {
            for (int ow = lo; ow < hi; ++ow) d[ow] = src[ow * s];
          }
          for (int ow = hi; ow < OW; ++ow) d[ow] = 0.0f;
        }
      }
    }
  }
}

// The adjoint of im2col: dx(c, ih, iw) += col(row, column) over every use, rows in order; dx
// is zeroed here. For a "same" convolution the entries of col that im2col zeroes (wrapped
// columns, padding rows) are zeroed in col first, so each row adds as one contiguous span:
// adding 0 leaves every sum as it was (up to the sign of a zero).
void Conv2d::col2im(float* col, int ld, float* dx) const {
  const int k = static_cast<int>(k_), s = static_cast<int>(stride_), pad = static_cast<int>(pad_);
  const int H = g_.H, W = g_.W, OH = g_.OH, OW = g_.OW, P = g_.P;
  const bool same = s == 1 && OH == H && OW == W;
  const std::size_t plane_size = static_cast<std::size_t>(H) * W;
  for (std::size_t i = 0; i < plane_size * g_.C; ++i) dx[i] = 0.0f;
  for (int c = 0; c < g_.C; ++c) {
    float* plane = dx + c * plane_size;
    for (int ki = 0; ki < k; ++ki) {
      for (int kj = 0; kj < k; ++kj) {
        float* row = col + static_cast<std::size_t>((c * k + ki) * k + kj) * ld;
        const auto [lo, hi] = valid_columns(kj, s, pad, W, OW);
        if (same) {
          const int shift = (ki - pad) * W + (kj - pad);
          const int first = std::clamp(-shift, 0, P), last = std::clamp(P - shift, first, P);
          zero_wrapped_columns(row, OH, OW, {lo, hi});
          for (int j = first; j < last; ++j) plane[j + shift] += row[j];
          continue;
        }
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * s + ki - pad;
          if (ih < 0 || ih >= H) continue;
          const float* d = row + oh * OW;
          float* dst = plane + static_cast<std::size_t>(ih) * W + (kj - pad);
          if (s == 1) {
            for (int ow = lo; ow < hi; ++ow) dst[ow] += d[ow];
          } else {
            for (int ow = lo; ow < hi; ++ow) dst[ow * s] += d[ow];
          }
        }
      }
    }
  }
}

void Conv2d::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  out.resize(shapes_.output_for(*this, in.shape));
  const std::size_t NP = in.batch() * out.shape[2] * out.shape[3];
  g_ = Geometry{as_int(in.batch(), "batch"),
                static_cast<int>(in_ch_),
                static_cast<int>(in.shape[2]),
                static_cast<int>(in.shape[3]),
                static_cast<int>(out.shape[2]),
                static_cast<int>(out.shape[3]),
                static_cast<int>(out.shape[2] * out.shape[3]),
                as_int(in_ch_ * k_ * k_, "conv2d C k k")};
  as_int(NP * std::max<std::size_t>(out_ch_, in_ch_ * k_ * k_), "conv2d im2col size");
  const int N = g_.N, P = g_.P, CKK = g_.CKK, OC = static_cast<int>(out_ch_);
  const std::size_t in_sample = in.sample_size();
  const float* w = params_[0].value.ptr();
  const float* b = params_[1].value.ptr();
  // bench_layers (bench/README.md) on the LeNet-5 and VGG-16/4 layers: oneDNN's direct
  // convolution is 1.1-2.5x faster than both im2col layouts on every layer but a first layer
  // with one input channel, whose im2col matrix is cheap and where oneDNN pads the output
  // channels to its vector width (LeNet-5 conv1: per-sample 1.2x faster). Without oneDNN:
  // per-sample GEMMs over fewer than 64 output pixels are too narrow for the BLAS kernels
  // (batched 1.1-2.5x faster at 4x4 and 2x2); from 8x8 up per-sample wins.
  used_ = algorithm_;
  if (used_ == ConvAlgorithm::automatic) {
    if (onednn_convolution_available() && g_.C > 1)
      used_ = ConvAlgorithm::onednn;
    else
      used_ = P < 64 ? ConvAlgorithm::batched : ConvAlgorithm::per_sample;
  }

  if (used_ == ConvAlgorithm::onednn) {
    const ConvGeometry geometry{N,
                                g_.C,
                                g_.H,
                                g_.W,
                                OC,
                                g_.OH,
                                g_.OW,
                                static_cast<int>(k_),
                                static_cast<int>(stride_),
                                static_cast<int>(pad_)};
    onednn_ = nullptr;
    for (auto& c : onednn_cache_)
      if (c->geometry() == geometry) onednn_ = c.get();
    if (!onednn_) {
      if (onednn_cache_.size() == 4) onednn_cache_.erase(onednn_cache_.begin());
      onednn_cache_.push_back(std::make_unique<OnednnConv>(geometry));
      onednn_ = onednn_cache_.back().get();
    }
    onednn_->forward(in.ptr(), w, b, out.ptr());
    return;
  }
  if (used_ == ConvAlgorithm::batched) {
    const int ld = N * P;
    col_.resize(static_cast<std::size_t>(CKK) * ld);
    out_tmp_.resize(static_cast<std::size_t>(OC) * ld);
    for (int n = 0; n < N; ++n) im2col(in.ptr() + n * in_sample, col_.data() + n * P, ld);
    // (OC, N P) = W (OC, CKK) col (CKK, N P), then permuted to (N, OC, P) with the bias.
    sgemm(Trans::no, Trans::no, OC, ld, CKK, 1.0f, w, CKK, col_.data(), ld, 0.0f, out_tmp_.data(),
          ld);
    for (int n = 0; n < N; ++n) {
      for (int oc = 0; oc < OC; ++oc) {
        const float* src = out_tmp_.data() + static_cast<std::size_t>(oc) * ld + n * P;
        float* dst = out.ptr() + (static_cast<std::size_t>(n) * OC + oc) * P;
        const float bias = b[oc];
        for (int p = 0; p < P; ++p) dst[p] = src[p] + bias;
      }
    }
  } else {
    // One (CKK, P) matrix per sample, all kept for backward (rebuilding them there took as
    // long as building them here).
    const std::size_t col_size = static_cast<std::size_t>(CKK) * P;
    col_.resize(col_size * N);
    for (int n = 0; n < N; ++n) {
      float* col = col_.data() + n * col_size;
      im2col(in.ptr() + n * in_sample, col, P);
      float* y = out.ptr() + static_cast<std::size_t>(n) * OC * P;
      sgemm(Trans::no, Trans::no, OC, P, CKK, 1.0f, w, CKK, col, P, 0.0f, y, P);
      for (int oc = 0; oc < OC; ++oc) {
        const float bias = b[oc];
        for (int p = 0; p < P; ++p) y[oc * P + p] += bias;
      }
    }
  }
}

void Conv2d::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  backward_split(grad_out, grad_out, grad_in);
}

void Conv2d::backward_split(const Tensor& grad_out, const Tensor& grad_out_for_input,
                            Tensor* grad_in) {
  const Shape& out_shape = shapes_.output_for(*this, shapes_.input());
  check_grad_shape("conv2d", grad_out, out_shape);
  check_grad_shape("conv2d", grad_out_for_input, out_shape);
  const bool split = &grad_out_for_input != &grad_out;
  const int N = g_.N, P = g_.P, CKK = g_.CKK, OC = static_cast<int>(out_ch_);
  const std::size_t in_sample = static_cast<std::size_t>(g_.C) * g_.H * g_.W;
  const float* w = params_[0].value.ptr();
  float* dw = params_[0].grad.ptr();
  float* db = params_[1].grad.ptr();
  if (grad_in) grad_in->resize(shapes_.input());
  if (used_ == ConvAlgorithm::onednn) {
    onednn_->backward(grad_out.ptr(), split ? grad_out_for_input.ptr() : nullptr, dw, db,
                      grad_in ? grad_in->ptr() : nullptr);
    return;
  }
  std::vector<LaneSum> bias_sum(static_cast<std::size_t>(OC));  // db, summed over N and P

  if (used_ == ConvAlgorithm::batched) {
    const int ld = N * P;
    // dY (N, OC, P) -> (OC, N P); the bias gradient sums each row.
    grad_tmp_.resize(static_cast<std::size_t>(OC) * ld);
    for (int n = 0; n < N; ++n) {
      for (int oc = 0; oc < OC; ++oc) {
        const float* src = grad_out.ptr() + (static_cast<std::size_t>(n) * OC + oc) * P;
        float* dst = grad_tmp_.data() + static_cast<std::size_t>(oc) * ld + n * P;
        for (int p = 0; p < P; ++p) dst[p] = src[p];
        bias_sum[oc].add(src, static_cast<std::size_t>(P));
      }
    }
    // dW (OC, CKK) = dY (OC, N P) col^T; dcol (CKK, N P) = W^T dY.
    sgemm(Trans::no, Trans::yes, OC, CKK, ld, 1.0f, grad_tmp_.data(), ld, col_.data(), ld, 0.0f, dw,
          CKK);
    if (grad_in) {
      if (split) {  // the input gradient's dY, permuted the same way
        for (int n = 0; n < N; ++n)
          for (int oc = 0; oc < OC; ++oc)
            std::copy_n(grad_out_for_input.ptr() + (static_cast<std::size_t>(n) * OC + oc) * P, P,
                        grad_tmp_.data() + static_cast<std::size_t>(oc) * ld + n * P);
      }
      dcol_.resize(static_cast<std::size_t>(CKK) * ld);
      sgemm(Trans::yes, Trans::no, CKK, ld, OC, 1.0f, w, CKK, grad_tmp_.data(), ld, 0.0f,
            dcol_.data(), ld);
      for (int n = 0; n < N; ++n) col2im(dcol_.data() + n * P, ld, grad_in->ptr() + n * in_sample);
    }
  } else {
    if (grad_in) dcol_.resize(static_cast<std::size_t>(CKK) * P);
    for (int n = 0; n < N; ++n) {
      const float* dy = grad_out.ptr() + static_cast<std::size_t>(n) * OC * P;
      for (int oc = 0; oc < OC; ++oc)
        bias_sum[oc].add(dy + static_cast<std::size_t>(oc) * P, static_cast<std::size_t>(P));
      const float* col = col_.data() + static_cast<std::size_t>(n) * CKK * P;
      sgemm(Trans::no, Trans::yes, OC, CKK, P, 1.0f, dy, P, col, P, n == 0 ? 0.0f : 1.0f,
            dw, CKK);
      if (grad_in) {
        const float* dy_in = grad_out_for_input.ptr() + static_cast<std::size_t>(n) * OC * P;
        sgemm(Trans::yes, Trans::no, CKK, P, OC, 1.0f, w, CKK, dy_in, P, 0.0f, dcol_.data(), P);
        col2im(dcol_.data(), P, grad_in->ptr() + n * in_sample);
      }
    }
  }
  for (int oc = 0; oc < OC; ++oc) db[oc] = static_cast<float>(bias_sum[oc].total());
}

// ---------------------------------------------------------------------------------------------
// Pooling

namespace {

Shape pool_output_shape(const char* name, std::size_t k, std::size_t stride, const Shape& in) {
  MC_VALIDATE(in.size() == 3, "{} expects input of shape (C, H, W), got {}", name,
              shape_string(in));
  MC_VALIDATE(k <= in[1] && k <= in[2], "{} window of shape ({}, {}) does not fit input {}", name,
              k, k, shape_string(in));
  return {in[0], (in[1] - k) / stride + 1, (in[2] - k) / stride + 1};
}

}  // namespace

MaxPool2d::MaxPool2d(std::size_t kernel, std::size_t stride) : k_(kernel), stride_(stride) {
  MC_VALIDATE(kernel > 0 && stride > 0, "maxpool needs positive kernel and stride, got {}, {}",
              kernel, stride);
}

Shape MaxPool2d::output_shape(const Shape& in) const {
  return pool_output_shape("maxpool", k_, stride_, in);
}

void MaxPool2d::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  out.resize(shapes_.output_for(*this, in.shape));
  MC_VALIDATE(in.shape[2] * in.shape[3] <= std::numeric_limits<std::uint32_t>::max(),
              "maxpool input plane {} too large", shape_string(in.shape));
  const std::size_t planes = in.shape[0] * in.shape[1];
  const int H = static_cast<int>(in.shape[2]), W = static_cast<int>(in.shape[3]);
  const int OH = static_cast<int>(out.shape[2]), OW = static_cast<int>(out.shape[3]);
  const int k = static_cast<int>(k_), s = static_cast<int>(stride_);
  argmax_.resize(out.size());
  if (k == 2 && s == 2) {
    // The usual 2x2 window with stride 2 (LeNet-5, VGG-16): the same visiting order and rule
    // as below, each window in registers. Starting from the window's first element equals
    // starting from -inf there: -inf is not taken and keeps the first position anyway.
    for (std::size_t pl = 0; pl < planes; ++pl) {
      const float* x = in.ptr() + pl * H * W;
      float* y = out.ptr() + pl * OH * OW;
      std::uint32_t* am = argmax_.data() + pl * OH * OW;
      for (int oh = 0; oh < OH; ++oh) {
        const float* r0 = x + 2 * oh * W;
        const float* r1 = r0 + W;
        const auto base = static_cast<std::uint32_t>(2 * oh * W);
        for (int ow = 0; ow < OW; ++ow) {
          const auto i = base + static_cast<std::uint32_t>(2 * ow);
          float best = r0[2 * ow];
          std::uint32_t at = i;
          const float b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
          bool take = b > best || b != b;
          best = take ? b : best;
          at = take ? i + 1 : at;
          take = c > best || c != c;
          best = take ? c : best;
          at = take ? i + static_cast<std::uint32_t>(W) : at;
          take = d > best || d != d;
          best = take ? d : best;
          at = take ? i + static_cast<std::uint32_t>(W) + 1 : at;
          y[oh * OW + ow] = best;
          am[oh * OW + ow] = at;
        }
      }
    }
    return;
  }
  for (std::size_t pl = 0; pl < planes; ++pl) {
    const float* x = in.ptr() + pl * H * W;
    float* y = out.ptr() + pl * OH * OW;
    std::uint32_t* am = argmax_.data() + pl * OH * OW;
    for (int oh = 0; oh < OH; ++oh) {
      // As PyTorch's max_pool2d CPU kernel: start from -inf at the window's first element and
      // visit the window in row-major order, replacing on a strictly larger value or a NaN.
      // The loop over the output row is innermost so that it vectorises.
      float* best = y + oh * OW;
      std::uint32_t* best_at = am + oh * OW;
      for (int ow = 0; ow < OW; ++ow) {
        best[ow] = -std::numeric_limits<float>::infinity();
        best_at[ow] = static_cast<std::uint32_t>(oh * s * W + ow * s);
      }
      for (int ki = 0; ki < k; ++ki) {
        for (int kj = 0; kj < k; ++kj) {
          const int start = (oh * s + ki) * W + kj;
          const float* row = x + start;
          for (int ow = 0; ow < OW; ++ow) {
            const float v = row[ow * s];
            const bool take = v > best[ow] || v != v;
            best[ow] = take ? v : best[ow];
            best_at[ow] = take ? static_cast<std::uint32_t>(start + ow * s) : best_at[ow];
          }
        }
      }
    }
  }
}

void MaxPool2d::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  check_grad_shape("maxpool", grad_out, shapes_.output_for(*this, shapes_.input()));
  if (!grad_in) return;
  const Shape& in_shape = shapes_.input();
  grad_in->resize(in_shape);
  grad_in->fill(0.0f);
  const std::size_t planes = in_shape[0] * in_shape[1];
  const std::size_t plane_in = in_shape[2] * in_shape[3];
  const std::size_t plane_out = grad_out.size() / planes;
  for (std::size_t pl = 0; pl < planes; ++pl) {
    float* dx = grad_in->ptr() + pl * plane_in;
    const float* dy = grad_out.ptr() + pl * plane_out;
    const std::uint32_t* am = argmax_.data() + pl * plane_out;
    // Overlapping windows (stride < kernel) can pick the same element: accumulate.
    for (std::size_t o = 0; o < plane_out; ++o) dx[am[o]] += dy[o];
  }
}

AvgPool2d::AvgPool2d(std::size_t kernel, std::size_t stride) : k_(kernel), stride_(stride) {
  MC_VALIDATE(kernel > 0 && stride > 0, "avgpool needs positive kernel and stride, got {}, {}",
              kernel, stride);
}

Shape AvgPool2d::output_shape(const Shape& in) const {
  return pool_output_shape("avgpool", k_, stride_, in);
}

void AvgPool2d::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  out.resize(shapes_.output_for(*this, in.shape));
  const std::size_t planes = in.shape[0] * in.shape[1];
  const int H = static_cast<int>(in.shape[2]), W = static_cast<int>(in.shape[3]);
  const int OH = static_cast<int>(out.shape[2]), OW = static_cast<int>(out.shape[3]);
  const int k = static_cast<int>(k_), s = static_cast<int>(stride_);
  const float area = static_cast<float>(k * k);
  for (std::size_t pl = 0; pl < planes; ++pl) {
    const float* x = in.ptr() + pl * H * W;
    float* y = out.ptr() + pl * OH * OW;
    for (int oh = 0; oh < OH; ++oh) {
      for (int ow = 0; ow < OW; ++ow) {
        float sum = 0.0f;
        for (int ki = 0; ki < k; ++ki) {
          const float* r = x + (oh * s + ki) * W + ow * s;
          for (int kj = 0; kj < k; ++kj) sum += r[kj];
        }
        y[oh * OW + ow] = sum / area;
      }
    }
  }
}

void AvgPool2d::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  check_grad_shape("avgpool", grad_out, shapes_.output_for(*this, shapes_.input()));
  if (!grad_in) return;
  const Shape& in_shape = shapes_.input();
  grad_in->resize(in_shape);
  grad_in->fill(0.0f);
  const std::size_t planes = in_shape[0] * in_shape[1];
  const int W = static_cast<int>(in_shape[3]);
  const int OH = static_cast<int>(grad_out.shape[2]), OW = static_cast<int>(grad_out.shape[3]);
  const int k = static_cast<int>(k_), s = static_cast<int>(stride_);
  const float area = static_cast<float>(k * k);
  for (std::size_t pl = 0; pl < planes; ++pl) {
    float* dx = grad_in->ptr() + pl * in_shape[2] * W;
    const float* dy = grad_out.ptr() + pl * OH * OW;
    for (int oh = 0; oh < OH; ++oh) {
      for (int ow = 0; ow < OW; ++ow) {
        const float g = dy[oh * OW + ow] / area;
        for (int ki = 0; ki < k; ++ki) {
          float* r = dx + (oh * s + ki) * W + ow * s;
          for (int kj = 0; kj < k; ++kj) r[kj] += g;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Activations

void ReLU::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  out.resize(in.shape);
  output_.resize(in.shape);
  const float* x = in.ptr();
  float* y = out.ptr();
  float* keep = output_.ptr();
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i] > 0.0f ? x[i] : 0.0f;
    y[i] = v;
    keep[i] = v;
  }
}

void ReLU::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  check_grad_shape("relu", grad_out, output_.shape);
  if (!grad_in) return;
  grad_in->resize(output_.shape);
  const float* y = output_.ptr();
  const float* dy = grad_out.ptr();
  float* dx = grad_in->ptr();
  const std::size_t n = output_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const float g = dy[i];  // loaded unconditionally, so the select vectorises
    dx[i] = y[i] > 0.0f ? g : 0.0f;
  }
}

// tanh in float arithmetic that GCC vectorises (glibc's tanhf is a scalar call of ~10 ns and
// made up a third of a LeNet-5 training step) and that gives the same bits with every libm.
// |x| < 0.625: x P(x^2), P of degree 5 fitted to tanh(x)/x on Chebyshev nodes, relative
// error 4e-9 before rounding. Otherwise 1 - 2 / (exp(2|x|) + 1), with exp by Cody-Waite
// reduction to |r| <= ln2/2 and a degree-7 Taylor polynomial (truncation 5e-9); |x| is capped
// at 10, beyond which tanh rounds to 1 in float. test_layers bounds the error at 4 ulp.
namespace {

float tanh_float(float x) {
  const float a = std::fabs(x);
  // Small |x|: Horner in z = x^2.
  const float z = a * a;
  float q = -0.005697522353131696f;
  q = q * z + 0.02063030700871512f;
  q = q * z - 0.053735865139887345f;
  q = q * z + 0.13331365589070393f;
  q = q * z - 0.33333275348547660f;
  q = q * z + 0.99999999823621680f;
  const float small = a * q;
  // Large |x|: e = exp(y), y = 2|x| = k ln2 + r.
  // min(10, NaN) = 10 keeps the int cast defined; a select, not a branch, so the loop
  // vectorises (GCC does not if-convert arms that could trap).
  const float y = 2.0f * std::min(10.0f, a);
  const int k = static_cast<int>(y * 1.44269504088896341f + 0.5f);
  const float kf = static_cast<float>(k);
  const float r = (y - kf * 0.693359375f) - kf * -2.12194440e-4f;  // ln2 = hi + lo, hi exact
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float e = p * std::bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);
  const float large = 1.0f - 2.0f / (e + 1.0f);
  const float t = a < 0.625f ? small : large;
  return x != x ? x : std::copysign(t, x);
}

}  // namespace

void Tanh::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  out.resize(in.shape);
  output_.resize(in.shape);
  const float* x = in.ptr();
  float* y = out.ptr();
  float* keep = output_.ptr();
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) {
    const float v = tanh_float(x[i]);
    y[i] = v;
    keep[i] = v;
  }
}

void Tanh::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  check_grad_shape("tanh", grad_out, output_.shape);
  if (!grad_in) return;
  grad_in->resize(output_.shape);
  const float* y = output_.ptr();
  const float* dy = grad_out.ptr();
  float* dx = grad_in->ptr();
  const std::size_t n = output_.size();
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

// ---------------------------------------------------------------------------------------------
// BatchNorm

BatchNorm::BatchNorm(std::size_t num_features, double eps, double momentum)
    : features_(num_features), eps_(eps), momentum_(momentum) {
  MC_VALIDATE(num_features > 0, "batch norm needs at least one feature, got {}", num_features);
  MC_VALIDATE(eps > 0 && std::isfinite(eps), "batch norm eps must be positive, got {}", eps);
  MC_VALIDATE(momentum >= 0 && momentum <= 1, "batch norm momentum must be in [0, 1], got {}",
              momentum);
  params_[0] = Parameter{"gamma", Tensor({num_features}, 1.0f), Tensor({num_features}), false};
  params_[1] = Parameter{"beta", Tensor({num_features}), Tensor({num_features}), false};
  buffers_[0] = Tensor({num_features}, 0.0f);
  buffers_[1] = Tensor({num_features}, 1.0f);
}

Shape BatchNorm::output_shape(const Shape& in) const {
  MC_VALIDATE(!in.empty() && in[0] == features_,
              "batch norm over {} features expects input of shape ({}, ...), got {}", features_,
              features_, shape_string(in));
  return in;
}

void BatchNorm::initialize(RngStream& /*rng*/) {
  params_[0].value.fill(1.0f);
  params_[1].value.fill(0.0f);
  buffers_[0].fill(0.0f);
  buffers_[1].fill(1.0f);
}

void BatchNorm::forward(const Tensor& in, Tensor& out, const Pass& pass) {
  out.resize(shapes_.output_for(*this, in.shape));
  xhat_.resize(in.shape);
  inv_std_.resize(features_);
  last_mode_ = pass.mode;
  const std::size_t N = in.batch(), C = features_, S = in.sample_size() / C;
  const std::size_t m = N * S;  // values per feature
  const float* gamma = params_[0].value.ptr();
  const float* beta = params_[1].value.ptr();
  float* running_mean = buffers_[0].ptr();
  float* running_var = buffers_[1].ptr();
  if (pass.mode == Mode::train) {
    // PyTorch raises the same error: the variance of one value is undefined.
    MC_VALIDATE(m > 1,
                "batch norm in train mode needs more than one value per feature, got "
                "input {}",
                shape_string(in.shape));
  }
  for (std::size_t c = 0; c < C; ++c) {
    double mean, inv_std;
    if (pass.mode == Mode::train) {
      // Two passes in double: the mean, then the biased variance about it.
      LaneSum sum, squares;
      for (std::size_t n = 0; n < N; ++n) sum.add(in.ptr() + (n * C + c) * S, S);
      mean = sum.total() / static_cast<double>(m);
      for (std::size_t n = 0; n < N; ++n)
        squares.add_squared_deviation(in.ptr() + (n * C + c) * S, S, mean);
      const double ss = squares.total();
      const double var = ss / static_cast<double>(m);
      inv_std = 1.0 / std::sqrt(var + eps_);
      const double unbiased = ss / static_cast<double>(m - 1);
      running_mean[c] = static_cast<float>((1.0 - momentum_) * running_mean[c] + momentum_ * mean);
      running_var[c] =
          static_cast<float>((1.0 - momentum_) * running_var[c] + momentum_ * unbiased);
    } else {
      mean = running_mean[c];
      inv_std = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps_);
    }
    inv_std_[c] = static_cast<float>(inv_std);
    const float mu = static_cast<float>(mean), is = inv_std_[c], g = gamma[c], b = beta[c];
    for (std::size_t n = 0; n < N; ++n) {
      const float* x = in.ptr() + (n * C + c) * S;
      float* xh = xhat_.ptr() + (n * C + c) * S;
      float* y = out.ptr() + (n * C + c) * S;
      for (std::size_t s = 0; s < S; ++s) {
        xh[s] = (x[s] - mu) * is;
        y[s] = g * xh[s] + b;
      }
    }
  }
}

void BatchNorm::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  check_grad_shape("batchnorm", grad_out, xhat_.shape);
  const std::size_t N = xhat_.batch(), C = features_, S = xhat_.sample_size() / C;
  const double m = static_cast<double>(N * S);
  const float* gamma = params_[0].value.ptr();
  float* dgamma = params_[0].grad.ptr();
  float* dbeta = params_[1].grad.ptr();
  if (grad_in) grad_in->resize(xhat_.shape);
  for (std::size_t c = 0; c < C; ++c) {
    LaneSum dy_sum, dy_xhat_sum;
    for (std::size_t n = 0; n < N; ++n) {
      const float* dy = grad_out.ptr() + (n * C + c) * S;
      dy_sum.add(dy, S);
      dy_xhat_sum.add_product(dy, xhat_.ptr() + (n * C + c) * S, S);
    }
    const double sum_dy = dy_sum.total(), sum_dy_xhat = dy_xhat_sum.total();
    dgamma[c] = static_cast<float>(sum_dy_xhat);
    dbeta[c] = static_cast<float>(sum_dy);
    if (!grad_in) continue;
    const float scale = gamma[c] * inv_std_[c];
    // Train: the batch statistics depend on x, dx = gamma/sigma (dy - mean(dy) - xhat
    // mean(dy xhat)). Eval: the running statistics are constants, dx = gamma/sigma dy.
    const bool train = last_mode_ == Mode::train;
    const float mean_dy = train ? static_cast<float>(sum_dy / m) : 0.0f;
    const float mean_dy_xhat = train ? static_cast<float>(sum_dy_xhat / m) : 0.0f;
    for (std::size_t n = 0; n < N; ++n) {
      const float* dy = grad_out.ptr() + (n * C + c) * S;
      const float* xh = xhat_.ptr() + (n * C + c) * S;
      float* dx = grad_in->ptr() + (n * C + c) * S;
      for (std::size_t s = 0; s < S; ++s) dx[s] = scale * (dy[s] - mean_dy - xh[s] * mean_dy_xhat);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dropout and Flatten

Dropout::Dropout(double p) : p_(p) {
  MC_VALIDATE(p >= 0 && p < 1, "dropout probability must be in [0, 1), got {}", p);
}

void Dropout::forward(const Tensor& in, Tensor& out, const Pass& pass) {
  out.resize(in.shape);
  masked_ = pass.mode == Mode::train && p_ > 0;
  if (!masked_) {
    std::copy(in.data.begin(), in.data.end(), out.data.begin());
    return;
  }
  MC_VALIDATE(pass.rng != nullptr, "dropout in train mode needs a random stream");
  RngStream& rng = *pass.rng;
  const double keep = 1.0 - p_;
  const float scale = static_cast<float>(1.0 / keep);
  mask_.resize(in.size());
  for (float& m : mask_) m = rng.uniform() < keep ? scale : 0.0f;
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) out.data[i] = in.data[i] * mask_[i];
}

void Dropout::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  if (!grad_in) return;
  grad_in->resize(grad_out.shape);
  if (!masked_) {
    std::copy(grad_out.data.begin(), grad_out.data.end(), grad_in->data.begin());
    return;
  }
  MC_VALIDATE(grad_out.size() == mask_.size(),
              "dropout backward: gradient of shape {} for {} "
              "outputs",
              shape_string(grad_out.shape), mask_.size());
  const std::size_t n = grad_out.size();
  for (std::size_t i = 0; i < n; ++i) grad_in->data[i] = grad_out.data[i] * mask_[i];
}

void Flatten::forward(const Tensor& in, Tensor& out, const Pass& /*pass*/) {
  MC_VALIDATE(!in.shape.empty(), "flatten layer given an input without a batch dimension");
  if (in.shape != in_shape_) in_shape_ = in.shape;
  out.data.resize(in.size());
  out.shape.resize(2);
  out.shape[0] = in.batch();
  out.shape[1] = in.sample_size();
  std::copy(in.data.begin(), in.data.end(), out.data.begin());
}

void Flatten::backward(const Tensor& grad_out, Tensor* grad_in, const Pass& /*pass*/) {
  MC_VALIDATE(grad_out.size() == shape_size(in_shape_),
              "flatten backward: gradient of shape {} "
              "for input {}",
              shape_string(grad_out.shape), shape_string(in_shape_));
  if (!grad_in) return;
  grad_in->resize(in_shape_);
  std::copy(grad_out.data.begin(), grad_out.data.end(), grad_in->data.begin());
}

}  // namespace memcarlo::training
