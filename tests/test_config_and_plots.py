"""utils.config (quick mode, output folders) and utils.plots (save_fig and the shared figures)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from utils import config, plots  # noqa: E402


@pytest.fixture
def project(monkeypatch, tmp_path):
    """Point the project's root (and its scratch folder) at a temporary folder."""
    monkeypatch.setattr(config, "ROOT", tmp_path)
    monkeypatch.setattr(config, "SCRATCH_DIR", tmp_path / "scratch")
    monkeypatch.delenv("QUICK", raising=False)
    return tmp_path


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("YES", True),
                                          ("0", False), ("", False)])
def test_quick_mode_is_read_from_the_environment(monkeypatch, value, quick):
    monkeypatch.setenv("QUICK", value)
    assert config.is_quick() is quick
    assert config.epochs(40) == (2 if quick else 40)


def test_save_fig_writes_to_figures(project):
    plt.plot([1, 2, 3])
    path = plots.save_fig("01_example")
    plt.close("all")
    assert path == project / "figures" / "01_example.png"
    assert path.read_bytes().startswith(b"\x89PNG")


def test_quick_mode_writes_to_scratch_never_over_committed_files(project, monkeypatch):
    monkeypatch.setenv("QUICK", "1")
    plt.plot([1, 2, 3])
    path = plots.save_fig("01_example")
    plt.close("all")
    assert path == project / "scratch" / "figures" / "01_example.png" and path.is_file()
    assert not (project / "figures").exists()
    assert config.models_dir() == project / "scratch" / "models"


def test_shared_figures_draw_without_error(project):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(20) % 10
    names = [f"class {i}" for i in range(10)]
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [2, 1.5, 1.2], "val_loss": [2, 1.6, 1.7],
                            "accuracy": [0.3, 0.5, 0.6], "val_accuracy": [0.3, 0.45, 0.5]})
    figures = [plots.show_images(images[:5], titles=names[:5], ncols=5),
               plots.show_samples_per_class(images, labels, names, per_class=2),
               plots.plot_history(history, best_epoch=2)]
    assert [len(fig.axes) for fig in figures] == [5, 20, 2]
    ax = plots.plot_confusion_matrix(labels, labels, names, normalize=True)
    assert ax.get_xlabel() == "predicted class"
    plt.close("all")


def test_reliability_diagram_draws_one_bar_per_bin(project):
    from utils import calibration

    probabilities = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05], [0.05, 0.95]])
    table = calibration.reliability_table(probabilities, np.array([0, 1, 0, 1]), bins=10)
    ax = plots.plot_reliability(table, label="test")
    assert len(ax.patches) == 10 and ax.get_xlabel() == "confidence"
    heights = [bar.get_height() for bar in ax.patches]
    assert heights[5] == 0.5 and heights[9] == 1.0
    plt.close("all")


@pytest.mark.parametrize("probability, text", [
    (0.0, "0%"), (1.0, "100%"), (0.5114, "51.1%"), (0.0104, "1.0%"), (0.00031, "0.031%"),
    (0.99997, "99.997%"), (0.9996, "99.96%"), (9e-9, "9e-07%"), (np.float32(0.25), "25.0%")])
def test_format_percent_keeps_enough_digits(probability, text):
    assert plots.format_percent(probability) == text


def test_top_k_bars_are_labelled_and_neutral_without_a_true_label(project):
    image = np.zeros((32, 32, 3), np.uint8)
    probabilities = np.array([0.7, 0.2999, 0.0001] + [0.0] * 7)
    names = [f"class {i}" for i in range(10)]
    _, bar_ax = plots.plot_top_k(image, probabilities, names, k=3)
    assert sorted(text.get_text() for text in bar_ax.texts) == ["0.010%", "30.0%", "70.0%"]
    assert len({bar.get_facecolor() for bar in bar_ax.patches}) == 1
    _, bar_ax = plots.plot_top_k(image, probabilities, names, k=3, true_label=1)
    colours = [bar.get_facecolor() for bar in bar_ax.patches]  # drawn bottom to top
    assert colours[1] != colours[0] == colours[2]
    plt.close("all")


def test_reliability_diagrams_side_by_side_do_not_overlap(project):
    from utils import calibration

    probabilities = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05], [0.05, 0.95]])
    table = calibration.reliability_table(probabilities, np.array([0, 1, 0, 1]), bins=10)
    ax = plots.plot_reliability(table, offset=-0.225, width=0.45, label="before")
    plots.plot_reliability(table, ax, offset=0.225, width=0.45, label="after", color="C3")
    left, right = ax.patches[:10], ax.patches[10:]
    assert all(a.get_x() + a.get_width() <= b.get_x() + 1e-9 for a, b in zip(left, right))
    plt.close("all")
