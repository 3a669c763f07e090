//! Edits made through `vault edit`'s editor form, and `vault restore`,
//! travel like any edit: a real `vault-server` and two devices.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ServerProc, circle_at, counts, password};
use std::os::unix::fs::PermissionsExt;

#[test]
fn an_edit_in_the_editor_and_a_restore_reach_the_other_device() {
    let server = ServerProc::start_unthrottled();
    let devs = circle_at(&server.url, &["alpha", "beta"]);
    let (a, b) = (&devs[0], &devs[1]);
    let id = a.add_inet("mail.example", "alice", "pw-1");
    a.sync();
    b.sync();
    assert_eq!(password(b, &id), "pw-1");

    // On A, an "editor" changes the password and adds a URL.
    let editor = a.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i -e 's/^password: .*/password: pw-edited/' \
         -e 's|^url:$|url: https://mail.example/login|' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = a
        .cmd()
        .args(["edit", &id])
        .env_remove("VISUAL")
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(counts(&a.sync()), (0, 1, 0, 0, 0));
    assert_eq!(counts(&b.sync()), (1, 0, 0, 0, 0));
    assert_eq!(password(b, &id), "pw-edited");
    assert_eq!(
        b.ok(&["get", &id, "--field", "url"]).trim_end(),
        "https://mail.example/login"
    );
    assert_eq!(b.json(&["get", &id])["gencount"], 2);

    // On B, gen 1 restored: A gets it as gen 3.
    let out = b.ok(&["restore", &id, "--version", "1"]);
    assert!(
        out.contains("restored gen 1 of ") && out.contains("as gen 3"),
        "{out}"
    );
    assert_eq!(counts(&b.sync()), (0, 1, 0, 0, 0));
    assert_eq!(counts(&a.sync()), (1, 0, 0, 0, 0));
    assert_eq!(password(a, &id), "pw-1");
    assert_eq!(a.json(&["get", &id])["gencount"], 3);
    assert_eq!(a.manifest_root(), b.manifest_root());
}
