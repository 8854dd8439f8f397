"""pytest settings shared by tests/ and the notebook checks (nbval)."""


def pytest_collectstart(collector):
    """Leave stderr out of nbval's comparisons: TensorFlow writes log lines there."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
