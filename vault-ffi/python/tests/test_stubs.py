"""The package ships type stubs, and they are what stubgen.py makes of
the installed module: a change to the bindings without new stubs fails."""

import contextlib
import io
import pathlib
import sys

import vault

HERE = pathlib.Path(__file__).resolve().parent


def test_the_package_ships_its_stubs_and_they_match_the_module():
    installed = pathlib.Path(vault.__file__).parent
    assert (installed / "py.typed").exists()
    shipped = (installed / "__init__.pyi").read_text()
    committed = (HERE.parent.parent / "vault.pyi").read_text()
    assert shipped == committed
    sys.path.insert(0, str(HERE.parent))
    try:
        import stubgen
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            stubgen.main()
    finally:
        sys.path.pop(0)
    assert out.getvalue() == committed, (
        "vault-ffi/vault.pyi is stale: python vault-ffi/python/stubgen.py > vault-ffi/vault.pyi")
