"""Predicting with a trained model: on test images, and on a user's own image file.

Introduced in 08_sample_predictions. `load_image(path_or_bytes)` turns any common image file
into the 32x32 RGB uint8 array the models take (the same function serves the app);
files that are not usable images raise `ImageError` with a message that says why.
"""
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SIZE = 32
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # Pillow's decompression-bomb limit (about 89 M pixels)


class ImageError(ValueError):
    """The file cannot be used as an image; the message says why and what to do."""


def open_image(source, name=None):
    """Open an image from a path, bytes or a file-like object, fully decoded; raise ImageError.

    Error messages call the file `name`: by default its file name, or "the uploaded file".
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    if name is None:
        name = Path(source).name if isinstance(source, (str, Path)) else "the uploaded file"
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise ImageError(f"{name} does not exist. Check the path.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{name} is too large to decode safely ({error}). "
                         f"Resize it below {MAX_PIXELS:,} pixels and try again.") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{name} is not an image Pillow can read (or it is empty). "
                         f"Use a PNG, JPEG, WebP or BMP photo.") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name} is damaged or truncated ({error}). "
                         f"Save the image again and retry.") from error
    return image


def to_rgb(image):
    """Convert any Pillow image (grayscale, palette, RGBA, CMYK, 16-bit) to 8-bit RGB.

    Transparent pixels are laid on a white background; EXIF rotation is applied.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        image = Image.fromarray((pixels / max(pixels.max(), 1) * 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def to_model_input(image, size=IMAGE_SIZE):
    """Centre-crop to a square (no squashing) and resize to `size` x `size`; uint8 array."""
    square = ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.uint8)


def load_image(source, size=IMAGE_SIZE, name=None):
    """Read an image file (path, bytes or file object) as a `(size, size, 3)` uint8 array.

    Raises `ImageError` for anything that is not a usable image; its message calls the file
    `name` (see `open_image`).
    """
    return to_model_input(to_rgb(open_image(source, name)), size)


def predict_probabilities(model, images, batch_size=256):
    """Class probabilities for a batch of uint8 images `(N, 32, 32, 3)`, or one image."""
    images = np.asarray(images)
    single = images.ndim == 3
    batch = images[None] if single else images
    probabilities = model.predict(batch, batch_size=batch_size, verbose=0)
    return probabilities[0] if single else probabilities


def top_k(probabilities, class_names, k=3):
    """The `k` most probable classes as `(name, probability)` pairs, most probable first."""
    order = np.argsort(probabilities)[::-1][:k]
    return [(class_names[i], round(float(probabilities[i]), 4)) for i in order]


def accuracy_by_confidence(probabilities, labels, bins=(0.0, 0.5, 0.7, 0.9, 0.99, 1.0)):
    """Accuracy and count of predictions in each confidence bucket, as a DataFrame.

    Confidence is the top class's probability. Introduced in 08_sample_predictions.
    """
    import pandas as pd

    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    names = [f"{low:.0%}–{high:.0%}" for low, high in zip(bins[:-1], bins[1:])]
    bucket = pd.cut(confidence, bins=list(bins), labels=names, include_lowest=True)
    table = pd.DataFrame({"bucket": bucket, "correct": correct})
    summary = table.groupby("bucket", observed=False)["correct"].agg(["size", "mean"])
    return summary.rename(columns={"size": "images", "mean": "accuracy"})
