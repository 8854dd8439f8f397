"""utils.diagrams: the architecture diagram of 05 shows every layer's shape and parameters."""
import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from utils import diagrams, models  # noqa: E402

# The baseline of 05, box by box: label, output shape, parameters, block. Written out by
# hand from the network's definition, not computed with the code under test.
BASELINE = [
    ("Input", "32×32×3", 0, None),
    ("Rescaling ×1/255", "32×32×3", 0, None),
    ("Conv2D 64, 3×3, ReLU", "32×32×64", 1_792, 1),
    ("BatchNormalization", "32×32×64", 256, 1),
    ("MaxPooling2D 2×2", "16×16×64", 0, 1),
    ("Dropout 0.25", "16×16×64", 0, 1),
    ("Conv2D 128, 3×3, ReLU", "16×16×128", 73_856, 2),
    ("BatchNormalization", "16×16×128", 512, 2),
    ("MaxPooling2D 2×2", "8×8×128", 0, 2),
    ("Dropout 0.25", "8×8×128", 0, 2),
    ("Conv2D 256, 3×3, ReLU", "8×8×256", 295_168, 3),
    ("BatchNormalization", "8×8×256", 1_024, 3),
    ("MaxPooling2D 2×2", "4×4×256", 0, 3),
    ("Dropout 0.25", "4×4×256", 0, 3),
    ("Flatten", "4,096", 0, None),
    ("Dense 256, ReLU", "256", 1_048_832, None),
    ("Dense 128, ReLU", "128", 32_896, None),
    ("Dropout 0.5", "128", 0, None),
    ("Dense 10, softmax", "10", 1_290, None),
]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def drawn_rows(ax):
    """The texts drawn for each box, read back from the axes: {row: (label, shape, params)}."""
    texts = {t.get_gid(): t for t in ax.texts if t.get_gid()}
    rows = {}
    for gid, text in texts.items():
        if gid.startswith("label:"):
            i = int(gid.split(":")[1])
            shape, params = texts[f"shape:{i}"], texts[f"params:{i}"]
            # the three texts of a row stand on one line, level with their box
            assert text.get_position()[1] == shape.get_position()[1] == params.get_position()[1]
            rows[i] = (text.get_text(), shape.get_text(), params.get_text())
    return [rows[i] for i in sorted(rows)]


def test_baseline_diagram_shows_every_layer_with_shape_and_parameters():
    model = models.build_baseline_cnn()
    ax = diagrams.plot_architecture(model)
    expected = [(label, shape, f"{params:,}") for label, shape, params, _ in BASELINE]
    assert drawn_rows(ax) == expected
    boxes = [p for p in ax.patches if (p.get_gid() or "").startswith("box:")]
    assert len(boxes) == len(BASELINE) == len(model.layers)


def test_total_shown_equals_count_params():
    model = models.build_baseline_cnn()
    assert model.count_params() == 1_455_626 == sum(p for _, _, p, _ in BASELINE)
    ax = diagrams.plot_architecture(model)
    (total,) = [t.get_text() for t in ax.texts if t.get_gid() == "total"]
    assert total.startswith(f"total: {model.count_params():,} parameters")
    assert "1,454,730 trained, 896 not" in total  # BatchNorm's running means and variances


def test_baseline_blocks_are_grouped_by_colour():
    rows = diagrams.architecture_rows(models.build_baseline_cnn())
    assert [row.block for row in rows] == [block for *_, block in BASELINE]
    ax = diagrams.plot_architecture(models.build_baseline_cnn())
    backgrounds = [p for p in ax.patches if (p.get_gid() or "").startswith("block:")]
    assert len(backgrounds) == 3
    assert len({tuple(p.get_facecolor()) for p in backgrounds}) == 3
    assert not [p for p in diagrams.plot_architecture(models.build_baseline_cnn(),
                                                     group_blocks=False).patches
                if (p.get_gid() or "").startswith("block:")]


def test_any_chain_model_gets_one_box_per_layer_without_blocks():
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 5, strides=2, activation="gelu")(inputs)
    x = layers.AveragePooling2D(3, strides=1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(3)(x)
    outputs = layers.Activation("softmax")(x)
    model = keras.Model(inputs, outputs)
    ax = diagrams.plot_architecture(model)
    assert drawn_rows(ax) == [("Input", "28×28×1", "0"),
                              ("Conv2D 8, 5×5, stride 2×2, GELU", "12×12×8", "208"),
                              ("AveragePooling2D 3×3, stride 1×1", "10×10×8", "0"),
                              ("GlobalAveragePooling2D", "8", "0"),
                              ("Dense 3", "3", "27"),
                              ("Activation softmax", "3", "0")]
    assert not [p for p in ax.patches if (p.get_gid() or "").startswith("block:")]
    (total,) = [t.get_text() for t in ax.texts if t.get_gid() == "total"]
    assert total == "total: 235 parameters"


def test_sequential_model_and_given_axes():
    model = keras.Sequential([keras.Input((8,)), layers.Dense(4, activation="relu"),
                              layers.Dense(2)])
    _, ax = plt.subplots()
    assert diagrams.plot_architecture(model, ax=ax) is ax
    assert [row[1:] for row in drawn_rows(ax)] == [("8", "0"), ("4", "36"), ("2", "10")]


def test_a_model_with_a_branch_is_refused_clearly():
    inputs = keras.Input((8,))
    a = layers.Dense(4)(inputs)
    b = layers.Dense(4)(inputs)
    model = keras.Model(inputs, layers.Add()([a, b]))
    with pytest.raises(ValueError, match="branches or merges"):
        diagrams.plot_architecture(model)


def test_a_layer_used_twice_and_several_inputs_are_refused():
    inputs = keras.Input((8,))
    shared = layers.Dense(8)
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="chain"):
        diagrams.plot_architecture(twice)
    first, second = keras.Input((4,)), keras.Input((4,))
    two_inputs = keras.Model([first, second], layers.Concatenate()([first, second]))
    with pytest.raises(ValueError, match="2 inputs"):
        diagrams.plot_architecture(two_inputs)


def test_an_unbuilt_model_is_refused_clearly():
    with pytest.raises(ValueError, match="not built"):
        diagrams.plot_architecture(keras.Sequential([layers.Dense(2)]))
