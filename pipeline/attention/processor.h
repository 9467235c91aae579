// The attention seam. Every attention call of the UNet (self and cross, every block) goes
// through one Processor, which receives the layer's identity, the spatial size, the
// denoising step and the roles of the batch rows. Vanilla attention is the default;
// MMSA/MMCA and the baselines are other processors and never touch the UNet.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace dsbench::attention {

enum class UNetBlock { kDown, kMid, kUp };
enum class AttentionKind { kSelf, kCross };

struct LayerId {
  UNetBlock block = UNetBlock::kDown;
  int level = 0;        // index of the down/up block (mid: 0)
  int attention = 0;    // Transformer2DModel index within that block
  int transformer = 0;  // BasicTransformerBlock index within the Transformer2DModel
  int call_index = 0;   // position of this call among all attention calls of one UNet
                        // forward (self and cross both counted, in call order)
  std::string name;     // diffusers module path, e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn1"
};

// What one row of the UNet batch is. With classifier-free guidance the batch holds an
// unconditional and a conditional copy of every image.
enum class RowRole { kScene, kPortrait };
struct BatchRow {
  RowRole role = RowRole::kScene;
  int subject = -1;          // for portraits: index into the story plan's subjects
  bool conditional = true;   // false for the unconditional (negative) half of CFG
  int image = 0;             // which image of the batch this row draws (its CFG twin shares it)
};

struct StepInfo {
  int step = 0;              // 0-based index of the denoising step
  int num_steps = 0;
  std::int64_t timestep = 0; // the scheduler's timestep value
  std::vector<BatchRow> rows;  // one per batch row; empty = all scene rows, no roles known
};

struct AttentionCall {
  LayerId layer;
  AttentionKind kind = AttentionKind::kSelf;
  int height = 0;  // query token grid: N = height * width
  int width = 0;
  const StepInfo* step = nullptr;  // never null during a UNet forward
};

// The projections of one attention layer, named as diffusers names them
// (to_q, to_k, to_v, to_out.0), handed to the processor so it can reuse them on other
// rows' tokens (MMSA) or other contexts (MMCA).
struct AttentionLayer {
  torch::nn::Linear to_q{nullptr};
  torch::nn::Linear to_k{nullptr};
  torch::nn::Linear to_v{nullptr};
  torch::nn::Linear to_out{nullptr};
  int heads = 0;

  // ModuleHolder::operator() is non-const; these let processors take the layer by const&.
  torch::Tensor query(const torch::Tensor& x) const { return to_q.ptr()->forward(x); }
  torch::Tensor key(const torch::Tensor& x) const { return to_k.ptr()->forward(x); }
  torch::Tensor value(const torch::Tensor& x) const { return to_v.ptr()->forward(x); }
  torch::Tensor output(const torch::Tensor& x) const { return to_out.ptr()->forward(x); }
};

class Processor {
 public:
  virtual ~Processor() = default;
  // hidden: [B, N, C]. context: [B, M, C_ctx] for cross-attention, undefined for self.
  // Returns [B, N, C], after the output projection.
  virtual torch::Tensor attend(const AttentionCall& call, const AttentionLayer& layer,
                               const torch::Tensor& hidden, const torch::Tensor& context) = 0;
};

// softmax(q kᵀ / √d) v per head, on [B, N, C] tensors already projected.
// `bias`, if defined, is added to the logits (broadcast to [B, heads, N, M]; −inf masks).
torch::Tensor multi_head_attention(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, int heads,
                                   const torch::Tensor& bias = {});

// Plain attention: the processor every layer starts with.
class VanillaProcessor : public Processor {
 public:
  torch::Tensor attend(const AttentionCall& call, const AttentionLayer& layer,
                       const torch::Tensor& hidden, const torch::Tensor& context) override;
};

}  // namespace dsbench::attention
