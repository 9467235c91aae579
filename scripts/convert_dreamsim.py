#!/usr/bin/python3
"""Converts the official DreamSim release (github.com/ssundaram21/dreamsim) into the
safetensors files dsbench loads: one <backbone>.safetensors per backbone, LoRA merged.

Run with a Python that has torch (Debian: /usr/bin/python3). Inputs, per backbone NAME
(dino_vitb16, clip_vitb16, open_clip_vitb16, clip_vitb32, open_clip_vitb32):
  base weights   the release's backbone file: NAME_pretrain.pth / NAME_pretrain.pth.tar
                 (either a plain state dict or {"state_dict": ..., "proj": ...}). DINO's
                 dino_vitb16_pretrain.pth comes from torch.hub (facebookresearch/dino).
                 Keys in DINO's vision_transformer.py layout (the release stores CLIP and
                 OpenCLIP that way already: ln_pre as pos_drop.*, proj [768, 512]);
                 "module." / "backbone." prefixes are stripped, DINO head keys dropped.
  LoRA adapter   the PEFT folder NAME_lora (ensemble) or NAME_single_lora (single-backbone
                 models): adapter_config.json (r, lora_alpha, target_modules ["qkv"]) and
                 adapter_model.bin or adapter_model.safetensors with keys ending in
                 blocks.N.attn.qkv.lora_A.weight / lora_B.weight (any prefix, optional
                 ".default" adapter name). Merged as W + (lora_alpha / r) * B @ A.
Usage:
  convert_dreamsim.py --release DIR --model ensemble --out WEIGHTS_DIR
  convert_dreamsim.py --backbone NAME --base FILE [--lora DIR] --out WEIGHTS_DIR
  convert_dreamsim.py --self-test       (a synthetic checkpoint; no release needed)
Then: dsbench eval RUN --model ensemble --weights WEIGHTS_DIR
"""
import argparse
import json
import os
import re
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

MODELS = {
    "ensemble": ["dino_vitb16", "clip_vitb16", "open_clip_vitb16"],
    "dino_vitb16": ["dino_vitb16"], "clip_vitb16": ["clip_vitb16"], "open_clip_vitb16": ["open_clip_vitb16"],
    "clip_vitb32": ["clip_vitb32"], "open_clip_vitb32": ["open_clip_vitb32"],
}
LORA_KEY = re.compile(r"(?:.*\.)?(blocks\.\d+\.attn\.qkv)\.lora_([AB])(?:\.default)?\.weight$")


def expected_keys(name, depth):
    keys = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"]
    if "clip" in name:
        keys += ["pos_drop.weight", "pos_drop.bias", "proj"]
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"]
    return keys


def load_any(path):
    if path.endswith(".safetensors"):
        try:
            return read_safetensors(path, {"F32"})
        except ValueError as error:
            sys.exit(str(error))
    return torch.load(path, map_location="cpu")


def base_state_dict(path):
    loaded = load_any(path)
    sd = dict(loaded.get("state_dict", loaded)) if isinstance(loaded, dict) else None
    if sd is None:
        sys.exit(f"{path}: expected a state dict or a dict with 'state_dict'")
    if isinstance(loaded, dict) and "proj" in loaded and "proj" not in sd:
        sd["proj"] = loaded["proj"]
    cleaned = {}
    for key, value in sd.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if torch.is_tensor(value):
            cleaned[key] = value.detach().to(torch.float32)
    return cleaned


def merge_lora(sd, lora_dir, origin):
    with open(os.path.join(lora_dir, "adapter_config.json")) as f:
        config = json.load(f)
    scale = float(config["lora_alpha"]) / float(config["r"])
    weights_file = next((os.path.join(lora_dir, n) for n in ("adapter_model.safetensors", "adapter_model.bin")
                         if os.path.exists(os.path.join(lora_dir, n))), None)
    if weights_file is None:
        sys.exit(f"{lora_dir}: no adapter_model.safetensors or adapter_model.bin")
    pairs = {}
    for key, value in load_any(weights_file).items():
        match = LORA_KEY.match(key)
        if not match:
            sys.exit(f"{weights_file}: unexpected adapter key {key} (expected ...blocks.N.attn.qkv.lora_A/B.weight)")
        pairs.setdefault(match.group(1), {})[match.group(2)] = value.to(torch.float32)
    for target, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            sys.exit(f"{weights_file}: {target} lacks lora_{'A' if 'A' not in ab else 'B'}")
        weight = target + ".weight"
        if weight not in sd:
            sys.exit(f"{origin}: LoRA targets {weight}, absent from the base weights")
        delta = scale * ab["B"] @ ab["A"]
        if delta.shape != sd[weight].shape:
            sys.exit(f"{weights_file}: {target} LoRA delta {list(delta.shape)} vs weight {list(sd[weight].shape)}")
        sd[weight] = sd[weight] + delta
    return len(pairs)


def to_dsbench(name, sd, origin):
    depth = 1 + max((int(k.split(".")[1]) for k in sd if k.startswith("blocks.")), default=-1)
    width = sd["cls_token"].numel() if "cls_token" in sd else None
    out = {}
    for key in expected_keys(name, depth):
        if key not in sd:
            if key == "patch_embed.proj.bias" and "patch_embed.proj.weight" in sd:  # CLIP's conv1 has no bias
                out[key] = torch.zeros(sd["patch_embed.proj.weight"].shape[0])
                continue
            sys.exit(f"{origin}: missing key {key} for backbone {name}")
        value = sd[key]
        if key == "cls_token":
            value = value.reshape(1, 1, width)
        elif key == "pos_embed":
            value = value.reshape(1, -1, width)
        out[key] = value.contiguous()
    dropped = sorted(set(sd) - set(out))
    if dropped:
        print(f"{name}: ignoring {len(dropped)} keys not used by DreamSim (e.g. {dropped[:3]})", file=sys.stderr)
    return out


def convert_backbone(name, base, lora, out_dir):
    sd = base_state_dict(base)
    merged = merge_lora(sd, lora, base) if lora else 0
    tensors = to_dsbench(name, sd, base)
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors, metadata={"format": "dsbench-dreamsim"})
    print(f"{name}: {len(tensors)} tensors, {merged} LoRA pairs merged -> {os.path.join(out_dir, name + '.safetensors')}")


def find_release_files(release, name, single):
    base = next((os.path.join(release, f) for f in (f"{name}_pretrain.pth.tar", f"{name}_pretrain.pth")
                 if os.path.exists(os.path.join(release, f))), None)
    if base is None:
        sys.exit(f"{release}: no {name}_pretrain.pth(.tar)")
    lora = os.path.join(release, f"{name}_single_lora" if single else f"{name}_lora")
    if not os.path.isdir(lora):
        sys.exit(f"{release}: no LoRA folder {os.path.basename(lora)}")
    return base, lora


def self_test():
    """A synthetic tiny release: the merged output must equal the target weights."""
    gen = torch.Generator().manual_seed(5)
    width, depth, rank, alpha = 8, 2, 4, 2.0
    target = {k: torch.randn(*shape, generator=gen) for k, shape in {
        "cls_token": (1, 1, width), "pos_embed": (1, 5, width), "patch_embed.proj.weight": (width, 3, 16, 16),
        "norm.weight": (width,), "norm.bias": (width,), "pos_drop.weight": (width,), "pos_drop.bias": (width,),
        "proj": (width, 4)}.items()}
    for i in range(depth):
        for part, shape in {"norm1": (width,), "norm2": (width,), "attn.qkv": (3 * width, width),
                            "attn.proj": (width, width), "mlp.fc1": (4 * width, width), "mlp.fc2": (width, 4 * width)}.items():
            target[f"blocks.{i}.{part}.weight"] = torch.randn(*shape, generator=gen)
            target[f"blocks.{i}.{part}.bias"] = torch.randn(shape[0], generator=gen)
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v.clone() for k, v in target.items()}
        base["cls_token"] = base["cls_token"].reshape(width)        # CLIP's class_embedding shape
        base["pos_embed"] = base["pos_embed"].reshape(5, width)
        lora = {}
        for i in range(depth):
            a = torch.randn(rank, width, generator=gen)
            b = torch.randn(3 * width, rank, generator=gen)
            base[f"blocks.{i}.attn.qkv.weight"] -= (alpha / rank) * b @ a
            lora[f"base_model.model.model.blocks.{i}.attn.qkv.lora_A.weight"] = a
            lora[f"base_model.model.model.blocks.{i}.attn.qkv.lora_B.weight"] = b
        proj = base.pop("proj")
        base["module.head.weight"] = torch.zeros(2)  # ignored
        torch.save({"state_dict": {"module." + k: v for k, v in base.items()}, "proj": proj},
                   os.path.join(tmp, "clip_vitb16_pretrain.pth.tar"))
        os.makedirs(os.path.join(tmp, "clip_vitb16_single_lora"))
        with open(os.path.join(tmp, "clip_vitb16_single_lora", "adapter_config.json"), "w") as f:
            json.dump({"r": rank, "lora_alpha": alpha, "target_modules": ["qkv"]}, f)
        torch.save(lora, os.path.join(tmp, "clip_vitb16_single_lora", "adapter_model.bin"))
        base_file, lora_dir = find_release_files(tmp, "clip_vitb16", True)
        convert_backbone("clip_vitb16", base_file, lora_dir, os.path.join(tmp, "out"))
        converted = read_safetensors(os.path.join(tmp, "out", "clip_vitb16.safetensors"), {"F32"})
        expected = dict(target, **{"patch_embed.proj.bias": torch.zeros(width)})
        assert sorted(converted) == sorted(expected), sorted(set(converted) ^ set(expected))
        for key, value in expected.items():
            assert converted[key].shape == value.shape, key
            assert torch.allclose(converted[key], value, atol=1e-5), key
        # A base file missing a block weight must fail naming it.
        del base["blocks.1.norm2.bias"]
        torch.save({"state_dict": base, "proj": proj}, os.path.join(tmp, "broken.pth"))
        try:
            convert_backbone("clip_vitb16", os.path.join(tmp, "broken.pth"), None, os.path.join(tmp, "out2"))
            raise AssertionError("missing key not reported")
        except SystemExit as error:
            assert "blocks.1.norm2.bias" in str(error), error
    print("self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", help="folder with the unzipped release files")
    parser.add_argument("--model", default="ensemble", choices=sorted(MODELS))
    parser.add_argument("--backbone", choices=sorted({b for v in MODELS.values() for b in v}))
    parser.add_argument("--base", help="backbone weights file (with --backbone)")
    parser.add_argument("--lora", help="PEFT adapter folder (with --backbone)")
    parser.add_argument("--out", help="output folder for <backbone>.safetensors")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.out:
        parser.error("--out is required")
    if args.backbone:
        if not args.base:
            parser.error("--backbone needs --base")
        return convert_backbone(args.backbone, args.base, args.lora, args.out)
    if not args.release:
        parser.error("give --release DIR or --backbone NAME --base FILE")
    for name in MODELS[args.model]:
        base, lora = find_release_files(args.release, name, args.model != "ensemble")
        convert_backbone(name, base, lora, args.out)


if __name__ == "__main__":
    main()
