"""The setup cell every notebook opens with: same everywhere, and clear when fetching fails."""
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from utils import config

NOTEBOOKS = sorted([*(config.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"),
                    *(config.ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")])
REPO_LINE = 'REPO_URL = "https://github.com/cifar10-cnn/cifar10-cnn"'
FOLDER_LINE = 'COLAB_FOLDER = "/content/cifar10-cnn"'


def setup_cell(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    return next(cell.source for cell in cells if cell.cell_type == "code")


def with_settings(source, repo_url, folder):
    """The cell's code with REPO_URL and COLAB_FOLDER replaced, as a learner would edit them."""
    assert REPO_LINE in source and FOLDER_LINE in source
    return (source.replace(REPO_LINE, f"REPO_URL = {repo_url!r}")
                  .replace(FOLDER_LINE, f"COLAB_FOLDER = {str(folder)!r}"))


@pytest.fixture
def in_colab(monkeypatch, tmp_path):
    """Pretend to be in Google Colab; come back to this folder afterwards."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)


def test_every_notebook_opens_with_the_same_setup_cell():
    assert len(NOTEBOOKS) >= 11
    first = setup_cell(NOTEBOOKS[0])
    for notebook in NOTEBOOKS[1:]:
        assert setup_cell(notebook) == first, f"{notebook.name} has a different setup cell"


def test_outside_colab_it_only_checks_the_import(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    exec(setup_cell(NOTEBOOKS[0]), {})
    assert Path.cwd() == tmp_path


def test_a_bad_repo_url_stops_with_one_clear_sentence(in_colab, tmp_path):
    code = with_settings(setup_cell(NOTEBOOKS[0]), str(tmp_path / "no_such_repository"),
                         tmp_path / "cifar10-cnn")
    with pytest.raises(RuntimeError) as error:
        exec(code, {})
    message = str(error.value)
    assert message.startswith("Could not fetch the project from")
    assert "Check REPO_URL in this cell" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__ is False


def test_an_existing_copy_is_updated_or_kept(in_colab, tmp_path, capsys):
    folder = tmp_path / "cifar10-cnn"
    (folder / "utils").mkdir(parents=True)  # a copy from an earlier session, not a git clone
    exec(with_settings(setup_cell(NOTEBOOKS[0]), "unused", folder), {})
    assert "using the copy already there" in capsys.readouterr().out
    assert Path.cwd() == folder


def test_a_good_repo_url_clones_and_imports(in_colab, tmp_path):
    source = tmp_path / "fork"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{config.ROOT}", str(source)],
                   check=True)
    folder = tmp_path / "cifar10-cnn"
    exec(with_settings(setup_cell(NOTEBOOKS[0]), f"file://{source}", folder), {})
    assert (folder / "utils" / "__init__.py").is_file() and Path.cwd() == folder


def test_without_the_project_installed_it_says_what_to_run(tmp_path):
    # -S: no site-packages, so the editable install of the project is not seen either.
    result = subprocess.run([sys.executable, "-S", "-c", setup_cell(NOTEBOOKS[0])],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("RuntimeError: Python cannot find the project's utils/")
    assert "make setup" in last_line and "ModuleNotFoundError" not in result.stderr
