"""Pairing from Python with the short-authentication-string callback,
removing a device, and `watch`: a change on one device reaches the
other's watch, and a watch cancelled from another thread stops within a
second. Two Python-driven devices and a real `vault-server`."""

import queue
import threading
import time

import pytest
import vault

from conftest import PASSWORD


class Prompt(vault.PairingPrompt):
    def __init__(self, answer=True):
        self.codes = queue.Queue()
        self.shown = []
        self.asked = []
        self.answer = answer

    def show_code(self, code, ttl_secs):
        self.codes.put((code, ttl_secs))

    def confirm_sas(self, sas, peer_name):
        self.asked.append((sas, peer_name))
        return self.answer

    def show_sas(self, sas):
        self.shown.append(sas)


def pair(a, b, answer=True, name="phone"):
    """`a.invite` on a thread, `b.join` here; returns what each said or
    raised, and the two prompts."""
    inviter, joiner = Prompt(answer), Prompt()
    result = {}

    def invite():
        try:
            result["invited"] = a.invite(120, inviter)
        except vault.VaultError as e:
            result["invite_error"] = e

    t = threading.Thread(target=invite)
    t.start()
    code, ttl = inviter.codes.get(timeout=30)
    assert ttl == 120
    try:
        result["joined"] = b.join(code, vault.JoinOptions(device_name=name), joiner)
    except vault.VaultError as e:
        result["join_error"] = e
    t.join(90)
    assert not t.is_alive()
    return result, inviter, joiner


@pytest.fixture
def paired(server, tmp_path):
    a = vault.Vault.create(str(tmp_path / "a.vault"), PASSWORD)
    a.create_circle(server.url, vault.CircleOptions(device_name="laptop"))
    b = vault.Vault.create(str(tmp_path / "b.vault"), PASSWORD)
    result, inviter, joiner = pair(a, b)
    return a, b, result, inviter, joiner


def inet(name, password):
    return vault.ItemInput(kind=vault.ItemKind.INTERNET, name=name, account="alice",
                           password=password)


def test_pairing_shows_the_same_code_on_both_screens(paired):
    a, b, result, inviter, joiner = paired
    invited, joined = result["invited"], result["joined"]
    assert inviter.asked == [(joined.sas, "phone")]
    assert joiner.shown == [joined.sas] and invited.sas == joined.sas
    assert invited.peer_id == joined.peer_id and invited.name == "phone"
    assert {p.name for p in a.peers()} == {"laptop", "phone"}
    uuid = a.add(inet("github.com", "shared"))
    a.sync()
    b.sync()
    assert b.get_secret(uuid, "password") == "shared"


def test_refused_codes_add_nothing(server, tmp_path):
    a = vault.Vault.create(str(tmp_path / "a.vault"), PASSWORD)
    a.create_circle(server.url, vault.CircleOptions(device_name="laptop"))
    b = vault.Vault.create(str(tmp_path / "b.vault"), PASSWORD)
    result, inviter, _ = pair(a, b, answer=False)
    assert isinstance(result["invite_error"], vault.VaultError.Pairing)
    assert isinstance(result["join_error"], vault.VaultError.Pairing)
    assert len(inviter.asked) == 1
    assert [p.name for p in a.peers()] == ["laptop"]
    with pytest.raises(vault.VaultError.NoCircle):
        b.sync()
    with pytest.raises(vault.VaultError.InvalidInput):
        b.join("not a code", vault.JoinOptions(device_name="x"), Prompt())
    with pytest.raises(vault.VaultError.InvalidInput):
        a.invite(0, Prompt())


def test_a_removed_device_is_refused(paired):
    a, b, result, _, _ = paired
    b.sync()
    me = [p.peer_id for p in a.peers() if p.is_me]
    with pytest.raises(vault.VaultError.InvalidInput):
        a.remove_peer(me[0])
    assert {p.name for p in a.peers()} == {"laptop", "phone"}
    epoch = a.remove_peer(result["joined"].peer_id)
    assert epoch >= 2
    assert [p.name for p in a.peers()] == ["laptop"]
    with pytest.raises(vault.VaultError.NotMember):
        b.sync()
    with pytest.raises(vault.VaultError.InvalidInput):
        a.remove_peer("nonsense")
    # Gone already: refused before anything is sent.
    with pytest.raises(vault.VaultError.NotFound):
        a.remove_peer(result["joined"].peer_id)


class Heard(vault.SyncListener):
    def __init__(self):
        self.reports = queue.Queue()
        self.errors = []

    def on_synced(self, report):
        self.reports.put(report)

    def on_error(self, error, fatal):
        self.errors.append((error, fatal))


def test_watch_hears_a_change_and_stops_within_a_second(paired):
    a, b, _, _, _ = paired
    heard = Heard()
    handle = b.watch(heard)
    assert handle.is_running()
    heard.reports.get(timeout=15)  # the first round, at start
    uuid = a.add(inet("mail.example", "from-a"))
    a.sync()
    deadline = time.monotonic() + 15
    while True:
        report = heard.reports.get(timeout=max(0.1, deadline - time.monotonic()))
        if report.pulled >= 1:
            break
    assert b.get_secret(uuid, "password") == "from-a"
    # The object stays usable while its watch runs.
    assert b.find("mail.example").uuid == uuid
    # cancel() returns once the watch's thread has ended: time it on the
    # thread that calls it.
    took = []

    def cancel():
        started = time.monotonic()
        handle.cancel()
        took.append(time.monotonic() - started)

    canceller = threading.Thread(target=cancel)
    canceller.start()
    canceller.join(5)
    assert not canceller.is_alive() and len(took) == 1, "cancel() did not return within 5 s"
    assert took[0] < 1.0, f"the watch took {took[0]:.2f} s to stop"
    assert not handle.is_running()
    # Stopped means stopped: a change synced now is not heard.
    while not heard.reports.empty():
        heard.reports.get_nowait()
    a.add(inet("late.example", "after-cancel"))
    a.sync()
    time.sleep(1.0)
    assert heard.reports.empty()
    assert [e for e in heard.errors if e[1]] == []
    handle.cancel()  # again: nothing


class CancelsItself(vault.SyncListener):
    """Cancels its own watch from inside the first report."""

    def __init__(self):
        self.handle = None
        self.ready = threading.Event()
        self.cancelled = threading.Event()

    def on_synced(self, report):
        self.ready.wait(10)
        self.handle.cancel()
        self.cancelled.set()

    def on_error(self, error, fatal):
        pass


def test_a_listener_may_cancel_its_own_watch(paired):
    _, b, _, _, _ = paired
    listener = CancelsItself()
    listener.handle = b.watch(listener)
    listener.ready.set()
    assert listener.cancelled.wait(15), "cancel() from the listener did not return"
    deadline = time.monotonic() + 2
    while listener.handle.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not listener.handle.is_running()
    listener.handle.cancel()  # from here, afterwards: nothing
