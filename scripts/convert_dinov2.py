#!/usr/bin/python3
"""Converts a DINOv2 ViT-B/14 checkpoint into the one safetensors file dsbench's D&C-DINO
loads (metrics/dinov2.h: Dinov2::load detects the layout from the keys, so the input's
layout is kept).

Run with a Python that has torch (Debian: /usr/bin/python3). Inputs:
  torch.hub     dinov2_vitb14_pretrain.pth (facebookresearch/dinov2, a plain state dict):
                cls_token [1,1,768], pos_embed [1,1370,768] (37x37 grid + CLS, as stored),
                mask_token [1,768], patch_embed.proj.weight [768,3,14,14] and .bias,
                blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.{weight,bias},
                blocks.N.ls1.gamma, blocks.N.ls2.gamma, norm.weight/bias (N < 12)
  Hugging Face  pytorch_model.bin of facebook/dinov2-base (Dinov2Model; a "dinov2." prefix,
                as in Dinov2ForImageClassification, is stripped): embeddings.{cls_token,
                mask_token, position_embeddings, patch_embeddings.projection.{weight,bias}},
                encoder.layer.N.{norm1, norm2, attention.attention.{query,key,value},
                attention.output.dense, mlp.fc1, mlp.fc2}.{weight,bias},
                encoder.layer.N.layer_scale1.lambda1, layer_scale2.lambda1, layernorm.*.
                The hub's model.safetensors needs no conversion: dsbench reads it as is.
Every key above must be present with its ViT-B/14 shape (width 768, 12 blocks, patch 14;
the 12 heads are not visible in the weights); mask_token is optional, other keys are listed
and dropped, register tokens (the *_reg models) are refused.
Output: float32 safetensors, keys sorted, metadata {"format": "dsbench-dinov2",
"layout": "hub" | "hf"}.

Usage:
  convert_dinov2.py --input dinov2_vitb14_pretrain.pth --out dinov2_vitb14.safetensors
  convert_dinov2.py --input pytorch_model.bin --out dinov2_vitb14.safetensors
  convert_dinov2.py --self-test       (synthetic checkpoints of both layouts)
Then: dsbench eval RUN --dino-model dinov2_vitb14 --dino-weights dinov2_vitb14.safetensors
"""
import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from convert_dreamsim import DINOV2, expect_exit, expected_shapes, load_any, read_metadata  # noqa: E402

HF_PREFIX = "dinov2."


def hf_shapes(arch):
    """{key: shape} of a Hugging Face Dinov2Model."""
    w, hidden = arch.width, 4 * arch.width
    shapes = {"embeddings.cls_token": (1, 1, w), "embeddings.position_embeddings": (1, 1 + arch.grid * arch.grid, w),
              "embeddings.patch_embeddings.projection.weight": (w, 3, arch.patch, arch.patch),
              "embeddings.patch_embeddings.projection.bias": (w,), "layernorm.weight": (w,), "layernorm.bias": (w,)}
    for i in range(arch.depth):
        layer = f"encoder.layer.{i}."
        for part, shape in {"norm1": (w,), "norm2": (w,), "attention.attention.query": (w, w),
                            "attention.attention.key": (w, w), "attention.attention.value": (w, w),
                            "attention.output.dense": (w, w), "mlp.fc1": (hidden, w), "mlp.fc2": (w, hidden)}.items():
            shapes[f"{layer}{part}.weight"] = shape
            shapes[f"{layer}{part}.bias"] = shape[:1]
        shapes[layer + "layer_scale1.lambda1"] = (w,)
        shapes[layer + "layer_scale2.lambda1"] = (w,)
    return shapes


def read_state_dict(path):
    loaded = load_any(path)
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        sys.exit(f"{path}: expected a state dict, found {type(loaded).__name__}")
    return {k[len(HF_PREFIX):] if k.startswith(HF_PREFIX) else k: v for k, v in loaded.items() if torch.is_tensor(v)}


def detect_layout(sd, path):
    if "embeddings.cls_token" in sd:
        return "hf"
    if "cls_token" in sd:
        return "hub"
    sys.exit(f"{path}: neither the Hugging Face Dinov2Model layout (embeddings.cls_token, encoder.layer.N.*) "
             "nor the torch.hub layout (cls_token, blocks.N.*)")


def checked(sd, layout, path, arch):
    """The expected keys of sd as float32, shapes checked; mask_token kept when present."""
    if "register_tokens" in sd or "embeddings.register_tokens" in sd:
        sys.exit(f"{path}: register tokens present (a DINOv2 with registers); dsbench has none")
    shapes = hf_shapes(arch) if layout == "hf" else expected_shapes(arch)
    mask = "embeddings.mask_token" if layout == "hf" else "mask_token"
    if mask in sd:
        shapes[mask] = (1, arch.width)
    out = {}
    for key, shape in shapes.items():
        if key not in sd:
            sys.exit(f"{path}: missing key {key} ({layout} layout)")
        if tuple(sd[key].shape) != shape:
            sys.exit(f"{path}: {key} has shape {list(sd[key].shape)}, expected {list(shape)} ({layout} layout)")
        out[key] = sd[key].detach().to(torch.float32).contiguous()
    dropped = sorted(set(sd) - set(out))
    if dropped:
        print(f"{path}: ignoring {len(dropped)} keys that are not DINOv2 weights (e.g. {dropped[:3]})", file=sys.stderr)
    return out


def convert(path, out_path, arch=DINOV2):
    sd = read_state_dict(path)
    layout = detect_layout(sd, path)
    print(f"{path}: {'Hugging Face Dinov2Model' if layout == 'hf' else 'torch.hub dinov2'} layout ({layout})")
    tensors = checked(sd, layout, path, arch)
    write_safetensors(out_path, tensors, metadata={"format": "dsbench-dinov2", "layout": layout})
    print(f"{len(tensors)} tensors -> {out_path}")


# ---------------------------------------------------------------------------- self-test

def to_hf(hub, arch):
    """The Hugging Face names of hub weights (qkv split into query, key, value)."""
    w = arch.width
    hf = {"embeddings.cls_token": hub["cls_token"], "embeddings.mask_token": hub["mask_token"],
          "embeddings.position_embeddings": hub["pos_embed"],
          "embeddings.patch_embeddings.projection.weight": hub["patch_embed.proj.weight"],
          "embeddings.patch_embeddings.projection.bias": hub["patch_embed.proj.bias"],
          "layernorm.weight": hub["norm.weight"], "layernorm.bias": hub["norm.bias"]}
    for i in range(arch.depth):
        ours, theirs = f"blocks.{i}.", f"encoder.layer.{i}."
        renamed = {"norm1": "norm1", "norm2": "norm2", "attn.proj": "attention.output.dense",
                   "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
        for mine, name in renamed.items():
            for kind in ("weight", "bias"):
                hf[f"{theirs}{name}.{kind}"] = hub[f"{ours}{mine}.{kind}"]
        for row, part in enumerate(("query", "key", "value")):
            for kind in ("weight", "bias"):
                hf[f"{theirs}attention.attention.{part}.{kind}"] = hub[f"{ours}attn.qkv.{kind}"][row * w:(row + 1) * w]
        hf[theirs + "layer_scale1.lambda1"] = hub[ours + "ls1.gamma"]
        hf[theirs + "layer_scale2.lambda1"] = hub[ours + "ls2.gamma"]
    return hf


def check_output(path, expected, layout):
    converted = read_safetensors(path, {"F32"})
    assert sorted(converted) == sorted(expected), sorted(set(converted) ^ set(expected))
    for key, value in expected.items():
        assert converted[key].shape == value.shape and torch.allclose(converted[key], value.float()), key
    metadata, keys = read_metadata(path)
    assert metadata == {"format": "dsbench-dinov2", "layout": layout}, metadata
    assert keys == sorted(keys)


def self_test():
    """Tiny ViT-B/14-shaped weights (width 8, depth 2, grid 3) in both layouts."""
    gen = torch.Generator().manual_seed(7)
    arch = DINOV2._replace(width=8, depth=2, grid=3)
    hub = {k: torch.randn(*shape, generator=gen, dtype=torch.float64) for k, shape in expected_shapes(arch).items()}
    hub["mask_token"] = torch.randn(1, 8, generator=gen, dtype=torch.float64)
    hf = {k: v.clone() for k, v in to_hf(hub, arch).items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = lambda name: os.path.join(tmp, name)  # noqa: E731
        torch.save(hub, path("dinov2_vitb14_pretrain.pth"))
        convert(path("dinov2_vitb14_pretrain.pth"), path("hub.safetensors"), arch)
        check_output(path("hub.safetensors"), hub, "hub")
        without_mask = {k: v for k, v in hub.items() if k != "mask_token"}
        torch.save(without_mask, path("no_mask.pth"))
        convert(path("no_mask.pth"), path("no_mask.safetensors"), arch)
        check_output(path("no_mask.safetensors"), without_mask, "hub")
        print("hub layout: converted, float32, mask_token optional")

        prefixed = {HF_PREFIX + k: v.half() for k, v in hf.items()}
        prefixed["classifier.weight"] = torch.zeros(2, 16)
        torch.save(prefixed, path("pytorch_model.bin"))
        convert(path("pytorch_model.bin"), path("hf.safetensors"), arch)
        check_output(path("hf.safetensors"), {k: v.half() for k, v in hf.items()}, "hf")
        print("hf layout: dinov2. stripped, classifier dropped, float16 -> float32")

        broken = dict(hf)
        del broken["encoder.layer.1.layer_scale2.lambda1"]
        torch.save(broken, path("missing.bin"))
        expect_exit(lambda: convert(path("missing.bin"), path("x.safetensors"), arch),
                    "missing.bin", "encoder.layer.1.layer_scale2.lambda1")
        torch.save(dict(hub, pos_embed=torch.zeros(1, 5, 8)), path("shape.pth"))
        expect_exit(lambda: convert(path("shape.pth"), path("x.safetensors"), arch), "shape.pth", "pos_embed")
        torch.save(dict(hub, register_tokens=torch.zeros(1, 4, 8)), path("reg.pth"))
        expect_exit(lambda: convert(path("reg.pth"), path("x.safetensors"), arch), "reg.pth", "register")
        torch.save({"visual.cls_token": hub["cls_token"]}, path("other.pth"))
        expect_exit(lambda: convert(path("other.pth"), path("x.safetensors"), arch), "other.pth", "neither")
        # Real runs check ViT-B/14's own sizes: the tiny file is refused.
        expect_exit(lambda: convert(path("dinov2_vitb14_pretrain.pth"), path("x.safetensors")),
                    "cls_token", "[1, 1, 768]")
        assert not os.path.exists(path("x.safetensors"))
        print("missing key, wrong shape, register tokens, unknown layout, wrong size: refused")
    print("self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="dinov2_vitb14_pretrain.pth, pytorch_model.bin or a .safetensors")
    parser.add_argument("--out", help="output .safetensors file")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.input or not args.out:
        parser.error("give --input FILE --out FILE.safetensors (or --self-test)")
    convert(args.input, args.out)


if __name__ == "__main__":
    main()
