"""What crosses the boundary: no secret in an error's message, one
`Vault` shared by threads, memory that stays flat over many calls, and
vault files that the `vault` CLI and Python both read."""

import json
import os
import subprocess
import threading

import pytest
import vault

from conftest import PASSWORD

SECRET = "Zq9-item-secret-!x"
NEW_PASSWORD = "Zq9-new-master-!x"
BAD_SEED = "bad seed with s3cret !!"
# What the caller types where an error may quote it back (a field name, a
# query): not a secret, and unlike any secret above.
TYPED = "no-such-thing-q7"


def errors_of(v, vault_path):
    """Every error a caller can provoke with a secret in its arguments or
    in the item the call reaches."""
    calls = [
        lambda: vault.Vault.open(vault_path).unlock(PASSWORD + "-typo"),
        lambda: v.change_password(SECRET, NEW_PASSWORD),
        lambda: v.change_password(PASSWORD, ""),
        lambda: v.add(vault.ItemInput(kind=vault.ItemKind.INTERNET, name="t.example",
                                      password=SECRET, totp=BAD_SEED)),
        lambda: v.get_secret(v.find("s.example").uuid, TYPED),
        lambda: v.find(TYPED),
        lambda: v.totp(v.find("s.example").uuid),
        lambda: v.update(v.find("s.example").uuid,
                         vault.ItemInput(kind=vault.ItemKind.GENERIC, name="s",
                                         password=SECRET)),
        # A server URL carrying credentials: refused before any connection.
        lambda: v.create_circle(f"https://alice:{SECRET}@127.0.0.1:1",
                                vault.CircleOptions(device_name="d")),
    ]
    out = []
    for call in calls:
        with pytest.raises(vault.VaultError) as e:
            call()
        out.append(e.value)
    return out


def test_no_error_message_contains_a_password_or_a_secret(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    v.add(vault.ItemInput(kind=vault.ItemKind.INTERNET, name="s.example", password=SECRET,
                          notes=SECRET))
    errors = errors_of(v, vault_path)
    assert len(errors) == 9
    for e in errors:
        text = str(e) + repr(e) + repr(e.args)
        for secret in (PASSWORD, NEW_PASSWORD, SECRET, BAD_SEED, "s3cret", "alice"):
            assert secret not in text, text
    # The calls were refused: the password is unchanged, nothing was added.
    assert v.status().internet_items == 1
    vault.Vault.open(vault_path).unlock(PASSWORD)


def test_two_threads_share_one_vault(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    failures = []

    def writer(tag):
        try:
            for i in range(100):
                uuid = v.add(vault.ItemInput(kind=vault.ItemKind.GENERIC,
                                             name=f"{tag}-{i}", password=f"{tag}{i}"))
                assert v.get_secret(uuid, "password") == f"{tag}{i}"
                assert v.find(f"{tag}-{i}").uuid == uuid
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert v.status().generic_items == 200
    assert len(v.search("left-")) == 100


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_ten_thousand_gets_keep_memory_flat(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    # Items of about 2 KiB each, so that a buffer leaked on every call
    # (the record `get` returns: 10,000 × 2 KiB ≈ 20 MiB) breaks the bound.
    uuids = [v.add(vault.ItemInput(kind=vault.ItemKind.INTERNET, name=f"h{i}.example",
                                   password="p" * 40, notes="n" * 200,
                                   urls=[f"https://h{i}.example/{'u' * 200}/{n}"
                                         for n in range(8)]))
             for i in range(50)]
    for u in uuids * 4:  # warm: caches, allocator pools
        v.get(u)
        v.get_secret(u, "password")
    before = rss_bytes()
    for n in range(10_000):
        u = uuids[n % len(uuids)]
        v.get(u)
        v.get_secret(u, "password")
    grown = rss_bytes() - before
    assert grown <= 5 * 1024 * 1024, f"RSS grew {grown} bytes over 10,000 gets"


def cli(vault_bin, vault_path, pw_file, *args, stdin=None):
    env = {k: val for k, val in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_PATH=vault_path, VAULT_PASSWORD_FILE=str(pw_file),
               VAULT_AGENT_DIR=str(pw_file.parent / "agent"))
    return subprocess.run([str(vault_bin), *args], env=env, input=stdin,
                          capture_output=True, text=True, check=True)


def test_python_reads_every_item_the_cli_wrote(vault_bin, tmp_path):
    path = str(tmp_path / "cli.vault")
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    cli(vault_bin, path, pw, "init")
    cli(vault_bin, path, pw, "add", "inet", "--server", "github.com", "--account", "alice",
        "--password-stdin", "--url", "https://gist.github.com", "--folder", "Work",
        stdin="gh-secret\n")
    cli(vault_bin, path, pw, "add", "genp", "--service", "wifi", "--account", "home",
        "--password-stdin", stdin="wifi-secret\n")
    listed = json.loads(cli(vault_bin, path, pw, "--json", "ls").stdout)
    v = vault.Vault.open(path)
    v.unlock(PASSWORD)
    items = v.list()
    assert sorted(i.uuid for i in items) == sorted(i["uuid"] for i in listed)
    secrets = {i.name: v.get_secret(i.uuid, "password") for i in items}
    assert secrets == {"github.com": "gh-secret", "wifi": "wifi-secret"}
    gh = v.get(v.find("github.com").uuid)
    assert gh.urls == ["https://gist.github.com"] and gh.folder == "Work"


def test_the_cli_reads_every_item_python_wrote(vault_bin, tmp_path):
    path = str(tmp_path / "py.vault")
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    v = vault.Vault.create(path, PASSWORD)
    made = {}
    for i in range(5):
        made[f"site{i}.example"] = v.add(vault.ItemInput(
            kind=vault.ItemKind.INTERNET, name=f"site{i}.example", account=f"user{i}",
            password=f"secret-{i}"))
    made["wifi"] = v.add(vault.ItemInput(kind=vault.ItemKind.GENERIC, name="wifi",
                                         account="home", password="wifi-secret"))
    passwords = {f"site{i}.example": f"secret-{i}" for i in range(5)} | {"wifi": "wifi-secret"}
    v.lock()
    listed = json.loads(cli(vault_bin, path, pw, "--json", "ls").stdout)
    assert sorted(i["uuid"] for i in listed) == sorted(made.values())
    for name in made:
        out = cli(vault_bin, path, pw, "get", name).stdout.strip()
        assert out == passwords[name]
