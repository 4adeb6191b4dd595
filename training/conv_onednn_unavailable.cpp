// OnednnConv for builds without oneDNN: never constructed (Conv2d checks
// onednn_convolution_available() first), defined so that Conv2d links.
#include "core/error.hpp"
#include "training/conv_onednn.hpp"
#include "training/layers.hpp"

namespace memcarlo::training {

bool onednn_convolution_available() { return false; }

struct OnednnConv::Impl {};

namespace {
[[noreturn]] void unavailable() {
  throw Error("the oneDNN convolution is not compiled into this build");
}
}  // namespace

OnednnConv::OnednnConv(const ConvGeometry& /*g*/) { unavailable(); }
OnednnConv::~OnednnConv() = default;
const ConvGeometry& OnednnConv::geometry() const { unavailable(); }
void OnednnConv::forward(const float*, const float*, const float*, float*) { unavailable(); }
void OnednnConv::backward(const float*, const float*, float*, float*, float*) { unavailable(); }
const char* OnednnConv::implementation() const { return ""; }

}  // namespace memcarlo::training
