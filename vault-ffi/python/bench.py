"""scripts/ffi-bench's measurements (see there). Prints one JSON object."""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import vault

sys.path.insert(0, str(pathlib.Path(__file__).parent / "tests"))
from conftest import Server  # noqa: E402

PASSWORD = "bench password, not a secret"


def median_us(fn, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return times[len(times) // 2] / 1000, times[len(times) * 9 // 10] / 1000


def uniffi_parts(v, query):
    """What the Python side of one call pays around the Rust it runs, measured
    through the private helpers of UniFFI's generated code (names of
    uniffi 0.32; a bench script may lean on them, the package does not):
    cloning the object's handle for the call, lowering a str argument into
    a buffer Rust allocates, and lowering an Optional left None (Rust
    takes both back inside a real call; here they are freed after the
    timing), and reading the record `find` returns out of its buffer."""
    ffi = vault.vault_ffi
    lib = ffi._UniffiLib
    parts = {
        "handle_clone": (
            lambda: ffi._uniffi_rust_call(lib.uniffi_vault_ffi_fn_clone_vault, v._handle),
            lambda h: ffi._uniffi_rust_call(lib.uniffi_vault_ffi_fn_free_vault, h)),
        "str_argument": (lambda: ffi._UniffiFfiConverterString.lower(query),
                         lambda buf: buf.free()),
        "optional_argument_none": (
            lambda: ffi._UniffiFfiConverterOptionalString.lower(None),
            lambda buf: buf.free()),
    }
    out = {}
    for name, (make, release) in parts.items():
        made = []
        out[name] = round(median_us(lambda: made.append(make()), 5_000)[0], 2)
        for m in made:
            release(m)
    # Lifting the record `find` returns out of its buffer, and freeing it:
    # the buffers are made first (by the slower Python lowering).
    summary = ffi._UniffiFfiConverterTypeItemSummary
    buffers = [summary.lower(v.find(query)) for _ in range(5_000)]
    out["item_summary_return"] = round(median_us(lambda: summary.lift(buffers.pop()), 5_000)[0], 2)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--find-bench", required=True)
    args = ap.parse_args()
    os.environ["VAULT_TEST_SERVER_BIN"] = str(pathlib.Path(args.server_bin).resolve())
    out = {"items": args.items}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(pathlib.Path(tmp) / "bench.vault")
        v = vault.Vault.create(path, PASSWORD)
        start = time.perf_counter()
        for lo in range(0, args.items, 10_000):
            v.add_batch([vault.ItemInput(kind=vault.ItemKind.INTERNET, name=f"site{i}.example.com",
                                         account=f"user{i}", password=f"pw-{i}",
                                         urls=[f"https://login.site{i}.example.com/"])
                         for i in range(lo, min(lo + 10_000, args.items))])
        out["add_batch_s"] = round(time.perf_counter() - start, 2)
        query = f"site{args.items // 2}.example.com"
        v.find(query)  # builds the search cache and its index
        py_med, py_p90 = median_us(lambda: v.find(query), 5_000)
        rust = json.loads(subprocess.run(
            [args.find_bench, path, query, "5000"], check=True, capture_output=True, text=True,
            env={**os.environ, "VAULT_BENCH_PASSWORD": PASSWORD}).stdout)
        out["find_python_us"] = {"median": round(py_med, 2), "p90": round(py_p90, 2)}
        out["find_rust_us"] = {"median": round(rust["median_ns"] / 1000, 2),
                               "p90": round(rust["p90_ns"] / 1000, 2)}
        out["find_ratio"] = round(py_med / (rust["median_ns"] / 1000), 2)
        med, p90 = median_us(lambda: v.find_narrowed(query, account=f"user{args.items // 2}"),
                             5_000)
        out["find_narrowed_python_us"] = {"median": round(med, 2), "p90": round(p90, 2)}
        out["uniffi_parts_us"] = uniffi_parts(v, query)
        lists = []
        for _ in range(5):
            start = time.perf_counter()
            n = len(v.list())
            lists.append(time.perf_counter() - start)
        assert n == args.items
        out["list_s"] = round(statistics.median(lists), 3)
        server = Server(pathlib.Path(tmp))
        try:
            v.create_circle(server.url, vault.CircleOptions(device_name="bench"))
            small = vault.Vault.create(str(pathlib.Path(tmp) / "small.vault"), PASSWORD)
            small.create_circle(server.url, vault.CircleOptions(device_name="small"))
            small.add(vault.ItemInput(kind=vault.ItemKind.INTERNET, name="a.example"))
            small.sync()
            med, p90 = median_us(lambda: small.sync(), 200)
            out["sync_no_change_ms"] = {"median": round(med / 1000, 3), "p90": round(p90 / 1000, 3)}
        finally:
            server.stop()
    out["goals"] = {"find_ratio": 1.5, "find_python_us": 20, "list_s": 1.0,
                    "sync_no_change_ms": 5}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
