#!/usr/bin/python3
"""Converts a CLIP checkpoint into the one safetensors file dsbench's CLIP-T loads
(metrics/clip.h: Clip::load detects the layout from the keys, so both are kept as they are).

Run with a Python that has torch (Debian: /usr/bin/python3). Inputs:
  OpenAI      the .pt files of openai/CLIP (ViT-B-16.pt, ViT-B-32.pt, ViT-L-14.pt): TorchScript
              archives (read with torch.jit.load) or plain state dicts (torch.load). Keys
              visual.*, transformer.*, token_embedding.weight, positional_embedding,
              ln_final.*, text_projection, logit_scale. Float16 is kept (half the size;
              dsbench converts to float32 when loading) unless --float32.
  Hugging Face  pytorch_model.bin of openai/clip-vit-base-patch16 and friends (CLIPModel:
              text_model.*, vision_model.*, text_projection.weight, visual_projection.weight).
              A model.safetensors from the hub needs no conversion.
Dropped: the hyper-parameters OpenAI's archives keep as tensors (input_resolution,
context_length, vocab_size) and transformers' position_ids buffers. ResNet CLIP models
are refused (dsbench has ViT towers only).

Usage:
  convert_clip.py --input ViT-B-16.pt --out clip_vitb16.safetensors [--float32]
  convert_clip.py --self-test       (synthetic checkpoints; no download needed)
Prints the model name the shapes belong to (clip_vitb16, clip_vitb32, clip_vitl14, or a
tiny-* test shape); pass that name with the file to dsbench.
"""
import argparse
import os
import re
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

IGNORED = re.compile(r"^(input_resolution|context_length|vocab_size)$|position_ids$")
# (vision width, patch, vision layers, embedding, text width) -> dsbench model name
KNOWN = {
    (768, 16, 12, 512, 512): "clip_vitb16",
    (768, 32, 12, 512, 512): "clip_vitb32",
    (1024, 14, 24, 768, 768): "clip_vitl14",
}


class ConversionError(Exception):
    pass


def load_state_dict(path):
    """OpenAI's clip.load reads a TorchScript archive first and falls back to torch.load."""
    try:
        return dict(torch.jit.load(path, map_location="cpu").state_dict())
    except RuntimeError:
        pass
    loaded = torch.load(path, map_location="cpu")
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ConversionError(f"{path}: expected a TorchScript archive or a state dict of tensors")
    sd = dict(loaded)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def layer_count(sd, prefix):
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in sd for m in [pattern.match(k)] if m})


def identify(sd, origin):
    """The layout and the dsbench model name the tensor shapes belong to."""
    hf = any(k.startswith(("vision_model.", "text_model.")) for k in sd)
    openai = any(k.startswith(("visual.", "transformer.resblocks.")) or k == "token_embedding.weight" for k in sd)
    if hf == openai:
        raise ConversionError(f"{origin}: expected Hugging Face CLIPModel keys (vision_model.*, text_model.*) or "
                              f"OpenAI keys (visual.*, transformer.*); found {'both' if hf else 'neither'}")
    try:
        if openai:
            if "visual.conv1.weight" not in sd or "visual.proj" not in sd:
                raise ConversionError(f"{origin}: not a ViT CLIP (ResNet CLIP models are not supported)")
            conv = sd["visual.conv1.weight"]
            shape = (conv.shape[0], conv.shape[-1], layer_count(sd, "visual.transformer.resblocks."),
                     sd["visual.proj"].shape[1], sd["ln_final.weight"].shape[0])
        else:
            conv = sd["vision_model.embeddings.patch_embedding.weight"]
            shape = (conv.shape[0], conv.shape[-1], layer_count(sd, "vision_model.encoder.layers."),
                     sd["visual_projection.weight"].shape[0], sd["text_model.final_layer_norm.weight"].shape[0])
    except KeyError as missing:
        raise ConversionError(f"{origin}: missing tensor {missing}") from None
    layout = "openai" if openai else "hugging_face"
    if shape in KNOWN:
        return layout, KNOWN[shape]
    width, patch, layers, embedding, text_width = shape
    if (width, layers, embedding, text_width) == (32, 2, 16, 32) and patch in (14, 16, 32):
        return layout, {16: "tiny-clip_vitb16", 32: "tiny-clip_vitb32", 14: "tiny-clip_vitl14"}[patch]
    raise ConversionError(f"{origin}: vision width {width}, patch {patch}, {layers} layers, embedding {embedding}, "
                          f"text width {text_width} is none of dsbench's models "
                          f"({', '.join(sorted(KNOWN.values()))})")


def convert(path, out, float32=False):
    sd = load_state_dict(path)
    layout, model = identify(sd, path)
    kept = {}
    for key, tensor in sd.items():
        if IGNORED.search(key):
            continue
        if not tensor.is_floating_point():
            raise ConversionError(f"{path}: tensor {key} has dtype {tensor.dtype}; CLIP weights are floating point")
        kept[key] = tensor.float() if float32 else tensor
    write_safetensors(out, kept, keep_dtype=True)
    return layout, model, len(kept)


def self_test():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    import make_clip_fixtures as reference  # the fixtures' independent OpenAI-layout CLIP

    class Archive(reference.Clip):
        """Like OpenAI's TorchScript archives: the weights at the top level plus the
        hyper-parameters as tensors."""

        def __init__(self):
            super().__init__()
            for name, value in (("input_resolution", 224), ("context_length", 77), ("vocab_size", 49408)):
                self.register_buffer(name, torch.tensor(value))

        def forward(self, pixels, ids):
            return self.visual(pixels), self.encode_text(ids)

    archive = Archive().eval()
    reference.randomise(archive, {0, 320, 49406, 49407})
    openai_sd = {k: v for k, v in archive.state_dict().items() if not IGNORED.search(k)}
    hf_sd = reference.hf_state(archive)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        jit_path = os.path.join(tmp, "ViT-tiny.pt")
        ids = torch.zeros(1, 77, dtype=torch.long)
        ids[0, :3] = torch.tensor([49406, 320, 49407])
        torch.jit.trace(archive, (torch.zeros(1, 3, 224, 224), ids)).save(jit_path)
        half_path = os.path.join(tmp, "half.pt")  # OpenAI's released archives are float16
        torch.save({k: v.half() for k, v in openai_sd.items()}, half_path)
        bin_path = os.path.join(tmp, "pytorch_model.bin")
        torch.save(hf_sd, bin_path)

        cases = [
            (jit_path, "openai", openai_sd, torch.float32, False),
            (half_path, "openai", {k: v.half() for k, v in openai_sd.items()}, torch.float16, False),
            (half_path, "openai", {k: v.half().float() for k, v in openai_sd.items()}, torch.float32, True),
            (bin_path, "hugging_face", {k: v for k, v in hf_sd.items() if not IGNORED.search(k)}, torch.float32, False),
        ]
        for source, want_layout, want, want_dtype, float32 in cases:
            out = os.path.join(tmp, "out.safetensors")
            layout, model, count = convert(source, out, float32)
            got = read_safetensors(out)
            name = os.path.basename(source) + (" --float32" if float32 else "")
            if (layout, model) != (want_layout, "tiny-clip_vitb16"):
                failures.append(f"{name}: identified {layout} {model}")
            if set(got) != set(want):
                failures.append(f"{name}: keys differ: {sorted(set(got) ^ set(want))[:5]}")
            for key in sorted(set(got) & set(want)):
                if got[key].dtype != want_dtype or not torch.equal(got[key], want[key].to(want_dtype)):
                    failures.append(f"{name}: {key} differs ({got[key].dtype})")
                    break
            print(f"{name}: {layout}, {model}, {count} tensors")

        resnet = os.path.join(tmp, "resnet.pt")
        torch.save({"visual.layer1.0.conv1.weight": torch.zeros(2, 2), "token_embedding.weight": torch.zeros(2, 2)},
                   resnet)
        try:
            convert(resnet, os.path.join(tmp, "x.safetensors"))
            failures.append("a ResNet CLIP was accepted")
        except ConversionError as error:
            if "ResNet" not in str(error):
                failures.append(f"ResNet message: {error}")
        foreign = os.path.join(tmp, "foreign.pt")
        torch.save({"encoder.weight": torch.zeros(2)}, foreign)
        try:
            convert(foreign, os.path.join(tmp, "x.safetensors"))
            failures.append("a foreign checkpoint was accepted")
        except ConversionError as error:
            if "neither" not in str(error):
                failures.append(f"foreign message: {error}")
    for failure in failures:
        print("FAIL:", failure)
    print("self-test", "failed" if failures else "passed")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="OpenAI .pt or Hugging Face pytorch_model.bin")
    parser.add_argument("--out", help="the safetensors file to write")
    parser.add_argument("--float32", action="store_true", help="store float32 (default: keep the file's dtype)")
    parser.add_argument("--self-test", action="store_true", help="convert synthetic checkpoints and check them")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.input or not args.out:
        parser.error("--input and --out are required (or --self-test)")
    try:
        layout, model, count = convert(args.input, args.out, args.float32)
    except (ConversionError, OSError, ValueError) as error:  # ValueError: a dtype safetensors cannot hold
        print(f"convert_clip.py: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {count} tensors, {layout} layout, model {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
