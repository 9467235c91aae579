#!/usr/bin/python3
"""Converts the official DreamSim release (github.com/ssundaram21/dreamsim) into the
safetensors files dsbench loads: one <backbone>.safetensors per backbone, LoRA merged.

Run with a Python that has torch (Debian: /usr/bin/python3). Models: ensemble (dino_vitb16,
clip_vitb16, open_clip_vitb16), dino_vitb16, clip_vitb32, open_clip_vitb32, dinov2_vitb14,
synclr_vitb16, dino_vitb16_patch, dinov2_vitb14_patch. Inputs in the release folder (the
official package's cache_dir after unzipping):
  base weights   per backbone: DINO checkpoints/dino_vitbase16_pretrain.pth (torch.hub's
                 backbone) or dino_vitb16_pretrain.pth (a full DINO training checkpoint: its
                 'teacher' backbone is used); DINOv2 checkpoints/dinov2_vitb14_pretrain.pth
                 or dinov2_vitb14_pretrain.pth (torch.hub); SynCLR synclr_vit_b_16.pth
                 ({'model': ...}, keys prefixed module.visual.); CLIP / OpenCLIP
                 NAME_pretrain.pth.tar ({"state_dict": ..., "proj": ...}, already in DINO's
                 layout: ln_pre as pos_drop.*, proj [768, 512]). "module." / "backbone."
                 prefixes are stripped, DINO head keys and DINOv2's mask_token dropped.
  LoRA adapter   the PEFT folder: ensemble_lora (one adapter for the three backbones, keys
                 ...extractor_list.K.model.blocks.N.attn.qkv.lora_A/B.weight, K = 0 dino,
                 1 clip, 2 open_clip), MODEL_single_lora for single models, MODEL_lora for
                 the patch models; adapter_config.json (r, lora_alpha) and
                 adapter_model.bin or .safetensors (optional ".default" adapter name).
                 Merged as W + (lora_alpha / r) * B @ A, each backbone with its own K.
Output: WEIGHTS_DIR/<stem>.safetensors per backbone (stem = the backbone name; the patch
models' is the model name), F32, metadata {"format": "dsbench-dreamsim", "dreamsim_model":
MODEL, "backbone": stem}: dsbench refuses a file converted for another model.
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
    "dinov2_vitb14": ["dinov2_vitb14"], "synclr_vitb16": ["synclr_vitb16"],
    "dino_vitb16_patch": ["dino_vitb16_patch"], "dinov2_vitb14_patch": ["dinov2_vitb14_patch"],
}
LORA_KEY = re.compile(r"^(?:.*?extractor_list\.(\d+)\.)?(?:.*\.)?(blocks\.\d+\.attn\.qkv)\.lora_([AB])(?:\.default)?\.weight$")
BASE_FILES = {  # first found wins
    "dino": ["checkpoints/dino_vitbase16_pretrain.pth", "dino_vitb16_pretrain.pth"],
    "dinov2": ["checkpoints/dinov2_vitb14_pretrain.pth", "dinov2_vitb14_pretrain.pth"],
    "synclr": ["synclr_vit_b_16.pth"],
}


def family(name):
    """dino, dinov2, synclr or clip (CLIP and OpenCLIP share a layout)."""
    for prefix in ("dinov2", "dino", "synclr"):
        if name.startswith(prefix):
            return prefix
    return "clip"


def expected_keys(name, depth):
    keys = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"]
    if family(name) == "clip":
        keys += ["pos_drop.weight", "pos_drop.bias", "proj"]
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"]
        if family(name) == "dinov2":
            keys += [f"blocks.{i}.ls1.gamma", f"blocks.{i}.ls2.gamma"]
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
    if not isinstance(loaded, dict):
        sys.exit(f"{path}: expected a state dict or a dict with 'state_dict'")
    if "teacher" in loaded and isinstance(loaded["teacher"], dict):
        print(f"{path}: a full DINO checkpoint; using its teacher backbone", file=sys.stderr)
        loaded = loaded["teacher"]
    elif "model" in loaded and isinstance(loaded["model"], dict):  # SynCLR
        loaded = {k[len("module.visual."):] if k.startswith("module.visual.") else k: v
                  for k, v in loaded["model"].items()}
    sd = dict(loaded.get("state_dict", loaded))
    if any(k == "register_tokens" or k.endswith(".register_tokens") for k in sd):
        sys.exit(f"{path}: DINOv2 with register tokens is not a DreamSim backbone dsbench supports")
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


def merge_lora(sd, lora_dir, origin, extractor=0, extractors=1):
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
        index = int(match.group(1) or 0)
        if index >= extractors:
            sys.exit(f"{weights_file}: adapter key {key} names extractor {index}; this model has {extractors}")
        if index == extractor:
            pairs.setdefault(match.group(2), {})[match.group(3)] = value.to(torch.float32)
    if not pairs:
        sys.exit(f"{weights_file}: no LoRA pairs for extractor {extractor}")
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


def convert_backbone(name, base, lora, out_dir, model=None, extractor=0, extractors=1):
    sd = base_state_dict(base)
    merged = merge_lora(sd, lora, base, extractor, extractors) if lora else 0
    tensors = to_dsbench(name, sd, base)
    os.makedirs(out_dir, exist_ok=True)
    metadata = {"format": "dsbench-dreamsim", "dreamsim_model": model or name, "backbone": name}
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), tensors, metadata=metadata)
    print(f"{name}: {len(tensors)} tensors, {merged} LoRA pairs merged -> {os.path.join(out_dir, name + '.safetensors')}")


def find_release_files(release, name, model):
    plain = name[:-len("_patch")] if name.endswith("_patch") else name
    candidates = BASE_FILES.get(family(plain), []) + [f"{plain}_pretrain.pth.tar", f"{plain}_pretrain.pth"]
    base = next((os.path.join(release, f) for f in candidates if os.path.exists(os.path.join(release, f))), None)
    if base is None:
        sys.exit(f"{release}: no base weights for {plain} (looked for {', '.join(candidates)})")
    folder = "ensemble_lora" if model == "ensemble" else (f"{model}_lora" if model.endswith("_patch")
                                                         else f"{model}_single_lora")
    lora = os.path.join(release, folder)
    if not os.path.isdir(lora):
        sys.exit(f"{release}: no LoRA folder {folder}")
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
        base_file, lora_dir = find_release_files(tmp, "clip_vitb16", "clip_vitb16")
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
    ensemble_self_test()
    print("self-test passed")


def synthetic_backbone(gen, width, depth, clip_style=False, layer_scale=False):
    w = {"cls_token": torch.randn(1, 1, width, generator=gen), "pos_embed": torch.randn(1, 5, width, generator=gen),
         "patch_embed.proj.weight": torch.randn(width, 3, 16, 16, generator=gen),
         "patch_embed.proj.bias": torch.randn(width, generator=gen),
         "norm.weight": torch.randn(width, generator=gen), "norm.bias": torch.randn(width, generator=gen)}
    if clip_style:
        w.update({"pos_drop.weight": torch.randn(width, generator=gen), "pos_drop.bias": torch.randn(width, generator=gen),
                  "proj": torch.randn(width, 4, generator=gen)})
    for i in range(depth):
        for part, shape in {"norm1": (width,), "norm2": (width,), "attn.qkv": (3 * width, width),
                            "attn.proj": (width, width), "mlp.fc1": (4 * width, width), "mlp.fc2": (width, 4 * width)}.items():
            w[f"blocks.{i}.{part}.weight"] = torch.randn(*shape, generator=gen)
            w[f"blocks.{i}.{part}.bias"] = torch.randn(shape[0], generator=gen)
        if layer_scale:
            w[f"blocks.{i}.ls1.gamma"] = torch.randn(width, generator=gen)
            w[f"blocks.{i}.ls2.gamma"] = torch.randn(width, generator=gen)
    return w


def ensemble_self_test():
    """The released ensemble: one adapter for three extractors, DINO as a full training
    checkpoint; and a DINOv2 single model with layer scale and a mask token."""
    gen = torch.Generator().manual_seed(9)
    width, depth, rank, alpha = 8, 2, 2, 4.0
    names = MODELS["ensemble"]
    targets = [synthetic_backbone(gen, width, depth, clip_style=(k > 0)) for k in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        lora = {}
        bases = []
        for k, target in enumerate(targets):
            base = {key: value.clone() for key, value in target.items()}
            for i in range(depth):
                a = torch.randn(rank, width, generator=gen)
                b = torch.randn(3 * width, rank, generator=gen)
                base[f"blocks.{i}.attn.qkv.weight"] -= (alpha / rank) * b @ a
                prefix = f"base_model.model.extractor_list.{k}.model.blocks.{i}.attn.qkv"
                lora[prefix + ".lora_A.weight"] = a
                lora[prefix + ".lora_B.weight"] = b
            bases.append(base)
        student = {"module.backbone." + key: torch.zeros_like(v) for key, v in bases[0].items()}
        torch.save({"teacher": {"backbone." + key: v for key, v in bases[0].items()}, "student": student},
                   os.path.join(tmp, "dino_vitb16_pretrain.pth"))
        for k in (1, 2):
            sd = dict(bases[k])
            proj = sd.pop("proj")
            torch.save({"state_dict": sd, "proj": proj}, os.path.join(tmp, f"{names[k]}_pretrain.pth.tar"))
        os.makedirs(os.path.join(tmp, "ensemble_lora"))
        with open(os.path.join(tmp, "ensemble_lora", "adapter_config.json"), "w") as f:
            json.dump({"r": rank, "lora_alpha": alpha, "target_modules": ["qkv"]}, f)
        torch.save(lora, os.path.join(tmp, "ensemble_lora", "adapter_model.bin"))
        out = os.path.join(tmp, "out")
        for index, name in enumerate(names):
            base, lora_dir = find_release_files(tmp, name, "ensemble")
            convert_backbone(name, base, lora_dir, out, "ensemble", index, 3)
        for name, target in zip(names, targets):
            converted = read_safetensors(os.path.join(out, name + ".safetensors"), {"F32"})
            assert sorted(converted) == sorted(target), (name, sorted(set(converted) ^ set(target)))
            for key, value in target.items():
                assert torch.allclose(converted[key], value, atol=1e-4), (name, key)
        with open(os.path.join(out, "clip_vitb16.safetensors"), "rb") as f:
            header = f.read(8 + int.from_bytes(f.read(8), "little"))[8:]
        assert b'"dreamsim_model":"ensemble"' in header, header[:200]
        # An adapter naming a fourth extractor is refused.
        lora["base_model.model.extractor_list.3.model.blocks.0.attn.qkv.lora_A.weight"] = torch.zeros(rank, width)
        torch.save(lora, os.path.join(tmp, "ensemble_lora", "adapter_model.bin"))
        try:
            convert_backbone("clip_vitb16", os.path.join(tmp, "clip_vitb16_pretrain.pth.tar"),
                             os.path.join(tmp, "ensemble_lora"), out, "ensemble", 1, 3)
            raise AssertionError("extractor 3 not reported")
        except SystemExit as error:
            assert "extractor 3" in str(error), error
        # DINOv2: layer scale kept, mask token dropped, no LoRA folder -> a clear error.
        dinov2 = synthetic_backbone(gen, width, depth, layer_scale=True)
        torch.save(dict(dinov2, mask_token=torch.zeros(1, width)), os.path.join(tmp, "dinov2_vitb14_pretrain.pth"))
        try:
            find_release_files(tmp, "dinov2_vitb14", "dinov2_vitb14")
            raise AssertionError("missing LoRA folder not reported")
        except SystemExit as error:
            assert "dinov2_vitb14_single_lora" in str(error), error
        convert_backbone("dinov2_vitb14", os.path.join(tmp, "dinov2_vitb14_pretrain.pth"), None, out)
        converted = read_safetensors(os.path.join(out, "dinov2_vitb14.safetensors"), {"F32"})
        assert sorted(converted) == sorted(dinov2) and "mask_token" not in converted
        assert torch.equal(converted["blocks.1.ls2.gamma"], dinov2["blocks.1.ls2.gamma"])
        # SynCLR's module.visual. prefix.
        synclr = synthetic_backbone(gen, width, depth)
        torch.save({"model": {"module.visual." + k: v for k, v in synclr.items()}},
                   os.path.join(tmp, "synclr_vit_b_16.pth"))
        base, _ = (os.path.join(tmp, "synclr_vit_b_16.pth"), None)
        convert_backbone("synclr_vitb16", base, None, out)
        converted = read_safetensors(os.path.join(out, "synclr_vitb16.safetensors"), {"F32"})
        assert sorted(converted) == sorted(synclr)


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
    names = MODELS[args.model]
    for index, name in enumerate(names):
        base, lora = find_release_files(args.release, name, args.model)
        convert_backbone(name, base, lora, args.out, args.model, index, len(names))


if __name__ == "__main__":
    main()
