"""Fixtures of the `vault` package's tests: vault files in temporary
directories, the built `vault` CLI and real `vault-server` processes on
127.0.0.1 (paths from $VAULT_TEST_CLI_BIN and $VAULT_TEST_SERVER_BIN, which
scripts/python-tests sets)."""

import os
import pathlib
import subprocess
import threading

import pytest

PASSWORD = "correct horse battery staple"


def _binary(var: str) -> pathlib.Path:
    path = os.environ.get(var)
    if not path or not pathlib.Path(path).is_file():
        pytest.fail(f"${var} does not name a built binary; run scripts/python-tests")
    return pathlib.Path(path)


@pytest.fixture
def vault_bin() -> pathlib.Path:
    return _binary("VAULT_TEST_CLI_BIN")


@pytest.fixture
def vault_path(tmp_path) -> str:
    return str(tmp_path / "py.vault")


class Server:
    """A `vault-server` child process with its own SQLite database."""

    def __init__(self, directory: pathlib.Path):
        # The server refuses VAULT_SERVER_* variables it does not know.
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env["VAULT_SERVER_REGISTRATION"] = "open"
        env["VAULT_SERVER_METRICS_LISTEN"] = "off"
        self.proc = subprocess.Popen(
            [
                str(_binary("VAULT_TEST_SERVER_BIN")),
                "--listen",
                "127.0.0.1:0",
                "--db",
                str(directory / "server.db"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        found = threading.Event()
        self.url = None

        def read():
            for line in self.proc.stderr:
                if self.url is None and "listening on " in line:
                    addr = line.split("listening on ", 1)[1].split()[0]
                    self.url = f"http://{addr}"
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(30) or self.url is None:
            self.stop()
            raise RuntimeError("vault-server did not report its address")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop()
