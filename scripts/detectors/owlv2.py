#!/usr/bin/env python3
"""OWLv2 as a dsbench detector plug-in (D&C's detector, as MuDI evaluates with it).

Run it where Hugging Face `transformers` and the OWLv2 weights are available (neither is
installed on the dsbench development machines, so this adapter is not run by the test
suite; the protocol itself is tested with a small PIL detector in
tests/metrics/evaluation_detector_test.cc):

    evaluation:
      detector:
        command: "python3 scripts/detectors/owlv2.py --model /models/owlv2-base-patch16-ensemble"
        threshold: 0.4

Protocol (metrics/README.md): one JSON request per stdin line
    {"id": "...", "image": "/abs/path.png", "queries": ["chef", "cat"]}
one JSON answer per stdout line
    {"id": "...", "detections": [{"query": "chef", "box": [x0, y0, x1, y1], "score": 0.87}, ...]}
with boxes in the image's pixels. Every box scoring at least --min-score is reported; dsbench
applies the evaluation threshold itself, so one detector run serves any threshold.
"""
import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="google/owlv2-base-patch16-ensemble",
                        help="a local folder or hub name of an OWLv2 checkpoint")
    parser.add_argument("--min-score", type=float, default=0.05, help="lowest score reported")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from PIL import Image
    from transformers import Owlv2ForObjectDetection, Owlv2Processor

    processor = Owlv2Processor.from_pretrained(args.model)
    model = Owlv2ForObjectDetection.from_pretrained(args.model).to(args.device).eval()

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        image = Image.open(request["image"]).convert("RGB")
        queries = list(dict.fromkeys(request["queries"]))  # one query per class word
        inputs = processor(text=[queries], images=image, return_tensors="pt").to(args.device)
        with torch.no_grad():
            outputs = model(**inputs)
        # OWLv2 pads the image to a square at the bottom/right before resizing, so boxes
        # scaled to the padded square's side are the original image's pixels.
        side = max(image.size)
        result = processor.post_process_object_detection(
            outputs=outputs, threshold=args.min_score, target_sizes=torch.tensor([[side, side]]))[0]
        detections = [
            {"query": queries[int(label)], "box": [float(v) for v in box.tolist()], "score": float(score)}
            for box, score, label in zip(result["boxes"], result["scores"], result["labels"])
        ]
        print(json.dumps({"id": request["id"], "detections": detections}), flush=True)


if __name__ == "__main__":
    main()
