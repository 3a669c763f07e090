"""Sync between two devices driven from Python, through a real
`vault-server`: the first device creates the circle from Python, the
second joins it with the `vault` CLI's pairing, and both then sync from
Python."""

import json
import os
import subprocess

import pytest
import vault

from conftest import PASSWORD


def cli_env(tmp_path, path):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(VAULT_PATH=str(path), VAULT_PASSWORD_FILE=str(pw),
               VAULT_AGENT_DIR=str(tmp_path / f"agent-{path.stem}"))
    return env


def join_with_cli(vault_bin, tmp_path, inviter_path, joiner_path):
    """`vault peer invite --yes` on the inviter's file, `vault peer join`
    on the joiner's (a new vault made by `vault init`)."""
    subprocess.run([str(vault_bin), "init"], env=cli_env(tmp_path, joiner_path),
                   check=True, capture_output=True)
    invite = subprocess.Popen([str(vault_bin), "--json", "peer", "invite", "--yes"],
                              env=cli_env(tmp_path, inviter_path), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        code = json.loads(invite.stdout.readline())["code"]
        subprocess.run([str(vault_bin), "peer", "join", code, "--name", "second"],
                       env=cli_env(tmp_path, joiner_path), check=True,
                       capture_output=True, text=True, timeout=60)
        assert invite.wait(60) == 0, invite.stderr.read()
    finally:
        if invite.poll() is None:
            invite.kill()


@pytest.fixture
def two_devices(server, vault_bin, tmp_path):
    a_path, b_path = tmp_path / "a.vault", tmp_path / "b.vault"
    a = vault.Vault.create(str(a_path), PASSWORD)
    circle = a.create_circle(server.url, vault.CircleOptions(device_name="first"))
    assert len(circle) == 36
    join_with_cli(vault_bin, tmp_path, a_path, b_path)
    b = vault.Vault.open(str(b_path))
    b.unlock(PASSWORD)
    return a, b


def inet(name, password, **kw):
    return vault.ItemInput(kind=vault.ItemKind.INTERNET, name=name, account="alice",
                           password=password, **kw)


class Recorder(vault.ProgressListener):
    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress)


def test_an_item_added_on_one_device_reaches_the_other(two_devices):
    a, b = two_devices
    uuid = a.add(inet("github.com", "from-a"))
    progress = Recorder()
    report = a.sync(progress)
    assert report.pushed >= 1 and report.quarantined == []
    assert any(p.pushing for p in progress.seen)
    got = b.sync()
    assert got.pulled >= 1
    assert b.get_secret(b.find("github.com").uuid, "password") == "from-a"
    assert b.find("github.com").uuid == uuid
    assert {p.name for p in a.peers()} == {"first", "second"}
    assert [p.is_me for p in b.peers() if p.name == "second"] == [True]
    # Nothing new: nothing moves.
    again = b.sync()
    assert (again.pulled, again.pushed, again.conflicts) == (0, 0, 0)
    assert b.status().pending == 0 and b.status().members == 2


def test_concurrent_edits_merge_and_a_conflict_is_named(two_devices):
    a, b = two_devices
    uuid = a.add(inet("mail.example", "v1", notes="n1"))
    a.sync()
    b.sync()
    # Different fields: merged without conflict.
    a.update(uuid, inet("mail.example", None, notes="notes-from-a"))
    b.update(uuid, inet("mail.example", None, label="label-from-b"))
    a.sync()
    merged = b.sync()
    assert merged.merged == 1 and merged.conflicts == 0
    assert b.get_secret(uuid, "notes") == "notes-from-a" and b.get(uuid).label == "label-from-b"
    b.sync()
    a.sync()
    # The same field on both: a conflict, named with the field.
    a.update(uuid, inet("mail.example", "pw-from-a", label="label-from-b"))
    b.update(uuid, inet("mail.example", "pw-from-b", label="label-from-b"))
    a.sync()
    clash = b.sync()
    assert clash.conflicts == 1
    assert [(c.uuid, c.name, c.fields) for c in clash.conflicted] == [
        (uuid, "mail.example", ["password"])]
    b.sync()
    a.sync()
    assert a.get_secret(uuid, "password") == b.get_secret(uuid, "password")


def test_sync_errors_are_typed(server, tmp_path):
    lone = vault.Vault.create(str(tmp_path / "lone.vault"), PASSWORD)
    with pytest.raises(vault.VaultError.NoCircle):
        lone.sync()
    for bad in ("", "  ", "tab\there", "x" * 65):
        with pytest.raises(vault.VaultError.InvalidInput):
            lone.create_circle(server.url, vault.CircleOptions(device_name=bad))
    with pytest.raises(vault.VaultError.NoCircle):
        lone.peers()
    lone.create_circle(server.url, vault.CircleOptions(device_name="lone"))
    with pytest.raises(vault.VaultError.InvalidInput):
        lone.create_circle(server.url, vault.CircleOptions(device_name="again"))
    lone.sync()
    server.stop()
    lone.add(inet("x.example", "pw"))
    with pytest.raises(vault.VaultError.Unreachable):
        lone.sync()
    other = vault.Vault.create(str(tmp_path / "other.vault"), PASSWORD)
    with pytest.raises(vault.VaultError.Unreachable):
        other.create_circle(server.url, vault.CircleOptions(device_name="x"))
