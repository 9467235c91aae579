#!/usr/bin/python3
"""Converts a DINOv2 ViT-B/14 checkpoint into the one safetensors file dsbench's D&C-DINO
loads (evaluation.dino_weights / dsbench eval --dino-weights), keeping its layout:
  torch.hub   dinov2_vitb14_pretrain.pth: cls_token, pos_embed, mask_token, patch_embed.*,
              blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}, norm.*
  Hugging Face facebook/dinov2-base pytorch_model.bin: embeddings.*, encoder.layer.N.*,
              layernorm.* (a "dinov2." prefix is stripped). The hub's model.safetensors
              needs no conversion: dsbench reads it as it is.
Shapes are checked against the file's own width, depth and patch (ViT-B/14: 768, 12, 14).
Run with Debian's /usr/bin/python3 (torch). Usage:
  convert_dinov2.py --input FILE --out dinov2_vitb14.safetensors
  convert_dinov2.py --self-test
"""
import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

HUB_BLOCK = ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
             "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
             "mlp.fc2.bias", "ls2.gamma"]
HF_BLOCK = ["norm1.weight", "norm1.bias", "attention.attention.query.weight", "attention.attention.query.bias",
            "attention.attention.key.weight", "attention.attention.key.bias", "attention.attention.value.weight",
            "attention.attention.value.bias", "attention.output.dense.weight", "attention.output.dense.bias",
            "layer_scale1.lambda1", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
            "mlp.fc2.weight", "mlp.fc2.bias", "layer_scale2.lambda1"]


def expected(layout, width, depth, patch, tokens):
    hidden = 4 * width
    if layout == "hub":
        shapes = {"cls_token": (1, 1, width), "pos_embed": (1, tokens, width), "mask_token": (1, width),
                  "patch_embed.proj.weight": (width, 3, patch, patch), "patch_embed.proj.bias": (width,),
                  "norm.weight": (width,), "norm.bias": (width,)}
        block, prefix = HUB_BLOCK, "blocks.{}."
    else:
        shapes = {"embeddings.cls_token": (1, 1, width), "embeddings.position_embeddings": (1, tokens, width),
                  "embeddings.mask_token": (1, width),
                  "embeddings.patch_embeddings.projection.weight": (width, 3, patch, patch),
                  "embeddings.patch_embeddings.projection.bias": (width,),
                  "layernorm.weight": (width,), "layernorm.bias": (width,)}
        block, prefix = HF_BLOCK, "encoder.layer.{}."
    for i in range(depth):
        for key in block:
            out = 3 * width if key in ("attn.qkv.weight", "attn.qkv.bias") else \
                hidden if key.startswith("mlp.fc1") else width
            shape = (out,) if key.endswith(("bias", "gamma", "lambda1")) or "norm" in key else \
                (out, hidden if key.startswith("mlp.fc2") else width)
            shapes[prefix.format(i) + key] = shape
    return shapes


def convert(path, out):
    sd = read_safetensors(path, {"F32", "F16", "BF16"}) if path.endswith(".safetensors") else \
        torch.load(path, map_location="cpu")
    sd = dict(sd.get("state_dict", sd)) if isinstance(sd, dict) else sys.exit(f"{path}: not a state dict")
    sd = {(k[len("dinov2."):] if k.startswith("dinov2.") else k): v.detach().to(torch.float32)
          for k, v in sd.items() if torch.is_tensor(v)}
    layout = "hf" if "embeddings.cls_token" in sd else "hub" if "cls_token" in sd else None
    if layout is None:
        sys.exit(f"{path}: neither the torch.hub (cls_token) nor the Hugging Face (embeddings.cls_token) layout")
    cls, pos, conv = (("cls_token", "pos_embed", "patch_embed.proj.weight") if layout == "hub" else
                      ("embeddings.cls_token", "embeddings.position_embeddings",
                       "embeddings.patch_embeddings.projection.weight"))
    for key in (pos, conv):
        if key not in sd:
            sys.exit(f"{path}: missing key {key}")
    width, tokens, patch = sd[cls].numel(), sd[pos].shape[-2], sd[conv].shape[-1]
    block = "blocks." if layout == "hub" else "encoder.layer."
    depth = 1 + max(int(k[len(block):].split(".")[0]) for k in sd if k.startswith(block))
    shapes = expected(layout, width, depth, patch, tokens)
    for key, shape in shapes.items():
        if key not in sd:
            sys.exit(f"{path}: missing key {key} ({layout} layout)")
        if tuple(sd[key].shape) != shape:
            sys.exit(f"{path}: {key} has shape {list(sd[key].shape)}, expected {list(shape)}")
    extra = sorted(set(sd) - set(shapes))
    if extra:
        sys.exit(f"{path}: unexpected keys {extra[:5]} ({len(extra)}); register tokens are not supported")
    write_safetensors(out, {k: sd[k] for k in shapes}, metadata={"format": "dsbench-dinov2", "layout": layout})
    print(f"{path}: {layout} layout, width {width}, depth {depth}, patch {patch} -> {out}")
    return layout


def self_test():
    gen = torch.Generator().manual_seed(3)
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("hub", "hf"):
            sd = {k: torch.randn(*s, generator=gen) for k, s in expected(layout, 8, 2, 14, 5).items()}
            prefixed = {("dinov2." + k if layout == "hf" else k): v for k, v in sd.items()}
            torch.save(prefixed, os.path.join(tmp, layout + ".bin"))
            out = os.path.join(tmp, layout + ".safetensors")
            assert convert(os.path.join(tmp, layout + ".bin"), out) == layout
            converted = read_safetensors(out, {"F32"})
            assert sorted(converted) == sorted(sd) and all(torch.equal(converted[k], sd[k]) for k in sd)
            broken = dict(sd)
            missing = "blocks.1.ls2.gamma" if layout == "hub" else "encoder.layer.1.layer_scale2.lambda1"
            del broken[missing]
            torch.save(broken, os.path.join(tmp, "broken.bin"))
            try:
                convert(os.path.join(tmp, "broken.bin"), os.path.join(tmp, "x.safetensors"))
                raise AssertionError("missing key not reported")
            except SystemExit as error:
                assert missing in str(error), error
    print("self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input")
    parser.add_argument("--out")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.input or not args.out:
        parser.error("--input and --out are required")
    convert(args.input, args.out)


if __name__ == "__main__":
    main()
