#!/usr/bin/python3
"""Converts the LAION "improved aesthetic predictor" weights into the safetensors file
dsbench's metrics::AestheticPredictor loads (metrics/aesthetic.h).

Run with a Python that has torch (Debian: /usr/bin/python3). Input: the released
sac+logos+ava1-l14-linearMSE.pth of christophschuhmann/improved-aesthetic-predictor (a plain
state_dict), or a PyTorch Lightning checkpoint of the same MLP (its "state_dict"); a
DataParallel "module." prefix is dropped. The keys must be exactly the published
nn.Sequential's Linear layers, layers.{0,2,4,6,7}.{weight,bias}, shaped
[1024,IN] [128,1024] [64,128] [16,64] [1,16]. The ReLU variants (*-reluMSE.pth: Linear
layers at 0,3,6,9,11) are refused: dsbench implements the published linear model only.
Every tensor is written as float32 (the model is 3.7 MB), names unchanged.

Usage:
  convert_aesthetic.py --input sac+logos+ava1-l14-linearMSE.pth --out aesthetic_vitl14.safetensors
  convert_aesthetic.py --self-test    (synthetic checkpoints; no download needed)
Prints the input width IN (768 = CLIP ViT-L/14 image embeddings, what dsbench scores).
"""
import argparse
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fixtures"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402  (F32 by default, names sorted)

LINEAR_INDICES = (0, 2, 4, 6, 7)
RELU_VARIANT_INDICES = (0, 3, 6, 9, 11)
OUTPUT_SIZES = (1024, 128, 64, 16, 1)


class ConversionError(Exception):
    pass


def load_state_dict(path):
    loaded = torch.load(path, map_location="cpu")
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # a Lightning checkpoint
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ConversionError(f"{path}: expected a state dict of tensors (or a Lightning checkpoint holding one)")
    sd = dict(loaded)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def expected_shapes(input_size):
    shapes, width = {}, input_size
    for index, out in zip(LINEAR_INDICES, OUTPUT_SIZES):
        shapes[f"layers.{index}.weight"] = [out, width]
        shapes[f"layers.{index}.bias"] = [out]
        width = out
    return shapes


def check(sd, origin):
    """The input width, after checking every key and shape; ConversionError naming them."""
    relu_keys = {f"layers.{i}.weight" for i in RELU_VARIANT_INDICES}
    if relu_keys <= set(sd):
        raise ConversionError(f"{origin}: Linear layers at layers.0,3,6,9,11 are the ReLU variant (*-reluMSE.pth); "
                              "dsbench implements the published linear model (sac+logos+ava1-l14-linearMSE.pth)")
    first = sd.get("layers.0.weight")
    if first is None or first.dim() != 2:
        raise ConversionError(f"{origin}: expected the aesthetic MLP's keys layers.{{0,2,4,6,7}}.{{weight,bias}}; "
                              f"layers.0.weight is {'missing' if first is None else list(first.shape)}")
    input_size = first.shape[1]
    want = expected_shapes(input_size)
    problems = [f"missing {key}" for key in sorted(set(want) - set(sd))]
    problems += [f"unexpected {key}" for key in sorted(set(sd) - set(want))]
    for key in sorted(set(want) & set(sd)):
        tensor = sd[key]
        if list(tensor.shape) != want[key] or not tensor.is_floating_point():
            problems.append(f"{key} is {list(tensor.shape)} {tensor.dtype}, expected {want[key]} float")
    if problems:
        raise ConversionError(f"{origin}: not the aesthetic MLP with input {input_size}: " + "; ".join(problems))
    return input_size


def convert(path, out):
    sd = load_state_dict(path)
    input_size = check(sd, path)
    write_safetensors(out, {k: v.float() for k, v in sd.items()})
    return input_size


def self_test():
    import make_aesthetic_fixtures as reference  # the fixtures' independent nn.Sequential

    failures = []
    model = reference.randomise(reference.AestheticMLP(768), torch.Generator().manual_seed(1))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    relu = torch.nn.Sequential(torch.nn.Linear(768, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(1024, 128), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    misshaped = dict(sd, **{"layers.2.weight": torch.zeros(128, 1000)})
    with tempfile.TemporaryDirectory() as tmp:
        def saved(name, value):
            path = os.path.join(tmp, name)
            torch.save(value, path)
            return path

        good = [
            (saved("linearMSE.pth", sd), sd, 768),
            (saved("lightning.ckpt", {"state_dict": sd, "epoch": 3}), sd, 768),
            (saved("half.pth", {k: v.half() for k, v in sd.items()}), {k: v.half().float() for k, v in sd.items()}, 768),
            (saved("parallel.pth", {"module." + k: v for k, v in sd.items()}), sd, 768),
        ]
        tiny = reference.AestheticMLP(16).state_dict()
        good.append((saved("tiny.pth", tiny), tiny, 16))
        for source, want, want_input in good:
            out = os.path.join(tmp, "out.safetensors")
            input_size = convert(source, out)
            got = read_safetensors(out, {"F32"})
            name = os.path.basename(source)
            if input_size != want_input:
                failures.append(f"{name}: input {input_size}, expected {want_input}")
            if set(got) != set(want):
                failures.append(f"{name}: keys {sorted(set(got) ^ set(want))}")
            elif not all(torch.equal(got[k], want[k].float()) for k in want):
                failures.append(f"{name}: values differ")
            print(f"{name}: input {input_size}, {len(got)} tensors")

        bad = [
            (saved("reluMSE.pth", {"layers." + k: v for k, v in relu.state_dict().items()}), "ReLU variant"),
            (saved("missing.pth", {k: v for k, v in sd.items() if k != "layers.7.bias"}), "missing layers.7.bias"),
            (saved("misshaped.pth", misshaped), "layers.2.weight is [128, 1000]"),
            (saved("extra.pth", dict(sd, **{"layers.8.weight": torch.zeros(1)})), "unexpected layers.8.weight"),
            (saved("foreign.pth", {"encoder.weight": torch.zeros(2, 2)}), "layers.0.weight is missing"),
            (saved("integer.pth", dict(sd, **{"layers.7.bias": torch.zeros(1, dtype=torch.long)})), "expected [1] float"),
            (saved("not_tensors.pth", {"layers.0.weight": [1, 2]}), "state dict of tensors"),
        ]
        for source, wanted in bad:
            name = os.path.basename(source)
            try:
                convert(source, os.path.join(tmp, "x.safetensors"))
                failures.append(f"{name} was accepted")
            except ConversionError as error:
                if wanted not in str(error) or source not in str(error):
                    failures.append(f"{name}: message {error!s} lacks '{wanted}' or the file name")
        if os.path.exists(os.path.join(tmp, "x.safetensors")):
            failures.append("a refused checkpoint left an output file")
    for failure in failures:
        print("FAIL:", failure)
    print("self-test", "failed" if failures else "passed")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="sac+logos+ava1-l14-linearMSE.pth (or a Lightning checkpoint of the MLP)")
    parser.add_argument("--out", help="the safetensors file to write")
    parser.add_argument("--self-test", action="store_true", help="convert synthetic checkpoints and check them")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.input or not args.out:
        parser.error("--input and --out are required (or --self-test)")
    try:
        input_size = convert(args.input, args.out)
    except (ConversionError, OSError, RuntimeError) as error:  # RuntimeError: torch.load of a non-checkpoint
        print(f"convert_aesthetic.py: {error}", file=sys.stderr)
        return 2
    note = " (CLIP ViT-L/14 image embeddings)" if input_size == 768 else ""
    print(f"wrote {args.out}: aesthetic MLP with input {input_size}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
