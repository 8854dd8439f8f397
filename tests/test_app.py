"""The Streamlit app, driven in-process with streamlit.testing.v1.AppTest (no browser)."""
import io

import pytest
from PIL import Image

from utils import config, data

streamlit_testing = pytest.importorskip("streamlit.testing.v1")

APP = str(config.ROOT / "app" / "streamlit_app.py")
LOADING_TIMEOUT = 120  # seconds: the first run loads TensorFlow and a model


def encode(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def started_app():
    app = streamlit_testing.AppTest.from_file(APP, default_timeout=LOADING_TIMEOUT)
    app.run()
    assert not app.exception, app.exception
    return app


def assert_prediction_shown(app):
    assert not app.exception and not app.error, (app.exception, app.error)
    table = app.dataframe[0].value
    assert sorted(table["class"]) == sorted(data.CLASS_NAMES)
    assert table["probability"].sum() == pytest.approx(1.0, abs=1e-4)
    assert table["probability"].is_monotonic_decreasing
    assert app.subheader[0].value == f"Prediction: {table['class'][0]}"
    return table


def test_app_predicts_an_example_with_nothing_uploaded():
    app = started_app()
    assert app.title[0].value == "What is in this picture?"
    assert_prediction_shown(app)
    assert app.selectbox(key="example").value == "test_0000_cat.png"  # the first example is picked


def test_every_shipped_example_can_be_chosen():
    app = started_app()
    examples = app.selectbox(key="example").options
    assert len(examples) == 10
    app.selectbox(key="example").set_value("test_0001_ship.png").run()
    assert_prediction_shown(app)
    assert app.image[0].proto.imgs[0].caption == "test_0001_ship.png, as uploaded"


def test_switching_to_the_baseline_model():
    app = started_app()
    labels = app.selectbox(key="model").options
    assert labels[0].startswith("better network")
    app.selectbox(key="model").set_value(labels[1]).run()
    assert_prediction_shown(app)


RED = (200, 30, 30)
GOOD_UPLOADS = {
    "photo.png": lambda: encode(Image.effect_noise((64, 48), 40).convert("RGB"), "PNG"),
    "photo.jpg": lambda: encode(Image.new("RGB", (64, 48), RED), "JPEG"),
    "photo.webp": lambda: encode(Image.new("RGB", (64, 48), RED), "WEBP"),
    "photo.bmp": lambda: encode(Image.new("RGB", (64, 48), RED), "BMP"),
    "grayscale.png": lambda: encode(Image.new("L", (40, 40), 128), "PNG"),
    "transparent.png": lambda: encode(Image.new("RGBA", (40, 40), (0, 0, 0, 0)), "PNG"),
    "palette.png": lambda: encode(Image.new("RGB", (40, 40), RED).convert(
        "P", palette=Image.Palette.ADAPTIVE), "PNG"),
    "16-bit.png": lambda: encode(Image.new("I;16", (40, 40), 40000), "PNG"),
    "cmyk.jpg": lambda: encode(Image.new("CMYK", (40, 40), (0, 200, 200, 50)), "JPEG"),
    "tiny.png": lambda: encode(Image.new("RGB", (1, 1), RED), "PNG"),
    "huge.jpg": lambda: encode(Image.new("RGB", (4000, 3000), RED), "JPEG"),
}


@pytest.mark.parametrize("filename", GOOD_UPLOADS)
def test_any_common_image_gets_a_prediction(filename):
    app = started_app()
    app.file_uploader[0].upload(filename, GOOD_UPLOADS[filename]()).run()
    assert_prediction_shown(app)
    assert app.image[0].proto.imgs[0].caption == f"{filename}, as uploaded"


def truncated_png():
    content = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    return content[: len(content) // 2]


BAD_UPLOADS = {
    "notes.png": (lambda: b"this is a text file renamed to .png", "not an image"),
    "empty.png": (lambda: b"", "not an image"),
    "truncated.png": (truncated_png, "damaged or truncated"),
    "bomb.png": (lambda: encode(Image.new("1", (20_000, 20_000)), "PNG"), "too large"),
}


@pytest.mark.parametrize("filename", BAD_UPLOADS)
def test_bad_files_get_a_clear_message_and_the_app_keeps_serving(filename):
    make, message = BAD_UPLOADS[filename]
    app = started_app()
    app.file_uploader[0].upload(filename, make()).run()
    assert not app.exception
    assert len(app.error) == 1 and message in app.error[0].value
    assert f"'{filename}'" in app.error[0].value
    assert not app.subheader  # no prediction for a bad file

    app.file_uploader[0].clear().run()  # the next image works again
    assert_prediction_shown(app)


def app_copy_in(folder):
    """A copy of the app whose repository root is `folder` (so models/ is folder/models)."""
    (folder / "app").mkdir()
    copy = folder / "app" / "streamlit_app.py"
    copy.write_text((config.ROOT / "app" / "streamlit_app.py").read_text())
    return streamlit_testing.AppTest.from_file(str(copy), default_timeout=LOADING_TIMEOUT)


def app_with_baseline_and_calibration(folder, calibration_file_text):
    """A copy of the app with only the baseline model and the given calibration file."""
    (folder / "models").mkdir()
    (folder / "models" / "baseline_cnn.keras").symlink_to(
        config.ROOT / "models" / "baseline_cnn.keras")
    (folder / "models" / "baseline_cnn_calibration.json").write_text(calibration_file_text)
    app = app_copy_in(folder)
    app.run()
    return app


def test_missing_models_give_instructions(tmp_path):
    app = app_copy_in(tmp_path)
    app.run()
    assert not app.exception
    assert "No trained model found" in app.error[0].value
    assert "06_training" in app.error[0].value


def test_damaged_model_file_gives_a_clear_message(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "best_cnn.keras").write_bytes(b"not a keras file")
    app = app_copy_in(tmp_path)
    app.run()
    assert not app.exception
    assert "Could not load best_cnn.keras" in app.error[0].value


def test_low_confidence_warning_and_calibrated_probabilities(tmp_path):
    # A very high temperature flattens every prediction to about 10% per class.
    app = app_with_baseline_and_calibration(tmp_path, '{"temperature": 1000}')
    assert "Upload a photo" in app.info[0].value  # this copy ships no examples
    app.file_uploader[0].upload("photo.png", GOOD_UPLOADS["photo.png"]()).run()
    table = assert_prediction_shown(app)
    assert table["probability"].max() < 0.11
    assert "Low confidence" in app.warning[0].value
    assert "temperature 1000.00" in app.caption[-1].value


def test_no_warning_for_a_confident_prediction(tmp_path):
    # A very low temperature sharpens every prediction to nearly 100% for one class.
    app = app_with_baseline_and_calibration(tmp_path, '{"temperature": 0.01}')
    app.file_uploader[0].upload("photo.png", GOOD_UPLOADS["photo.png"]()).run()
    table = assert_prediction_shown(app)
    assert table["probability"][0] > 0.99
    assert not app.warning


def test_damaged_temperature_file_falls_back_to_raw_probabilities(tmp_path):
    app = app_with_baseline_and_calibration(tmp_path, "{oops")
    app.file_uploader[0].upload("photo.png", GOOD_UPLOADS["photo.png"]()).run()
    assert_prediction_shown(app)
    assert "Showing uncalibrated probabilities" in app.warning[0].value
