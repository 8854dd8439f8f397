"""Starting the Streamlit app as a server, for the browser test and the start-up benchmark.

`python -m streamlit run app/streamlit_app.py` is what README.md tells a user to run; this
module runs the same command headless on a free local port and waits for the server's
health check (`/_stcore/health`) to answer.
"""
import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from utils import config

APP = config.ROOT / "app" / "streamlit_app.py"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_healthy(url):
    """True when the server at `url` answers its health check with "ok"."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_healthy(url, server, timeout=30.0):
    """Seconds until the health check answered; raise if the server died or took too long."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"The app server exited with code {server.returncode}; "
                               "run `streamlit run app/streamlit_app.py` to see why.")
        if is_healthy(url):
            return time.perf_counter() - start
        time.sleep(0.1)
    raise TimeoutError(f"The app did not answer {url}/_stcore/health within {timeout:.0f} s.")


@contextlib.contextmanager
def running_app(log_path, timeout=30.0):
    """Start the app headless on a free port; yield (url, seconds to healthy); stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless=true",
               f"--server.port={port}", "--server.address=127.0.0.1",
               "--browser.gatherUsageStats=false"]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=config.ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield url, wait_until_healthy(url, server, timeout)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
