//! `vault-server admin` as an admin runs it, against a running server's
//! database.

use super::{ServerProc, bin};
use std::process::Command;

impl super::Device {
    /// `vault circle create` on `server` under the device's name: the
    /// circle's id.
    pub fn create_circle(&self, server: &ServerProc) -> String {
        let v = self.json(&[
            "circle",
            "create",
            "--server",
            &server.url,
            "--name",
            &self.name,
        ]);
        v["circle_id"].as_str().unwrap().to_owned()
    }
}

impl ServerProc {
    /// `vault-server --db DB admin ARGS`: (exit code, stdout, stderr).
    pub fn admin(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin("vault-server"))
            .args(["--db", self.db.to_str().unwrap(), "admin"])
            .args(args)
            .env_remove("VAULT_SERVER_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A new registration token (`admin token create --json`), with extra
    /// flags: (token, id).
    pub fn registration_token(&self, extra: &[&str]) -> (String, String) {
        let mut args = vec!["token", "create", "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = self.admin(&args);
        assert_eq!(code, 0, "admin token create failed: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    }

    /// `GET /metrics` (the harness serves it on the public listener).
    pub fn metrics(&self) -> String {
        let r = super::http_blocking()
            .get(format!("{}/metrics", self.url))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().unwrap()
    }

    /// Circles stored in the server's database.
    pub fn circle_count(&self) -> i64 {
        self.sql()
            .query_row("SELECT count(*) FROM circles", [], |r| r.get(0))
            .unwrap()
    }
}
