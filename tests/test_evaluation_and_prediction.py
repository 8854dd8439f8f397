"""utils.evaluation and utils.prediction: diagnosis helpers and reading users' images."""
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from utils import evaluation, prediction

NAMES = ["a", "b", "c"]


def test_most_confused_pairs_counts_off_diagonal_mistakes():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1])
    table = evaluation.most_confused_pairs(y_true, y_pred, NAMES, k=2)
    assert table.to_dict("records") == [
        {"true": "c", "predicted": "b", "mistakes": 3},
        {"true": "a", "predicted": "b", "mistakes": 2}]


def test_generalization_gap():
    history = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.5, 0.9], "val_accuracy": [0.5, 0.7],
                            "loss": [1.0, 0.3], "val_loss": [1.1, 0.9]})
    gap = evaluation.generalization_gap(history)
    np.testing.assert_allclose(gap["accuracy gap"], [0.0, 0.2])
    np.testing.assert_allclose(gap["loss gap"], [0.1, 0.6])


def test_most_confident_right_and_wrong():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.99, 0.01]])
    labels = np.array([0, 1, 1, 1])
    assert evaluation.most_confident(probabilities, labels, correct=True).tolist() == [0, 2]
    assert evaluation.most_confident(probabilities, labels, correct=False).tolist() == [3, 1]



def test_runner_up_and_its_lead():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [1.0, 0.0, 0.0]])
    second, leads = evaluation.runner_up(probabilities)
    assert second.tolist()[:2] == [1, 1]
    np.testing.assert_allclose(leads[:2], [np.log(0.7 / 0.2), np.log(0.6 / 0.3)])
    assert leads[2] == np.inf


def test_most_confident_breaks_ties_by_the_lead_over_the_runner_up():
    probabilities = np.array([[1.0, 1e-6, 0.0], [1.0, 1e-9, 0.0], [1.0, 1e-3, 0.0]],
                             dtype=np.float32)
    labels = np.array([1, 1, 1])
    assert evaluation.most_confident(probabilities, labels, correct=False).tolist() == [1, 0, 2]

def test_top_k_and_accuracy_by_confidence():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.4, 0.35, 0.25], [0.05, 0.05, 0.9]])
    assert prediction.top_k(probabilities[0], NAMES, k=2) == [("b", 0.7), ("c", 0.2)]
    table = prediction.accuracy_by_confidence(probabilities, np.array([1, 1, 2]),
                                              bins=(0, 0.5, 1.0))
    assert table.index.tolist() == ["0%–50%", "50%–100%"]
    assert table["images"].tolist() == [1, 2]
    assert table["accuracy"].tolist() == [0.0, 1.0]


# --- Reading a user's image ---------------------------------------------------------------

def encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


RED = (200, 30, 30)


@pytest.mark.parametrize("make", [
    lambda: encode(Image.new("RGB", (64, 48), RED), "PNG"),
    lambda: encode(Image.new("RGB", (64, 48), RED), "JPEG"),
    lambda: encode(Image.new("RGB", (64, 48), RED), "WEBP"),
    lambda: encode(Image.new("RGB", (64, 48), RED), "BMP"),
    lambda: encode(Image.new("L", (40, 40), 128), "PNG"),
    lambda: encode(Image.new("RGBA", (40, 40), RED + (255,)), "PNG"),
    lambda: encode(Image.new("RGB", (40, 40), RED).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    lambda: encode(Image.new("I;16", (40, 40), 40000), "PNG"),
    lambda: encode(Image.new("CMYK", (40, 40), (0, 200, 200, 50)), "JPEG"),
    lambda: encode(Image.new("RGB", (1, 1), RED), "PNG"),
    lambda: encode(Image.new("RGB", (4000, 3000), RED), "JPEG"),
], ids=["png", "jpeg", "webp", "bmp", "grayscale", "rgba", "palette", "16-bit", "cmyk-jpeg",
        "1x1", "4000x3000"])
def test_any_common_image_becomes_32x32_rgb_uint8(make):
    image = prediction.load_image(make())
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8


def test_colours_survive_conversion():
    image = prediction.load_image(encode(Image.new("RGB", (50, 50), RED), "PNG"))
    assert tuple(image[16, 16]) == RED


def test_transparent_pixels_become_white():
    image = prediction.load_image(encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"))
    assert (image == 255).all()


def test_wide_image_is_cropped_not_squashed():
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (100, 0, 200, 100))  # red square in the middle third
    image = prediction.load_image(encode(wide, "PNG"))
    assert (image[..., 0] > 200).all()  # only the centre square is kept


@pytest.mark.parametrize("content, message", [
    (b"this is a text file renamed to .png", "not an image"),
    (b"", "not an image"),
], ids=["text-file", "empty-file"])
def test_non_images_give_a_clear_error(content, message):
    with pytest.raises(prediction.ImageError, match=message):
        prediction.load_image(content)


def test_truncated_image_gives_a_clear_error():
    content = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    with pytest.raises(prediction.ImageError, match="damaged or truncated"):
        prediction.load_image(content[: len(content) // 2])


def test_decompression_bomb_gives_a_clear_error():
    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")  # small file, 400 M pixels
    with pytest.raises(prediction.ImageError, match="too large"):
        prediction.load_image(bomb)


def test_missing_file_gives_a_clear_error(tmp_path):
    with pytest.raises(prediction.ImageError, match="does not exist"):
        prediction.load_image(tmp_path / "nowhere.jpg")


def test_predict_probabilities_accepts_one_image_or_a_batch():
    class FakeModel:
        def predict(self, batch, batch_size, verbose):
            return np.full((len(batch), 10), 0.1)

    image = np.zeros((32, 32, 3), np.uint8)
    assert prediction.predict_probabilities(FakeModel(), image).shape == (10,)
    assert prediction.predict_probabilities(FakeModel(), image[None].repeat(3, 0)).shape == (3, 10)


def test_error_messages_use_the_name_given():
    with pytest.raises(prediction.ImageError, match="^'holiday.png' is not an image"):
        prediction.load_image(b"not an image", name="'holiday.png'")
