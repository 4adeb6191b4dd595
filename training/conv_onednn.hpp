// A 2-d convolution (forward, weight and bias gradients, input gradient) computed by oneDNN's
// direct-convolution primitives, which generate AVX-512/AVX2 kernels at run time and need no
// im2col matrix. The caller's tensors stay in plain layouts (NCHW activations, OIHW weights);
// the primitives pick their own blocked layouts and the conversions (reorders) happen inside.
// One object serves one geometry (batch, channels, plane, kernel, stride, padding) and one
// thread; Conv2d keeps one per input shape it sees.
#pragma once

#include <memory>

namespace memcarlo::training {

struct ConvGeometry {
  int N, C, H, W, OC, OH, OW, k, stride, pad;
  bool operator==(const ConvGeometry&) const = default;
};

class OnednnConv {
 public:
  // Throws memcarlo::Error when oneDNN cannot build the primitives.
  explicit OnednnConv(const ConvGeometry& g);
  ~OnednnConv();
  OnednnConv(const OnednnConv&) = delete;
  OnednnConv& operator=(const OnednnConv&) = delete;

  const ConvGeometry& geometry() const;
  // y (N, OC, OH, OW) = conv(x (N, C, H, W), w (OC, C, k, k)) + b (OC). Keeps what backward
  // needs (x in the weight-gradient primitive's layout, w in the data-gradient one's), so the
  // caller's x may change after this returns.
  void forward(const float* x, const float* w, const float* b, float* y);
  // dw and db from dy (N, OC, OH, OW) and the last forward input; dx if not null, from dy_data
  // if not null and from dy otherwise (the weights are those of the last forward pass).
  void backward(const float* dy, const float* dy_data, float* dw, float* db, float* dx);
  // oneDNN's name of the implementation of each primitive, e.g. "jit:avx512_core".
  const char* implementation() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memcarlo::training
