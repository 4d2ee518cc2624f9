"""Reference for fedsim's CLIP image preprocessing (datasets/clip_image.h).

Usage: clip_preprocess_ref.py OUT_DIR [--size 336]

Writes, into OUT_DIR:

  model/preprocessor_config.json   as llava-hf/llava-1.5-7b-hf ships it (crop = size)
  images/<file>                    test images (<file> = name.png or name.jpg): landscape,
                                   portrait, smaller than the crop, odd sizes, exactly the
                                   crop size, extreme aspect ratios; RGB, RGBA, grey,
                                   grey+alpha and palette PNGs; 4:2:0, 4:4:4, progressive
                                   and grey JPEGs
  <file>.rgb                       the RGB that transformers feeds its resize: PIL's
                                   decode after transformers' convert_to_rgb (transparency
                                   composited onto white), uint8 [H, W, 3]
  <file>.tv.f32                    pixel_values of the processor a user gets by default,
                                   AutoImageProcessor.from_pretrained(model_dir) -- the
                                   torchvision backend in transformers 5.x -- float32 [3, S, S]
  <file>.pil.f32                   the same with backend="pil" (Pillow resize)
  manifest.json                    versions, the default processor's class and backend,
                                   and per image: name, file, width, height, format

Images are opened with PIL.Image.open, as the LLaVA examples do. Exits with status 3
(and a message) when Pillow or torchvision is missing from the environment, since the
default processor then is not the one fedsim reproduces. The raw files are
little-endian. With the same package versions the output is identical run to run.
"""

import argparse
import json
import os
import sys

import numpy as np

try:
    import PIL
    import torchvision
    from PIL import Image
except ImportError as e:  # the C test turns this into a skip
    print(f"clip_preprocess_ref: {e}; run scripts/setup-reference-venv.sh", file=sys.stderr)
    sys.exit(3)

import torch
import transformers
from transformers import AutoImageProcessor
from transformers.image_transforms import convert_to_rgb

LLAVA_PREPROCESSOR = {
    "crop_size": {"height": 336, "width": 336},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "processor_class": "LlavaProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 336},
}


def scene(w, h, rng):
    """Gradients, hard 0/255 edges (bicubic overshoot must clamp) and noise."""
    y, x = np.mgrid[0:h, 0:w]
    r = x * 255 // max(w - 1, 1)
    g = y * 255 // max(h - 1, 1)
    b = ((x // 7 + y // 5) % 2) * 255
    img = np.stack([r, g, b], -1) + rng.integers(-24, 25, (h, w, 3))
    cy, cx, rad = h * 0.4, w * 0.6, min(w, h) * 0.25
    disc = (y - cy) ** 2 + (x - cx) ** 2 < rad**2
    img[disc] = [250, 10, 128]
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(img_dir, rng):
    """(name, file, PIL image, save kwargs) for each test image."""
    out = []

    def add(name, ext, im, **kw):
        out.append((name, f"{name}.{ext}", im, kw))

    add("landscape", "png", Image.fromarray(scene(500, 375, rng)))
    add("portrait_420", "jpg", Image.fromarray(scene(375, 500, rng)), quality=90)
    add("smaller_than_crop", "png", Image.fromarray(scene(200, 150, rng)))
    add("odd", "png", Image.fromarray(scene(337, 341, rng)))
    add("exact", "png", Image.fromarray(scene(336, 336, rng)))
    add("tiny", "png", Image.fromarray(scene(5, 3, rng)))
    add("wide", "png", Image.fromarray(scene(1000, 121, rng)))
    rgba = scene(301, 402, rng)
    alpha = (np.arange(301)[None, :] * 255 // 300).repeat(402, 0).astype(np.uint8)
    alpha[:40] = 0  # fully transparent rows become white
    add("rgba", "png", Image.fromarray(np.dstack([rgba, alpha]), "RGBA"))
    add("grey", "png", Image.fromarray(scene(123, 457, rng)[..., 1]))
    la = np.dstack([scene(250, 260, rng)[..., 0], rng.integers(0, 256, (260, 250), dtype=np.uint8)])
    add("grey_alpha", "png", Image.fromarray(la, "LA"))
    add("palette", "png", Image.fromarray(scene(410, 300, rng)).quantize(64))
    add("q95_444", "jpg", Image.fromarray(scene(640, 480, rng)), quality=95, subsampling=0)
    add("progressive", "jpg", Image.fromarray(scene(512, 384, rng)), quality=85, progressive=True)
    add("grey", "jpg", Image.fromarray(scene(299, 512, rng)[..., 2]), quality=90)
    for name, file, im, kw in out:
        im.save(os.path.join(img_dir, file), **kw)
    return [(name, file) for name, file, _, _ in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--size", type=int, default=336)
    a = ap.parse_args()
    model_dir = os.path.join(a.out_dir, "model")
    img_dir = os.path.join(a.out_dir, "images")
    os.makedirs(model_dir, exist_ok=True)
    os.makedirs(img_dir, exist_ok=True)
    cfg = dict(LLAVA_PREPROCESSOR, crop_size={"height": a.size, "width": a.size},
               size={"shortest_edge": a.size})
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    default = AutoImageProcessor.from_pretrained(model_dir)
    pil = AutoImageProcessor.from_pretrained(model_dir, backend="pil")
    # What fedsim's default reproduces; if a future transformers changes it, say so.
    assert type(default).__name__ == "CLIPImageProcessor", type(default)
    assert default.backend == "torchvision", default.backend
    assert pil.backend == "pil", pil.backend

    images = []
    for name, file in make_images(img_dir, np.random.default_rng(7)):
        path = os.path.join(img_dir, file)
        with Image.open(path) as im:
            rgb = convert_to_rgb(im, return_numpy=True)
            assert rgb.dtype == np.uint8 and rgb.shape == (im.height, im.width, 3)
            rgb.tofile(os.path.join(a.out_dir, f"{file}.rgb"))
            for tag, proc in (("tv", default), ("pil", pil)):
                px = proc(images=im, return_tensors="pt")["pixel_values"]
                assert px.shape == (1, 3, a.size, a.size) and px.dtype == torch.float32, px.shape
                px[0].numpy().astype("<f4").tofile(os.path.join(a.out_dir, f"{file}.{tag}.f32"))
            images.append({"name": name, "file": f"images/{file}", "width": im.width,
                           "height": im.height, "format": im.format, "mode": im.mode})

    manifest = {
        "transformers": transformers.__version__, "torch": torch.__version__,
        "torchvision": torchvision.__version__, "pillow": PIL.__version__,
        "default_processor": type(default).__name__, "default_backend": default.backend,
        "size": a.size, "images": images,
    }
    with open(os.path.join(a.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
