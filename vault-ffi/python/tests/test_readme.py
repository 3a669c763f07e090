"""The README's Python example runs as written (against a real server,
in a directory holding the vault it opens), and type-checks with mypy
against the package's stubs."""

import contextlib
import io
import os
import pathlib
import re
import subprocess
import sys

import vault

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parents[2] / "README.md"


def example() -> str:
    text = README.read_text()
    section = text.split("## Other languages (vault-ffi)", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_runs(server, tmp_path, monkeypatch):
    code = example()
    assert "v.sync()" in code and "v.unlock(" in code
    password = re.search(r'v\.unlock\("([^"]+)"\)', code).group(1)
    path = tmp_path / "my.vault"
    made = vault.Vault.create(str(path), password)
    made.create_circle(server.url, vault.CircleOptions(device_name="readme"))
    made.lock()
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == "pushed 1, pulled 0\n"


def test_the_readme_python_example_type_checks(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(example())
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(script)],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stdout + run.stderr
