#!/usr/bin/python3
"""Eager python3-torch DreamSim (same network and layout as metrics/dreamsim.cc) for
`dsbench bench metrics`: times embedding of random preprocessed pixels and prints one JSON
line {"images_per_second": ..., "seconds": ..., "images": ...}.

Usage: dreamsim_reference.py --model tiny-ensemble|ensemble --threads N --batch B --iterations K
Random weights (same shapes as the C++ random variants); timing only, values irrelevant.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads, eps, quick_gelu):
        super().__init__()
        self.heads, self.quick_gelu = heads, quick_gelu
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))
        h = self.fc1(self.norm2(x))
        h = h * torch.sigmoid(1.702 * h) if self.quick_gelu else F.gelu(h)
        return x + self.fc2(h)


class Vit(nn.Module):
    def __init__(self, width, depth, heads, patch, clip_style, projection):
        super().__init__()
        eps = 1e-5 if clip_style else 1e-6
        self.clip_style = clip_style
        self.patch_embed = nn.Conv2d(3, width, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (224 // patch) ** 2, width) * 0.02)
        self.pos_drop = nn.LayerNorm(width, eps=eps) if clip_style else nn.Identity()
        self.blocks = nn.ModuleList([Block(width, heads, eps, clip_style) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=eps)
        self.proj = nn.Parameter(torch.randn(width, projection) * width ** -0.5) if clip_style else None

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        x = self.pos_drop(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0]) @ self.proj if self.clip_style else x[:, 0]


def build(model):
    tiny = model.startswith("tiny-")
    width, depth, heads, projection = (32, 2, 2, 16) if tiny else (768, 12, 12, 512)
    base = model[5:] if tiny else model
    names = ["dino_vitb16", "clip_vitb16", "open_clip_vitb16"] if base == "ensemble" else [base]
    return [Vit(width, depth, heads, 32 if base.endswith("32") else 16, "clip" in name, projection).eval()
            for name in names]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny-ensemble")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbones = build(args.model)
    pixels = torch.rand(args.batch, 3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        def run():
            return torch.cat([b((pixels - mean) / std) for b in backbones], 1)
        run()  # warm-up
        start = time.perf_counter()
        for _ in range(args.iterations):
            run()
        seconds = time.perf_counter() - start
    images = args.batch * args.iterations
    print(json.dumps({"images_per_second": images / seconds, "seconds": seconds, "images": images}))


if __name__ == "__main__":
    main()
