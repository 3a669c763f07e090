//! A server's backup and restore as an admin runs them: `vault-server
//! backup` while it serves, then stop, `vault-server restore --from`,
//! start again on the same port and database.

use super::{ServerProc, bin};
use std::path::{Path, PathBuf};
use std::process::Command;

impl ServerProc {
    /// `vault-server backup` of the running server into a new file.
    pub fn backup(&self) -> PathBuf {
        let out = self.dir.path().join(format!(
            "backup-{}.db",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let done = Command::new(bin("vault-server"))
            .args(["--db", self.db.to_str().unwrap(), "backup", "--output"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "vault-server backup failed: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        out
    }

    /// Stops the server (SIGTERM), restores `backup` over its database
    /// with `vault-server restore`, and starts it again on the same port.
    pub fn restore(&mut self, backup: &Path) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        self.child.wait().unwrap();
        let out = Command::new(bin("vault-server"))
            .args(["--db", self.db.to_str().unwrap(), "restore", "--from"])
            .arg(backup)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "vault-server restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.kill9_and_restart();
    }
}
