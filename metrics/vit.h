#pragma once
// The Vision Transformer behind DreamSim's backbones, CLIP-T's image tower and D&C-DINO,
// with parameter names as in DINO's / DINOv2's vision_transformer.py so that converted
// and torch.hub checkpoints load by name:
//   cls_token [1,1,W]  pos_embed [1,1+G*G,W]  patch_embed.proj.{weight,bias}
//   pos_drop.{weight,bias}            (CLIP/OpenCLIP only: ln_pre sits where DINO drops out)
//   blocks.N.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2.{weight,bias}
//   blocks.N.ls1.gamma, blocks.N.ls2.gamma   (DINOv2's layer scale only)
//   norm.{weight,bias}  proj [W,E]    (proj: CLIP/OpenCLIP only)
#include <torch/torch.h>

#include <vector>

namespace dsbench::metrics {

// What forward() returns.
enum class Feature {
  cls,         // the CLS token of the last block's output, before `norm` (DINO, DINOv2)
  embedding,   // norm(x)[CLS] @ proj (CLIP, OpenCLIP)
  cls_patch,   // CLS | mean of the patch tokens, both of the last block's output, before `norm`
  mean_token,  // norm(x) averaged over every token, CLS included (Hugging Face
               // Dinov2Model.last_hidden_state.mean(1), as MuDI's D&C-DINO)
};

// How a stored position grid G is resized to the input's grid g (bicubic, corners not
// aligned, no antialias). The two differ slightly in where samples fall.
enum class PositionInterpolation {
  scale_offset,  // scale factor (g + 0.1) / G, as DINO's and DINOv2's torch.hub models (and
                 // so DreamSim) compute it
  size,          // output size g x g, as current Hugging Face transformers computes it
};

struct VitConfig {
  int image_size = 224;
  int patch = 16;
  int width = 768;
  int depth = 12;
  int heads = 12;
  int mlp_ratio = 4;
  double eps = 1e-6;        // DINO/DINOv2 1e-6; CLIP/OpenCLIP 1e-5
  bool quick_gelu = false;  // CLIP/OpenCLIP: x * sigmoid(1.702 x); otherwise exact GELU
  bool pre_norm = false;    // CLIP/OpenCLIP ln_pre (named pos_drop)
  bool layer_scale = false; // DINOv2: residual branches scaled by ls1/ls2.gamma
  int position_grid = 0;    // side of the stored position grid; 0 = image_size / patch
  PositionInterpolation interpolation = PositionInterpolation::scale_offset;
  int projection = 0;       // output width of `proj`; 0 = none
  Feature feature = Feature::cls;

  int grid() const { return image_size / patch; }
  int stored_grid() const { return position_grid > 0 ? position_grid : grid(); }
  int feature_size() const;
};

// DINO ViT-B (dino_vitb16's layout; SynCLR's too).
VitConfig dino_vit_config(int patch);
// DINOv2 ViT-B/14 (torch.hub dinov2_vitb14 = Hugging Face facebook/dinov2-base): layer
// scale, exact GELU, position grid 37 (trained at 518 px) interpolated to the input's.
VitConfig dinov2_vit_config();
// The same layout shrunk for tests and benchmarks: width 32, depth 2, 2 heads, projection
// 16 (when there is one); patch, position grid and everything else kept.
VitConfig tiny_vit_config(VitConfig config);

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const VitConfig& config);
  // x: [B, 3, S, S] normalised pixels -> [B, feature_size]
  torch::Tensor forward(const torch::Tensor& x);
  // The last block's output [B, 1 + g*g, W], before `norm`.
  torch::Tensor forward_tokens(const torch::Tensor& x);
  // The position embedding for the input grid [1, 1 + g*g, W] (interpolated when the stored
  // grid differs).
  torch::Tensor position_embedding() const;
  const VitConfig& config() const { return config_; }

 private:
  struct Block {
    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
    torch::nn::Linear qkv{nullptr}, attn_proj{nullptr}, fc1{nullptr}, fc2{nullptr};
    torch::Tensor ls1, ls2;  // undefined without layer scale
  };
  torch::Tensor block_forward(Block block, torch::Tensor x) const;  // by value: holders' forward() is not const

  VitConfig config_;
  torch::nn::Conv2d patch_embed_{nullptr};
  torch::Tensor cls_token_, pos_embed_, proj_;
  torch::nn::LayerNorm pre_norm_{nullptr}, norm_{nullptr};
  std::vector<Block> blocks_;
};
TORCH_MODULE(VisionTransformer);

}  // namespace dsbench::metrics
