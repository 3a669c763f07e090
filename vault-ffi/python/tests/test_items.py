"""The `vault` package on one device: create, unlock, items, search,
history, TOTP, generated passwords, and the typed errors."""

import os
import sqlite3
import unicodedata

import pytest
import vault

from conftest import PASSWORD


def inet(name, account="alice", password="pw-1", **kw):
    return vault.ItemInput(kind=vault.ItemKind.INTERNET, name=name, account=account,
                           password=password, **kw)


def test_create_add_find_and_read_a_secret(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    uuid = v.add(inet("github.com", urls=["https://gist.github.com/x"], folder="Work/Code",
                      totp="JBSWY3DPEHPK3PXP",
                      custom_fields=[vault.Field(name="pin", value="1234", hidden=True),
                                     vault.Field(name="team", value="core")]))
    hit = v.find("https://github.com/login")
    assert hit.uuid == uuid and hit.kind == vault.ItemKind.INTERNET
    assert v.find("gist.github.com").uuid == uuid
    assert v.find("GITHUB.COM").uuid == uuid
    item = v.get(uuid)
    assert (item.name, item.account, item.folder) == ("github.com", "alice", "Work/Code")
    # The record names its secrets but carries none of them.
    assert sorted(item.secrets) == ["password", "pin", "totp"]
    assert "pw-1" not in repr(item) and "1234" not in repr(item)
    assert [(f.name, f.value, f.hidden) for f in item.custom_fields] == [
        ("pin", None, True), ("team", "core", False)]
    assert v.get_secret(uuid, "password") == "pw-1"
    assert v.get_secret(uuid, "pin") == "1234"
    code = v.totp(uuid)
    assert len(code.code) == 6 and code.code.isdigit() and 0 < code.seconds_left <= 30
    s = v.status()
    assert (s.locked, s.internet_items, s.generic_items) == (False, 1, 0)


def test_find_reports_ambiguity_and_absence_as_typed_errors(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    a = v.add(inet("mail.example.com", account="alice"))
    b = v.add(inet("mail.example.com", account="bob"))
    with pytest.raises(vault.VaultError.Ambiguous) as e:
        v.find("mail.example.com")
    assert e.value.count == 2 and {m.uuid for m in e.value.matches} == {a, b}
    assert v.find_narrowed("mail.example.com", account="BOB").uuid == b
    assert v.find_narrowed("mail.example.com", "alice", vault.ItemKind.INTERNET).uuid == a
    assert {m.uuid for m in v.find_all("mail")} == {a, b}
    with pytest.raises(vault.VaultError.NotFound):
        v.find("nothing-like-it")
    with pytest.raises(vault.VaultError.NotFound):
        v.find_narrowed("mail.example.com", kind=vault.ItemKind.GENERIC)


def test_update_keeps_secrets_not_given_and_history_restores(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    uuid = v.add(inet("example.org", password="first", notes="n1"))
    assert v.update(uuid, inet("example.org", account="alice2", password=None)) == 2
    assert v.get_secret(uuid, "password") == "first"
    assert v.get(uuid).account == "alice2"
    v.update(uuid, inet("example.org", account="alice2", password="second"))
    versions = v.history(uuid)
    assert [h.gencount for h in versions] == [3, 2, 1]
    r = v.restore(uuid, 1)
    assert (r.uuid, r.gencount, r.new_item, r.changed) == (uuid, 4, False, True)
    assert v.get_secret(uuid, "password") == "first" and v.get(uuid).account == "alice"
    with pytest.raises(vault.VaultError.InvalidInput):
        v.restore(uuid, 4)
    v.delete(uuid)
    with pytest.raises(vault.VaultError.NotFound):
        v.get(uuid)
    assert v.history(uuid)[0].deleted
    back = v.restore(uuid, 4)
    assert back.new_item and back.uuid != uuid
    assert v.get_secret(back.uuid, "password") == "first"
    with pytest.raises(vault.VaultError.InvalidInput):
        v.update(back.uuid, vault.ItemInput(kind=vault.ItemKind.GENERIC, name="x"))


def test_lists_search_and_generic_and_key_items(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    v.add(inet("b.example"))
    g = v.add(vault.ItemInput(kind=vault.ItemKind.GENERIC, name="wifi", account="home",
                              password="router-pw", notes="in the hall"))
    k = v.add(vault.ItemInput(kind=vault.ItemKind.KEY, name="", label="deploy key",
                              key_type="ed25519", private_key=bytes(range(32))))
    assert len(v.list()) == 3
    assert [s.uuid for s in v.list(vault.ItemKind.GENERIC)] == [g]
    assert [s.uuid for s in v.search("WIFI")] == [g]
    assert v.get_secret(g, "notes") == "in the hall"
    assert v.get(k).secrets == ["private_key"]
    assert v.get_secret_bytes(k, "private_key") == bytes(range(32))
    with pytest.raises(vault.VaultError.InvalidInput):
        v.get_secret(k, "private_key")
    with pytest.raises(vault.VaultError.NotFound):
        v.get_secret(g, "totp")


def test_attributes_of_another_class_and_fields_without_values_are_refused(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    refused = [
        vault.ItemInput(kind=vault.ItemKind.GENERIC, name="wifi", totp="JBSWY3DPEHPK3PXP"),
        vault.ItemInput(kind=vault.ItemKind.GENERIC, name="wifi", urls=["https://x.example"]),
        vault.ItemInput(kind=vault.ItemKind.KEY, name="k", password="a secret"),
        vault.ItemInput(kind=vault.ItemKind.INTERNET, name="x.example",
                        private_key=b"key bytes"),
        # A field with no value that no hidden field of the item could give.
        inet("x.example", custom_fields=[vault.Field(name="pin", hidden=True)]),
        inet("x.example", custom_fields=[vault.Field(name="team")]),
    ]
    for item in refused:
        with pytest.raises(vault.VaultError.InvalidInput):
            v.add(item)
    assert v.list() == []
    uuid = v.add(inet("x.example", custom_fields=[vault.Field(name="pin", value="1234",
                                                              hidden=True)]))
    # Unhiding the field without giving its value would show the secret:
    # refused, and the item is unchanged.
    with pytest.raises(vault.VaultError.InvalidInput):
        v.update(uuid, inet("x.example", custom_fields=[vault.Field(name="pin")]))
    with pytest.raises(vault.VaultError.InvalidInput):
        v.update(uuid, inet("x.example", custom_fields=[vault.Field(name="pin2", hidden=True)]))
    assert v.get(uuid).gencount == 1
    # Given back as `get` returned it, the hidden value is kept.
    v.update(uuid, inet("x.example", custom_fields=v.get(uuid).custom_fields))
    assert v.get_secret(uuid, "pin") == "1234"


def test_wrong_password_locked_and_bad_input(vault_path):
    with pytest.raises(vault.VaultError.InvalidInput):
        vault.Vault.create(vault_path, "")
    assert not os.path.exists(vault_path)
    vault.Vault.create(vault_path, PASSWORD)
    v = vault.Vault.open(vault_path)
    assert v.status().locked
    with pytest.raises(vault.VaultError.Locked):
        v.list()
    with pytest.raises(vault.VaultError.WrongPassword):
        v.unlock("not the password")
    v.unlock(PASSWORD)
    with pytest.raises(vault.VaultError.InvalidInput):
        v.get("not-a-uuid")
    with pytest.raises(vault.VaultError.InvalidInput):
        v.add(inet("x.example", totp="not base32 !"))
    with pytest.raises(vault.VaultError.AlreadyExists):
        vault.Vault.create(vault_path, PASSWORD)
    with pytest.raises(vault.VaultError.NotFound):
        vault.Vault.open(vault_path + ".missing")
    v.lock()
    with pytest.raises(vault.VaultError.Locked):
        v.get("00000000-0000-0000-0000-000000000000")


def test_change_password(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    uuid = v.add(inet("a.example"))
    with pytest.raises(vault.VaultError.WrongPassword):
        v.change_password("wrong", "new password 2")
    v.change_password(PASSWORD, "new password 2")
    w = vault.Vault.open(vault_path)
    with pytest.raises(vault.VaultError.WrongPassword):
        w.unlock(PASSWORD)
    w.unlock("new password 2")
    assert w.get_secret(uuid, "password") == "pw-1"


def test_a_password_typed_as_nfd_opens_a_vault_made_with_nfc(vault_path):
    nfc = unicodedata.normalize("NFC", "Crème brûlée à Ångström")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc.encode() != nfd.encode()
    v = vault.Vault.create(vault_path, nfd)
    uuid = v.add(inet("a.example"))
    w = vault.Vault.open(vault_path)
    w.unlock(nfc)
    assert w.get_secret(uuid, "password") == "pw-1"


def test_a_tampered_record_is_the_typed_error(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    uuid = v.add(inet("bank.example", password="s3cret-bank-pw"))
    v.lock()
    db = sqlite3.connect(vault_path)
    (blob,) = db.execute("SELECT encitem FROM inet").fetchone()
    flipped = bytearray(blob)
    flipped[len(flipped) // 2] ^= 0x01
    db.execute("UPDATE inet SET encitem = ?", (bytes(flipped),))
    db.commit()
    db.close()
    v.unlock(PASSWORD)
    with pytest.raises(vault.VaultError.Tampered) as e:
        v.get_secret(uuid, "password")
    assert "s3cret-bank-pw" not in str(e.value)


def test_generate_password():
    p = vault.generate_password(vault.PasswordOptions(length=24))
    assert len(p) == 24 and any(c.isdigit() for c in p) and any(c.isupper() for c in p)
    q = vault.generate_password(vault.PasswordOptions(symbols=False))
    assert len(q) == 20 and q.isalnum()
    words = vault.generate_password(vault.PasswordOptions(words=6)).split("-")
    assert len(words) == 6 and all(w.isalpha() for w in words)
    with pytest.raises(vault.VaultError.InvalidInput):
        vault.generate_password(vault.PasswordOptions(length=0))


def test_add_batch_is_all_or_nothing(vault_path):
    v = vault.Vault.create(vault_path, PASSWORD)
    uuids = v.add_batch([inet(f"b{i}.example") for i in range(50)])
    assert len(set(uuids)) == 50 and v.status().internet_items == 50
    assert v.find("b7.example").uuid == uuids[7]
    with pytest.raises(vault.VaultError.InvalidInput):
        v.add_batch([inet("ok.example"), inet("bad.example", totp="!!")])
    assert v.status().internet_items == 50
