#include "pipeline/attention/processor.h"

#include <cmath>

namespace dsbench::attention {

torch::Tensor multi_head_attention(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, int heads, const torch::Tensor& bias) {
  const auto batch = q.size(0);
  const auto n = q.size(1);
  const auto m = k.size(1);
  const auto channels = q.size(2);
  const auto head_dim = channels / heads;
  const auto split = [&](const torch::Tensor& x, std::int64_t length) {
    return x.reshape({batch, length, heads, head_dim}).transpose(1, 2);
  };
  const auto qh = split(q, n);
  const auto kh = split(k, m);
  const auto vh = split(v, m);
  auto logits = torch::matmul(qh, kh.transpose(-1, -2)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  if (bias.defined()) logits = logits + bias;
  const auto out = torch::matmul(torch::softmax(logits, -1), vh);
  return out.transpose(1, 2).reshape({batch, n, channels});
}

torch::Tensor VanillaProcessor::attend(const AttentionCall& call, const AttentionLayer& layer,
                                       const torch::Tensor& hidden, const torch::Tensor& context) {
  const torch::Tensor& source = call.kind == AttentionKind::kCross ? context : hidden;
  const auto out = multi_head_attention(layer.query(hidden), layer.key(source), layer.value(source),
                                        layer.heads);
  return layer.output(out);
}

}  // namespace dsbench::attention
