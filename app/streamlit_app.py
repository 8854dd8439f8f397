"""Upload a photo, see which of the 10 CIFAR-10 classes the network picks, and how sure it is.

Start it from the repository root:   streamlit run app/streamlit_app.py
"""
import sys
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # lets `utils` import however the app is started

from utils import calibration, data, prediction, saving  # noqa: E402

MODEL_FILES = {
    "better network (notebook 11)": ROOT / "models" / "best_cnn.keras",
    "baseline CNN (notebook 06)": ROOT / "models" / "baseline_cnn.keras",
}
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp"]
# With the calibrated confidences (see notebook 12), an answer under 50% is more likely
# wrong than right.
LOW_CONFIDENCE = 0.5
DISPLAY_SIZE = 256


@st.cache_resource(show_spinner="Loading the network (once, then it is kept in memory)...")
def load_network(path):
    """The Keras model in `path`, loaded once per server and shared by every visitor."""
    return saving.load_model(path)


def available_models():
    """The labels of the model files that exist, the better network first."""
    return [label for label, path in MODEL_FILES.items() if path.is_file()]


def probability_table(probabilities):
    """The ten classes and their probabilities, most probable first."""
    table = pd.DataFrame({"class": data.CLASS_NAMES, "probability": probabilities})
    return table.sort_values("probability", ascending=False, ignore_index=True)


def enlarged(image, size=DISPLAY_SIZE):
    """A 32x32 array shown big, with hard pixel edges (nearest neighbour)."""
    return Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST)


def for_display(picture, size=DISPLAY_SIZE):
    """The uploaded picture at about `size` pixels: big photos shrunk, tiny ones blown up."""
    if max(picture.size) >= size:
        shrunk = picture.copy()
        shrunk.thumbnail((size * 2, size * 2))  # sharp on high-density screens
        return shrunk
    factor = max(1, size // max(picture.size))
    return picture.resize((picture.width * factor, picture.height * factor),
                          Image.Resampling.NEAREST)


st.set_page_config(page_title="CIFAR-10 classifier", page_icon=":frame_with_picture:")
st.title("What is in this picture?")
st.write("A convolutional network trained on CIFAR-10 names one of ten classes: "
         + ", ".join(data.CLASS_NAMES) + ".")
st.caption("It knows only these 10 classes, learned from tiny 32×32 photos with the object "
           "centred. Anything else (a person, a meal, a drawing) still gets one of the 10 "
           "labels.")

model_labels = available_models()
if not model_labels:
    st.error("No trained model found in models/. Run notebook 06_training (or "
             "11_better_network_training) to create models/baseline_cnn.keras (or best_cnn.keras), "
             "then reload this page.")
    st.stop()
model_label = st.sidebar.selectbox("Network", model_labels,
                                   help="Compare the two networks on the same image.",
                                   key="model")
model_path = MODEL_FILES[model_label]
try:
    network = load_network(model_path)
except Exception as error:  # a damaged or incompatible file: say which, keep serving
    st.error(f"Could not load {model_path.name} ({error}). Re-run the notebook that "
             "trains it, or restore the file with `git checkout models/`.")
    st.stop()
try:
    temperature = calibration.load_temperature(model_path)
except ValueError as error:
    st.warning(f"{error} Showing uncalibrated probabilities.")
    temperature = 1.0

uploaded = st.file_uploader("Upload a photo (PNG, JPEG, WebP or BMP)", type=UPLOAD_TYPES)
example_names = sorted(path.name for path in EXAMPLES_DIR.glob("*.png"))
example = st.selectbox("...or pick an example from the CIFAR-10 test set", example_names,
                       format_func=lambda name: name.removesuffix(".png").replace("_", " "),
                       disabled=uploaded is not None, key="example")
if uploaded is not None:
    source, name = uploaded.getvalue(), uploaded.name
elif example is None:
    st.info("Upload a photo to classify it.")
    st.stop()
else:
    source, name = (EXAMPLES_DIR / example).read_bytes(), example

try:
    network_input = prediction.load_image(source, name=f"'{name}'")
except prediction.ImageError as error:
    st.error(str(error))
    st.stop()
picture = prediction.to_rgb(prediction.open_image(source))  # readable: load_image read it

probabilities = calibration.apply_temperature(
    prediction.predict_probabilities(network, network_input), temperature)
table = probability_table(probabilities)
best_class, confidence = table.loc[0, "class"], table.loc[0, "probability"]

left, right = st.columns(2)
left.image(for_display(picture), caption=f"{name}, as uploaded", width=DISPLAY_SIZE)
right.image(enlarged(network_input), caption="What the network sees: 32×32 pixels",
            width=DISPLAY_SIZE)

st.subheader(f"Prediction: {best_class}")
st.write(f"Confidence: {confidence:.2%}")
if confidence < LOW_CONFIDENCE:
    st.warning(f"Low confidence: under {LOW_CONFIDENCE:.0%}, this answer is more likely wrong "
               "than right. The image may show none of the 10 classes, or not clearly.")
st.bar_chart(table, x="class", y="probability", horizontal=True, sort="-probability")
with st.expander("The ten probabilities as a table"):
    st.dataframe(table, hide_index=True)
if temperature != 1.0:
    st.caption(f"Probabilities calibrated with temperature {temperature:.2f}, fitted on "
               "validation images in notebook 09.")
