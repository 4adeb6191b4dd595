#include "training/conv_onednn.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <fmt/format.h>

#include "core/error.hpp"
#include "training/layers.hpp"
#include "training/onednn_threads.hpp"

namespace memcarlo::training {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

// A tensor as the caller stores it (plain layout, its pointer set per call) and the memory a
// primitive reads or writes: the same memory when the primitive takes the plain layout, else a
// buffer of its own in the primitive's layout with the two conversions (reorders) between.
struct Operand {
  memory user, inner;
  dnnl::reorder to_inner, to_user;
  bool converted = false;

  // own: keep a buffer of its own even when the layouts agree (to hold a copy).
  Operand(const memory::desc& plain, const memory::desc& wanted, const dnnl::engine& engine,
          bool own = false)
      : user(plain, engine, DNNL_MEMORY_NONE), converted(plain != wanted || own) {
    if (!converted) {
      inner = user;
      return;
    }
    inner = memory(wanted, engine);
    to_inner = dnnl::reorder(user, inner);
    to_user = dnnl::reorder(inner, user);
  }
  // The caller's data at p, converted into `inner`.
  void load(const float* p, const dnnl::stream& stream) {
    user.set_data_handle(const_cast<float*>(p));
    if (converted) to_inner.execute(stream, user, inner);
  }
  // A result is about to be computed into `inner`, for the caller's p.
  void bind(float* p) { user.set_data_handle(p); }
  void store(const dnnl::stream& stream) {
    if (converted) to_user.execute(stream, inner, user);
  }
};

}  // namespace

struct OnednnConv::Impl {
  ConvGeometry g;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_weights::primitive_desc bww_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_weights bww;
  dnnl::convolution_backward_data bwd;
  memory bias, diff_bias;
  // x and w are kept from forward for backward in the layouts of the gradient primitives
  // (bww_x, bwd_w, always copies); forward reads those same buffers when its layouts agree.
  std::unique_ptr<Operand> bww_x, bwd_w, fwd_x, fwd_w, fwd_y, bww_dy, bwd_dy, bww_dw, bwd_dx;
  bool fwd_x_shared = false, fwd_w_shared = false, dy_shared = false;
  std::string impl_name;

  explicit Impl(const ConvGeometry& geometry) : g(geometry) {
    const memory::dims x_dims{g.N, g.C, g.H, g.W}, w_dims{g.OC, g.C, g.k, g.k}, b_dims{g.OC},
        y_dims{g.N, g.OC, g.OH, g.OW};
    const memory::dims strides{g.stride, g.stride}, pad{g.pad, g.pad};
    // Right padding as oneDNN counts it: the last window may stop short of the padded edge.
    const memory::dims pad_r{(g.OH - 1) * g.stride + g.k - g.H - g.pad,
                             (g.OW - 1) * g.stride + g.k - g.W - g.pad};
    const auto f32 = memory::data_type::f32;
    auto any = [&](const memory::dims& d) { return memory::desc(d, f32, tag::any); };
    const memory::desc x_plain(x_dims, f32, tag::nchw), w_plain(w_dims, f32, tag::oihw),
        b_plain(b_dims, f32, tag::a), y_plain(y_dims, f32, tag::nchw);

    const auto algo = dnnl::algorithm::convolution_direct;
    fwd_pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, any(x_dims),
                                        any(w_dims), b_plain, any(y_dims), strides, pad, pad_r),
        engine);
    bww_pd = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(algo, any(x_dims), any(w_dims), b_plain,
                                                 any(y_dims), strides, pad, pad_r),
        engine, fwd_pd);
    bwd_pd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(algo, any(x_dims), any(w_dims), any(y_dims),
                                              strides, pad, pad_r),
        engine, fwd_pd);
    fwd = dnnl::convolution_forward(fwd_pd);
    bww = dnnl::convolution_backward_weights(bww_pd);
    bwd = dnnl::convolution_backward_data(bwd_pd);
    bias = memory(b_plain, engine, DNNL_MEMORY_NONE);
    diff_bias = memory(b_plain, engine, DNNL_MEMORY_NONE);

    bww_x = std::make_unique<Operand>(x_plain, bww_pd.src_desc(), engine, true);
    bwd_w = std::make_unique<Operand>(w_plain, bwd_pd.weights_desc(), engine, true);
    fwd_x_shared = fwd_pd.src_desc() == bww_pd.src_desc();
    fwd_w_shared = fwd_pd.weights_desc() == bwd_pd.weights_desc();
    if (!fwd_x_shared) fwd_x = std::make_unique<Operand>(x_plain, fwd_pd.src_desc(), engine);
    if (!fwd_w_shared) fwd_w = std::make_unique<Operand>(w_plain, fwd_pd.weights_desc(), engine);
    fwd_y = std::make_unique<Operand>(y_plain, fwd_pd.dst_desc(), engine);
    bww_dy = std::make_unique<Operand>(y_plain, bww_pd.diff_dst_desc(), engine);
    dy_shared = bwd_pd.diff_dst_desc() == bww_pd.diff_dst_desc();
    bwd_dy = std::make_unique<Operand>(y_plain, bwd_pd.diff_dst_desc(), engine);
    bww_dw = std::make_unique<Operand>(w_plain, bww_pd.diff_weights_desc(), engine);
    bwd_dx = std::make_unique<Operand>(x_plain, bwd_pd.diff_src_desc(), engine);
    impl_name = fmt::format("forward {}, weight gradient {}, data gradient {}",
                            fwd_pd.impl_info_str(), bww_pd.impl_info_str(),
                            bwd_pd.impl_info_str());
  }

  void forward(const float* x, const float* w, const float* b, float* y) {
    bww_x->load(x, stream);
    bwd_w->load(w, stream);
    if (!fwd_x_shared) fwd_x->load(x, stream);
    if (!fwd_w_shared) fwd_w->load(w, stream);
    bias.set_data_handle(const_cast<float*>(b));
    fwd_y->bind(y);
    fwd.execute(stream, {{DNNL_ARG_SRC, fwd_x_shared ? bww_x->inner : fwd_x->inner},
                         {DNNL_ARG_WEIGHTS, fwd_w_shared ? bwd_w->inner : fwd_w->inner},
                         {DNNL_ARG_BIAS, bias},
                         {DNNL_ARG_DST, fwd_y->inner}});
    fwd_y->store(stream);
    stream.wait();
  }

  void backward(const float* dy, const float* dy_data, float* dw, float* db, float* dx) {
    bww_dy->load(dy, stream);
    bww_dw->bind(dw);
    diff_bias.set_data_handle(db);
    bww.execute(stream, {{DNNL_ARG_SRC, bww_x->inner},
                         {DNNL_ARG_DIFF_DST, bww_dy->inner},
                         {DNNL_ARG_DIFF_WEIGHTS, bww_dw->inner},
                         {DNNL_ARG_DIFF_BIAS, diff_bias}});
    bww_dw->store(stream);
    if (dx) {
      // The data gradient reads dy from the weight gradient's copy when the layouts agree and
      // the caller gave no separate dy_data; otherwise from its own.
      const bool own = !dy_shared || dy_data != nullptr;
      if (own) {
        bwd_dy->load(dy_data ? dy_data : dy, stream);
      }
      bwd_dx->bind(dx);
      bwd.execute(stream, {{DNNL_ARG_DIFF_DST, own ? bwd_dy->inner : bww_dy->inner},
                           {DNNL_ARG_WEIGHTS, bwd_w->inner},
                           {DNNL_ARG_DIFF_SRC, bwd_dx->inner}});
      bwd_dx->store(stream);
    }
    stream.wait();
  }
};

namespace {

[[noreturn]] void rethrow(const dnnl::error& e, const ConvGeometry& g, const char* what) {
  throw Error(fmt::format("oneDNN convolution {} failed for input ({}, {}, {}, {}), {} output "
                          "channels, kernel {}, stride {}, padding {}: {}",
                          what, g.N, g.C, g.H, g.W, g.OC, g.k, g.stride, g.pad, e.what()));
}

}  // namespace

bool onednn_convolution_available() { return true; }

OnednnConv::OnednnConv(const ConvGeometry& g) {
  const OneThread one;
  try {
    impl_ = std::make_unique<Impl>(g);
  } catch (const dnnl::error& e) {
    rethrow(e, g, "set-up");
  }
}

OnednnConv::~OnednnConv() = default;

const ConvGeometry& OnednnConv::geometry() const { return impl_->g; }

const char* OnednnConv::implementation() const { return impl_->impl_name.c_str(); }

void OnednnConv::forward(const float* x, const float* w, const float* b, float* y) {
  const OneThread one;
  try {
    impl_->forward(x, w, b, y);
  } catch (const dnnl::error& e) {
    rethrow(e, impl_->g, "forward");
  }
}

void OnednnConv::backward(const float* dy, const float* dy_data, float* dw, float* db, float* dx) {
  const OneThread one;
  try {
    impl_->backward(dy, dy_data, dw, db, dx);
  } catch (const dnnl::error& e) {
    rethrow(e, impl_->g, "backward");
  }
}

}  // namespace memcarlo::training
