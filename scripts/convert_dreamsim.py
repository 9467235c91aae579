#!/usr/bin/python3
"""Converts an official DreamSim release (github.com/ssundaram21/dreamsim) into the
safetensors files dsbench loads: one <backbone>.safetensors per backbone, LoRA merged.

Run with a Python that has torch (Debian: /usr/bin/python3).

Release folder (the unzipped dreamsim_<model>_checkpoint.zip; what download_weights in
dreamsim/model.py expects), per --model:
  ensemble            dino_vitb16_pretrain.pth, clip_vitb16_pretrain.pth.tar,
                      open_clip_vitb16_pretrain.pth.tar, ensemble_lora/
  dino_vitb16         dino_vitb16_pretrain.pth, dino_vitb16_single_lora/
  dino_vitb16_patch   dino_vitb16_pretrain.pth, dino_vitb16_patch_lora/
  dinov2_vitb14       dinov2_vitb14_pretrain.pth, dinov2_vitb14_single_lora/
  dinov2_vitb14_patch dinov2_vitb14_pretrain.pth, dinov2_vitb14_patch_lora/
  synclr_vitb16       synclr_vit_b_16.pth, synclr_vitb16_single_lora/
  clip_vitb32         clip_vitb32_pretrain.pth.tar, clip_vitb32_single_lora/
  open_clip_vitb32    open_clip_vitb32_pretrain.pth.tar, open_clip_vitb32_single_lora/
Base weights:
  DINO      DreamSim builds dino_vitb16 with torch.hub (facebookresearch/dino), which reads
            checkpoints/dino_vitbase16_pretrain.pth under the release folder (a plain
            backbone state dict); used when present. Otherwise the release's
            dino_vitb16_pretrain.pth, a full DINO training checkpoint ('student', 'teacher';
            DreamSim takes only the projection head from it): its teacher backbone is used,
            as in DINO's own backbone-only files ("module." / "backbone." stripped, head.*
            dropped).
  DINOv2    checkpoints/dinov2_vitb14_pretrain.pth when present (torch.hub's download),
            else dinov2_vitb14_pretrain.pth: torch.hub facebookresearch/dinov2 names.
  SynCLR    {'model': state dict} with keys "module.visual.*" (stripped, as
            load_synclr_as_dino does); DINO vit_base names.
  CLIP, OpenCLIP  {'state_dict': ...} already in DINO's names (ln_pre as pos_drop.*,
            'proj' [768, 512]; a missing patch_embed.proj.bias becomes zeros).
  Any base file may also be a plain state dict, a dict with 'state_dict', or a safetensors.
LoRA: a PEFT folder, adapter_config.json (r, lora_alpha; target_modules ["qkv"]) and
  adapter_model.bin or adapter_model.safetensors holding, for the whole PerceptualModel,
  base_model.model.extractor_list.K.model.blocks.N.attn.qkv.lora_A.weight / lora_B.weight
  (optionally ".default" before ".weight"); K indexes the model's backbones in order
  (ensemble: 0 dino_vitb16, 1 clip_vitb16, 2 open_clip_vitb16; others: 0). Each backbone
  gets its own pairs, merged as W + (lora_alpha / r) * B @ A (lora_alpha / sqrt(r) when
  the config says use_rslora).

Output (--out WEIGHTS_DIR): <stem>.safetensors per backbone, float32, keys sorted, metadata
{"format": "dsbench-dreamsim", "dreamsim_model": <--model>, "backbone": <stem>}. Stems:
ensemble -> dino_vitb16, clip_vitb16, open_clip_vitb16; the patch models -> dino_vitb16_patch,
dinov2_vitb14_patch; every other model -> its own name. Keys (W = 768, 12 blocks):
  all        cls_token [1,1,W], pos_embed [1,1+G*G,W], patch_embed.proj.weight [W,3,P,P] and
             .bias, blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.{weight,bias},
             norm.weight/bias (DINO / SynCLR: P 16, G 14)
  CLIP       + pos_drop.weight/bias (ln_pre), proj [W,512] (P 16, G 14 or P 32, G 7)
  DINOv2     + blocks.N.ls1.gamma, blocks.N.ls2.gamma (P 14, G 37, as stored); mask_token is
             dropped, register_tokens refused
Every expected key must be present with its shape; other keys are listed and dropped.

Usage:
  convert_dreamsim.py --release DIR --model MODEL --out WEIGHTS_DIR
  convert_dreamsim.py --backbone STEM --base FILE [--lora DIR [--model MODEL]] --out WEIGHTS_DIR
      one backbone; its extractor index K is its place in MODEL (default: STEM itself),
      e.g. --backbone clip_vitb16 --model ensemble --lora DIR/ensemble_lora
  convert_dreamsim.py --self-test       (synthetic releases; no download needed)
Then: dsbench eval RUN --model MODEL --weights WEIGHTS_DIR
"""
import argparse
import collections
import json
import math
import os
import re
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

# Per model, its backbones' output stems in extractor order (dreamsim/config.py).
MODELS = {
    "ensemble": ["dino_vitb16", "clip_vitb16", "open_clip_vitb16"],
    "dino_vitb16": ["dino_vitb16"], "dino_vitb16_patch": ["dino_vitb16_patch"],
    "dinov2_vitb14": ["dinov2_vitb14"], "dinov2_vitb14_patch": ["dinov2_vitb14_patch"],
    "synclr_vitb16": ["synclr_vitb16"],
    "clip_vitb32": ["clip_vitb32"], "open_clip_vitb32": ["open_clip_vitb32"],
    "clip_vitb16": ["clip_vitb16"], "open_clip_vitb16": ["open_clip_vitb16"],
}
# family: key set; patch: patch size; grid: stored position grid; proj: CLIP projection width.
Arch = collections.namedtuple("Arch", "family width depth patch grid proj")
DINO16 = Arch("dino", 768, 12, 16, 14, 0)
DINOV2 = Arch("dinov2", 768, 12, 14, 37, 0)
ARCHS = {
    "dino_vitb16": DINO16, "dino_vitb16_patch": DINO16, "synclr_vitb16": DINO16,
    "dinov2_vitb14": DINOV2, "dinov2_vitb14_patch": DINOV2,
    "clip_vitb16": Arch("clip", 768, 12, 16, 14, 512), "open_clip_vitb16": Arch("clip", 768, 12, 16, 14, 512),
    "clip_vitb32": Arch("clip", 768, 12, 32, 7, 512), "open_clip_vitb32": Arch("clip", 768, 12, 32, 7, 512),
}
# Base weights in a release folder, first present wins.
BASE_FILES = {
    "dino_vitb16": ["checkpoints/dino_vitbase16_pretrain.pth", "dino_vitb16_pretrain.pth"],
    "dinov2_vitb14": ["checkpoints/dinov2_vitb14_pretrain.pth", "dinov2_vitb14_pretrain.pth"],
    "synclr_vitb16": ["synclr_vit_b_16.pth"],
}
BASE_FILES["dino_vitb16_patch"] = BASE_FILES["dino_vitb16"]
BASE_FILES["dinov2_vitb14_patch"] = BASE_FILES["dinov2_vitb14"]
PREFIXES = ("module.visual.", "module.", "backbone.")
LORA_KEY = re.compile(r"^(?:.*\.)?extractor_list\.(\d+)\.model\.(blocks\.\d+\.attn\.qkv)\.lora_([AB])(?:\.default)?\.weight$")


def load_any(path):
    if path.endswith(".safetensors"):
        try:
            return read_safetensors(path)
        except ValueError as error:
            sys.exit(str(error))
    return torch.load(path, map_location="cpu")


def strip_prefixes(key):
    for prefix in PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def unwrap_checkpoint(loaded, path):
    """The backbone state dict inside a plain state dict, {'state_dict': ...} (with a 'proj'
    beside it kept), SynCLR's {'model': ...}, or a full DINO checkpoint (its teacher)."""
    if not isinstance(loaded, dict):
        sys.exit(f"{path}: expected a state dict, found {type(loaded).__name__}")
    if isinstance(loaded.get("teacher"), dict):
        print(f"{path}: a full DINO training checkpoint; using its teacher backbone", file=sys.stderr)
        return {k: v for k, v in loaded["teacher"].items() if not strip_prefixes(k).startswith("head.")}
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded.get(wrapper), dict):
            sd = dict(loaded[wrapper])
            if torch.is_tensor(loaded.get("proj")) and "proj" not in sd:
                sd["proj"] = loaded["proj"]
            return sd
    return loaded


def base_state_dict(path):
    sd = unwrap_checkpoint(load_any(path), path)
    return {strip_prefixes(k): v.detach().to(torch.float32) for k, v in sd.items() if torch.is_tensor(v)}


def expected_shapes(arch):
    """{key: shape} of the dsbench layout of one backbone."""
    w, hidden = arch.width, 4 * arch.width
    shapes = {"cls_token": (1, 1, w), "pos_embed": (1, 1 + arch.grid * arch.grid, w),
              "patch_embed.proj.weight": (w, 3, arch.patch, arch.patch), "patch_embed.proj.bias": (w,),
              "norm.weight": (w,), "norm.bias": (w,)}
    if arch.family == "clip":
        shapes.update({"pos_drop.weight": (w,), "pos_drop.bias": (w,), "proj": (w, arch.proj)})
    for i in range(arch.depth):
        for part, shape in {"norm1": (w,), "attn.qkv": (3 * w, w), "attn.proj": (w, w), "norm2": (w,),
                            "mlp.fc1": (hidden, w), "mlp.fc2": (w, hidden)}.items():
            shapes[f"blocks.{i}.{part}.weight"] = shape
            shapes[f"blocks.{i}.{part}.bias"] = shape[:1]
        if arch.family == "dinov2":
            shapes[f"blocks.{i}.ls1.gamma"] = (w,)
            shapes[f"blocks.{i}.ls2.gamma"] = (w,)
    return shapes


def to_dsbench(stem, arch, sd, origin):
    """The expected keys of sd, shapes checked; CLIP's [W] class / [T, W] position
    embeddings reshaped, its absent patch bias zeros; the rest listed and dropped."""
    if "register_tokens" in sd:
        sys.exit(f"{origin}: register_tokens present (a DINOv2 with registers); dsbench has no register support")
    out = {}
    for key, shape in expected_shapes(arch).items():
        value = sd.get(key)
        if value is None and key == "patch_embed.proj.bias" and arch.family == "clip":
            value = torch.zeros(shape)  # CLIP's conv1 has no bias
        if value is None:
            sys.exit(f"{origin}: missing key {key} for backbone {stem}")
        if key in ("cls_token", "pos_embed") and value.numel() == math.prod(shape):
            value = value.reshape(shape)
        if tuple(value.shape) != shape:
            sys.exit(f"{origin}: {key} has shape {list(value.shape)}, expected {list(shape)} for backbone {stem}")
        out[key] = value.contiguous()
    dropped = sorted(set(sd) - set(out) - {"mask_token"})
    if dropped:
        print(f"{stem}: ignoring {len(dropped)} keys not used by DreamSim (e.g. {dropped[:3]})", file=sys.stderr)
    return out


def read_adapter(lora_dir, model):
    """(scale, {extractor K: {target: {"A": A, "B": B}}}, adapter file) of a PEFT folder
    holding the LoRA of every backbone of `model`."""
    config_file = os.path.join(lora_dir, "adapter_config.json")
    if not os.path.isfile(config_file):
        sys.exit(f"{lora_dir}: no adapter_config.json (not a PEFT LoRA folder)")
    with open(config_file) as f:
        config = json.load(f)
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        sys.exit(f"{config_file}: per-module rank_pattern / alpha_pattern are not supported")
    r, alpha = float(config["r"]), float(config["lora_alpha"])
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    weights_file = next((os.path.join(lora_dir, n) for n in ("adapter_model.safetensors", "adapter_model.bin")
                         if os.path.exists(os.path.join(lora_dir, n))), None)
    if weights_file is None:
        sys.exit(f"{lora_dir}: no adapter_model.safetensors or adapter_model.bin")
    extractors = {}
    for key, value in load_any(weights_file).items():
        match = LORA_KEY.match(key)
        if not match:
            sys.exit(f"{weights_file}: unexpected adapter key {key} "
                     "(expected ...extractor_list.K.model.blocks.N.attn.qkv.lora_A/B.weight)")
        k = int(match.group(1))
        if k >= len(MODELS[model]):
            sys.exit(f"{weights_file}: adapter key {key} is for extractor {k}, but model {model} has "
                     f"{len(MODELS[model])} backbone(s) ({', '.join(MODELS[model])})")
        extractors.setdefault(k, {}).setdefault(match.group(2), {})[match.group(3)] = value.to(torch.float32)
    return scale, extractors, weights_file


def merge_lora(tensors, pairs, scale, weights_file, stem):
    """W += scale * B @ A for every qkv target of one backbone; the number merged."""
    for target, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            sys.exit(f"{weights_file}: {target} lacks lora_{'A' if 'A' not in ab else 'B'}")
        weight = target + ".weight"
        if weight not in tensors:
            sys.exit(f"{weights_file}: LoRA targets {weight}, which backbone {stem} does not have")
        if ab["B"].shape[1] != ab["A"].shape[0]:
            sys.exit(f"{weights_file}: {target} lora_B {list(ab['B'].shape)} and lora_A {list(ab['A'].shape)} mismatch")
        delta = scale * ab["B"].double() @ ab["A"].double()
        if delta.shape != tensors[weight].shape:
            sys.exit(f"{weights_file}: {target} LoRA delta {list(delta.shape)} vs weight {list(tensors[weight].shape)}")
        tensors[weight] = (tensors[weight].double() + delta).float()
    return len(pairs)


def extractor_pairs(adapter, model, stem):
    """The LoRA pairs of `stem`'s extractor in `model`'s adapter (read_adapter's result)."""
    _, extractors, weights_file = adapter
    k = MODELS[model].index(stem)
    if not extractors.get(k):
        sys.exit(f"{weights_file}: no LoRA pairs for extractor {k} ({stem} of model {model})")
    return extractors[k]


def convert_backbone(model, stem, base, adapter, out_dir, archs=ARCHS):
    """Writes <out_dir>/<stem>.safetensors: the base weights of `stem` with the LoRA of its
    extractor in `model`'s adapter (read_adapter's result; None: base weights alone)."""
    if stem not in MODELS[model]:
        sys.exit(f"backbone {stem} is not part of model {model} ({', '.join(MODELS[model])})")
    tensors = to_dsbench(stem, archs[stem], base_state_dict(base), base)
    merged = 0
    if adapter:
        merged = merge_lora(tensors, extractor_pairs(adapter, model, stem), adapter[0], adapter[2], stem)
    else:
        print(f"{stem}: no LoRA given; writing the base weights alone", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, stem + ".safetensors")
    write_safetensors(path, tensors, metadata={"format": "dsbench-dreamsim", "dreamsim_model": model, "backbone": stem})
    print(f"{stem}: {len(tensors)} tensors, {merged} LoRA pairs merged -> {path}")


def release_base_file(release, stem):
    candidates = BASE_FILES.get(stem, [f"{stem}_pretrain.pth.tar", f"{stem}_pretrain.pth"])
    for name in candidates:
        if os.path.isfile(os.path.join(release, name)):
            return os.path.join(release, name)
    sys.exit(f"{release}: no base weights for {stem} (looked for {', '.join(candidates)})")


def release_lora_dir(release, model):
    name = ("ensemble_lora" if model == "ensemble" else f"{model}_lora" if model.endswith("_patch")
            else f"{model}_single_lora")
    if not os.path.isdir(os.path.join(release, name)):
        sys.exit(f"{release}: no LoRA folder {name} for model {model}")
    return os.path.join(release, name)


def convert_release(release, model, out_dir, archs=ARCHS):
    """Every backbone of `model`; the files and every backbone's LoRA are found first, so a
    broken release writes nothing."""
    adapter = read_adapter(release_lora_dir(release, model), model)
    bases = {stem: release_base_file(release, stem) for stem in MODELS[model]}
    for stem in MODELS[model]:
        extractor_pairs(adapter, model, stem)
    for stem in MODELS[model]:
        convert_backbone(model, stem, bases[stem], adapter, out_dir, archs)


# ---------------------------------------------------------------------------- self-test

def read_metadata(path):
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    return header.get("__metadata__"), [k for k in header if k != "__metadata__"]


def random_backbone(arch, gen):
    """Target weights of the dsbench layout, random."""
    return {k: torch.randn(*shape, generator=gen) for k, shape in expected_shapes(arch).items()}


def lora_pairs(target, k, depth, rank, scale, gen, suffix=".weight"):
    """Random adapter entries for extractor k; target's qkv weights are left as the base
    (target minus the delta) in a copy, returned with the entries."""
    base, entries = {key: v.clone() for key, v in target.items()}, {}
    for i in range(depth):
        qkv = base[f"blocks.{i}.attn.qkv.weight"]
        a = torch.randn(rank, qkv.shape[1], generator=gen)
        b = torch.randn(qkv.shape[0], rank, generator=gen)
        base[f"blocks.{i}.attn.qkv.weight"] = qkv - scale * b @ a
        prefix = f"base_model.model.extractor_list.{k}.model.blocks.{i}.attn.qkv"
        entries[f"{prefix}.lora_A{suffix}"], entries[f"{prefix}.lora_B{suffix}"] = a, b
    return base, entries


def write_adapter(folder, entries, rank, alpha, safetensors=False):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump({"r": rank, "lora_alpha": alpha, "lora_dropout": 0.3, "bias": "none",
                   "target_modules": ["qkv"], "peft_type": "LORA"}, f)
    if safetensors:
        write_safetensors(os.path.join(folder, "adapter_model.safetensors"), entries)
    else:
        torch.save(entries, os.path.join(folder, "adapter_model.bin"))


def check_output(out_dir, stem, target, model):
    path = os.path.join(out_dir, stem + ".safetensors")
    converted = read_safetensors(path, {"F32"})
    assert sorted(converted) == sorted(target), (stem, sorted(set(converted) ^ set(target)))
    for key, value in target.items():
        assert converted[key].shape == value.shape, (stem, key)
        assert torch.allclose(converted[key], value, atol=1e-5), (stem, key, (converted[key] - value).abs().max())
    metadata, keys = read_metadata(path)
    assert metadata == {"format": "dsbench-dreamsim", "dreamsim_model": model, "backbone": stem}, metadata
    assert keys == sorted(keys), stem
    return converted


def expect_exit(fn, *needles):
    try:
        fn()
    except SystemExit as error:
        for needle in needles:
            assert needle in str(error), (needle, str(error))
        print(f"  refused as expected: {error}")
        return
    raise AssertionError(f"no error naming {needles}")


def self_test():
    """Synthetic tiny releases of every layout: each merged output must equal its targets."""
    gen = torch.Generator().manual_seed(5)
    rank, alpha = 4, 2.0
    scale = alpha / rank
    tiny = {stem: arch._replace(width=8, depth=2, grid=2 if arch.patch == 32 else 3, proj=4 if arch.proj else 0)
            for stem, arch in ARCHS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        # (a) ensemble: one ensemble_lora, a different adapter per extractor; DINO's base a
        # full training checkpoint whose student differs from its teacher.
        release, out = os.path.join(tmp, "ensemble"), os.path.join(tmp, "ensemble_out")
        os.makedirs(release)
        targets, adapter, bases = {}, {}, {}
        for k, stem in enumerate(MODELS["ensemble"]):
            targets[stem] = random_backbone(tiny[stem], gen)
            bases[stem], entries = lora_pairs(targets[stem], k, 2, rank, scale, gen,
                                              ".default.weight" if k == 1 else ".weight")
            adapter.update(entries)
        teacher = {"backbone." + k: v for k, v in bases["dino_vitb16"].items()}
        teacher.update({"head.mlp.0.weight": torch.zeros(3, 8), "head.last_layer.weight_g": torch.ones(3, 1)})
        student = {"module.backbone." + k: torch.randn(v.shape, generator=gen) for k, v in bases["dino_vitb16"].items()}
        student["module.head.mlp.0.weight"] = torch.ones(3, 8)
        torch.save({"student": student, "teacher": teacher, "epoch": 100, "optimizer": {"state": {}}},
                   os.path.join(release, "dino_vitb16_pretrain.pth"))
        clip = dict(bases["clip_vitb16"], cls_token=bases["clip_vitb16"]["cls_token"].reshape(-1),
                    pos_embed=bases["clip_vitb16"]["pos_embed"][0])  # CLIP's own shapes
        torch.save({"state_dict": clip}, os.path.join(release, "clip_vitb16_pretrain.pth.tar"))
        open_clip = {k: v for k, v in bases["open_clip_vitb16"].items() if k != "patch_embed.proj.bias"}
        targets["open_clip_vitb16"]["patch_embed.proj.bias"] = torch.zeros(8)
        torch.save({"state_dict": {"module." + k: v for k, v in open_clip.items()}},
                   os.path.join(release, "open_clip_vitb16_pretrain.pth.tar"))
        write_adapter(os.path.join(release, "ensemble_lora"), adapter, rank, alpha)
        convert_release(release, "ensemble", out, tiny)
        for stem in MODELS["ensemble"]:
            check_output(out, stem, targets[stem], "ensemble")
        dino = read_safetensors(os.path.join(out, "dino_vitb16.safetensors"))
        assert not torch.allclose(dino["cls_token"], student["module.backbone.cls_token"]), "student used"
        # One backbone by hand (--backbone clip_vitb16 --model ensemble --lora .../ensemble_lora).
        one = read_adapter(os.path.join(release, "ensemble_lora"), "ensemble")
        convert_backbone("ensemble", "clip_vitb16", os.path.join(release, "clip_vitb16_pretrain.pth.tar"), one,
                         os.path.join(tmp, "one"), tiny)
        check_output(os.path.join(tmp, "one"), "clip_vitb16", targets["clip_vitb16"], "ensemble")
        print("(a) ensemble: three extractors split, DINO teacher used, metadata checked")

        # (b) dinov2_vitb14 single: layer scale kept, mask_token dropped, .safetensors adapter.
        release, out = os.path.join(tmp, "dinov2"), os.path.join(tmp, "dinov2_out")
        os.makedirs(release)
        target = random_backbone(tiny["dinov2_vitb14"], gen)
        base, entries = lora_pairs(target, 0, 2, rank, scale, gen, ".default.weight")
        torch.save(dict(base, mask_token=torch.randn(1, 8, generator=gen)),
                   os.path.join(release, "dinov2_vitb14_pretrain.pth"))
        write_adapter(os.path.join(release, "dinov2_vitb14_single_lora"), entries, rank, alpha, safetensors=True)
        convert_release(release, "dinov2_vitb14", out, tiny)
        converted = check_output(out, "dinov2_vitb14", target, "dinov2_vitb14")
        assert "mask_token" not in converted and "blocks.1.ls2.gamma" in converted
        print("(b) dinov2_vitb14: ls1/ls2 kept, mask_token dropped")

        # (c) synclr_vitb16: {'model': ...} with module.visual. prefixes.
        release, out = os.path.join(tmp, "synclr"), os.path.join(tmp, "synclr_out")
        os.makedirs(release)
        target = random_backbone(tiny["synclr_vitb16"], gen)
        base, entries = lora_pairs(target, 0, 2, rank, scale, gen)
        torch.save({"model": {"module.visual." + k: v for k, v in base.items()}, "epoch": 3},
                   os.path.join(release, "synclr_vit_b_16.pth"))
        write_adapter(os.path.join(release, "synclr_vitb16_single_lora"), entries, rank, alpha)
        convert_release(release, "synclr_vitb16", out, tiny)
        check_output(out, "synclr_vitb16", target, "synclr_vitb16")
        print("(c) synclr_vitb16: module.visual. stripped")

        # (d) dino_vitb16_patch: its own LoRA folder and stem; torch.hub's
        # checkpoints/dino_vitbase16_pretrain.pth preferred over the training checkpoint.
        release, out = os.path.join(tmp, "patch"), os.path.join(tmp, "patch_out")
        os.makedirs(os.path.join(release, "checkpoints"))
        target = random_backbone(tiny["dino_vitb16_patch"], gen)
        base, entries = lora_pairs(target, 0, 2, rank, scale, gen)
        torch.save(base, os.path.join(release, "checkpoints", "dino_vitbase16_pretrain.pth"))
        torch.save({"teacher": {k: torch.randn(v.shape, generator=gen) for k, v in base.items()}, "student": {}},
                   os.path.join(release, "dino_vitb16_pretrain.pth"))
        write_adapter(os.path.join(release, "dino_vitb16_patch_lora"), entries, rank, alpha)
        convert_release(release, "dino_vitb16_patch", out, tiny)
        check_output(out, "dino_vitb16_patch", target, "dino_vitb16_patch")
        print("(d) dino_vitb16_patch: stem and metadata, checkpoints/ base preferred")

        # (e) broken inputs fail, naming what is wrong.
        broken = os.path.join(tmp, "broken")
        os.makedirs(broken)
        base = random_backbone(tiny["dino_vitb16"], gen)
        del base["blocks.1.norm2.bias"]
        torch.save(base, os.path.join(broken, "missing.pth"))
        expect_exit(lambda: convert_backbone("dino_vitb16", "dino_vitb16", os.path.join(broken, "missing.pth"),
                                             None, os.path.join(tmp, "e1"), tiny), "missing.pth", "blocks.1.norm2.bias")
        base = dict(random_backbone(tiny["dino_vitb16"], gen), pos_embed=torch.zeros(1, 5, 8))
        torch.save(base, os.path.join(broken, "shape.pth"))
        expect_exit(lambda: convert_backbone("dino_vitb16", "dino_vitb16", os.path.join(broken, "shape.pth"),
                                             None, os.path.join(tmp, "e2"), tiny), "shape.pth", "pos_embed")
        base = dict(random_backbone(tiny["dinov2_vitb14"], gen), register_tokens=torch.zeros(1, 4, 8))
        torch.save(base, os.path.join(broken, "registers.pth"))
        expect_exit(lambda: convert_backbone("dinov2_vitb14", "dinov2_vitb14", os.path.join(broken, "registers.pth"),
                                             None, os.path.join(tmp, "e3"), tiny), "registers.pth", "register_tokens")
        extra = dict(adapter, **{k.replace("extractor_list.2.", "extractor_list.3."): v
                                 for k, v in adapter.items() if "extractor_list.2." in k})
        write_adapter(os.path.join(broken, "ensemble_lora"), extra, rank, alpha)
        for name in ("dino_vitb16_pretrain.pth", "clip_vitb16_pretrain.pth.tar", "open_clip_vitb16_pretrain.pth.tar"):
            os.link(os.path.join(tmp, "ensemble", name), os.path.join(broken, name))
        expect_exit(lambda: convert_release(broken, "ensemble", os.path.join(tmp, "e4"), tiny),
                    "adapter_model.bin", "extractor_list.3.model.blocks.0.attn.qkv", "extractor 3")
        write_adapter(os.path.join(broken, "ensemble_lora"),
                      {k: v for k, v in adapter.items() if "extractor_list.2." not in k}, rank, alpha)
        expect_exit(lambda: convert_release(broken, "ensemble", os.path.join(tmp, "e5"), tiny),
                    "adapter_model.bin", "extractor 2", "open_clip_vitb16")
        assert not os.path.exists(os.path.join(tmp, "e5")), "a broken release wrote files"
        expect_exit(lambda: convert_release(broken, "dino_vitb16", os.path.join(tmp, "e6"), tiny),
                    "dino_vitb16_single_lora")
        expect_exit(lambda: convert_backbone("dino_vitb16", "dino_vitb16", os.path.join(broken, "shape.pth"),
                                             None, os.path.join(tmp, "e8")), "shape.pth", "cls_token", "[1, 1, 768]")
        expect_exit(lambda: convert_backbone("ensemble", "synclr_vitb16", os.path.join(broken, "missing.pth"),
                                             None, os.path.join(tmp, "e7"), tiny), "synclr_vitb16", "ensemble")
        print("(e) missing key, wrong shape, register tokens, extractor 3, no pairs, no LoRA folder,\n"
              "    a tiny file at the real ViT-B sizes, a backbone outside its model: refused")
    print("self-test passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", help="folder with the unzipped release files")
    parser.add_argument("--model", choices=sorted(MODELS), help="DreamSim model (default: ensemble, "
                        "or with --backbone the backbone itself)")
    parser.add_argument("--backbone", choices=sorted(ARCHS), help="convert one backbone (output stem)")
    parser.add_argument("--base", help="backbone weights file (with --backbone)")
    parser.add_argument("--lora", help="PEFT adapter folder of --model (with --backbone)")
    parser.add_argument("--out", help="output folder for <stem>.safetensors")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.out:
        parser.error("--out is required")
    if args.backbone:
        if not args.base:
            parser.error("--backbone needs --base")
        model = args.model or args.backbone  # every stem is also a model name
        adapter = read_adapter(args.lora, model) if args.lora else None
        return convert_backbone(model, args.backbone, args.base, adapter, args.out)
    if not args.release:
        parser.error("give --release DIR or --backbone STEM --base FILE")
    convert_release(args.release, args.model or "ensemble", args.out)


if __name__ == "__main__":
    main()
