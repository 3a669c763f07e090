//! Tests of the configuration: defaults, sources in order, validation.

#![allow(clippy::unwrap_used)]
use super::*;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn defaults_match_the_documentation() {
    let c = Config::default();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8625");
    assert_eq!(c.db, Database::Sqlite(PathBuf::from("./vault-server.db")));
    assert_eq!(c.token_ttl_secs, 900);
    assert_eq!(c.invite_ttl_secs, 600);
    assert_eq!(c.limits.max_body_bytes, 65536);
    assert_eq!((c.limits.per_ip_per_sec, c.limits.per_ip_burst), (100, 200));
    assert_eq!(
        (c.limits.per_device_per_sec, c.limits.per_device_burst),
        (20, 40)
    );
    assert_eq!(c.limits.max_batch_records, 500);
    assert_eq!(c.limits.max_records_body_bytes, 16 * 1024 * 1024);
    assert_eq!(c.limits.max_changes_page, 5000);
    assert_eq!(
        (
            c.limits.header_timeout_secs,
            c.limits.body_timeout_secs,
            c.limits.idle_timeout_secs
        ),
        (10, 60, 60)
    );
    assert_eq!(
        (c.limits.max_connections_per_ip, c.limits.max_connections),
        (256, 10_000)
    );
    assert_eq!((c.tls.cert.as_ref(), c.tls.key.as_ref()), (None, None));
    assert!(!c.tls.allow_tls12);
    assert_eq!(c.tls.handshake_timeout_secs, 10);
    assert_eq!(
        (c.postgres.pool_size, c.postgres.relaxed_pool_size),
        (16, 8)
    );
    assert_eq!(c.registration, Registration::Token);
    assert_eq!(
        c.metrics_listen,
        MetricsListen::At("127.0.0.1:9625".parse().unwrap())
    );
    assert!(!c.metrics_public);
    assert_eq!(
        (
            c.quotas.max_devices,
            c.quotas.max_records,
            c.quotas.max_bytes
        ),
        (64, 1_000_000, 4 << 30)
    );
    c.validate().unwrap();
}

#[test]
fn metrics_settings_parse_off_or_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "metrics_listen = \"off\"\nmetrics_public = true\n").unwrap();
    let none = env_of(&[]);
    let c = Config::load(Some(&path), &none, &Overrides::default()).unwrap();
    assert_eq!(
        (c.metrics_listen, c.metrics_public),
        (MetricsListen::Off, true)
    );
    let env = env_of(&[("VAULT_SERVER_METRICS_LISTEN", "127.0.0.1:7000")]);
    let c = Config::load(Some(&path), &env, &Overrides::default()).unwrap();
    assert_eq!(
        c.metrics_listen,
        MetricsListen::At("127.0.0.1:7000".parse().unwrap())
    );
    let bad = env_of(&[("VAULT_SERVER_METRICS_LISTEN", "nowhere")]);
    assert!(Config::load(None, &bad, &Overrides::default()).is_err());
    // The printed config reads back the same.
    let back = Config::from_toml(&c.to_toml(), &path).unwrap();
    assert_eq!(back, c);
}

#[test]
fn registration_comes_from_the_file_the_environment_or_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "registration = \"closed\"\n").unwrap();
    let none = env_of(&[]);
    let c = Config::load(Some(&path), &none, &Overrides::default()).unwrap();
    assert_eq!(c.registration, Registration::Closed);
    let env = env_of(&[("VAULT_SERVER_REGISTRATION", "open")]);
    let c = Config::load(Some(&path), &env, &Overrides::default()).unwrap();
    assert_eq!(c.registration, Registration::Open);
    let flags = Overrides {
        registration: Some(Registration::Token),
        ..Overrides::default()
    };
    let c = Config::load(Some(&path), &env, &flags).unwrap();
    assert_eq!(c.registration, Registration::Token);
    let bad = env_of(&[("VAULT_SERVER_REGISTRATION", "maybe")]);
    assert!(matches!(
        Config::load(None, &bad, &Overrides::default()),
        Err(ConfigError::Env {
            var: "VAULT_SERVER_REGISTRATION",
            ..
        })
    ));
    std::fs::write(&path, "registration = \"sometimes\"\n").unwrap();
    assert!(matches!(
        Config::load(Some(&path), &none, &Overrides::default()),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:1\"\ndb = \"file.db\"\ntoken_ttl_secs = 5\n\
         [limits]\nper_ip_per_sec = 7\n",
    )
    .unwrap();
    let none = env_of(&[]);
    let c = Config::load(Some(&path), &none, &Overrides::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:1");
    assert_eq!(c.db, Database::Sqlite(PathBuf::from("file.db")));
    assert_eq!(c.token_ttl_secs, 5);
    assert_eq!(c.limits.per_ip_per_sec, 7);
    assert_eq!(c.limits.per_ip_burst, 200, "unset keys keep their defaults");

    let env = env_of(&[
        ("VAULT_SERVER_LISTEN", "127.0.0.1:2"),
        ("VAULT_SERVER_DB", "env.db"),
        ("VAULT_SERVER_PER_IP_PER_SEC", "9"),
    ]);
    let c = Config::load(Some(&path), &env, &Overrides::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:2");
    assert_eq!(c.db, Database::Sqlite(PathBuf::from("env.db")));
    assert_eq!(c.limits.per_ip_per_sec, 9);
    assert_eq!(
        c.token_ttl_secs, 5,
        "the file still gives what env does not"
    );

    let flags = Overrides {
        listen: Some("127.0.0.1:3".parse().unwrap()),
        db: Some("flag.db".into()),
        log_level: None,
        ..Overrides::default()
    };
    let c = Config::load(Some(&path), &env, &flags).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:3");
    assert_eq!(c.db, Database::Sqlite(PathBuf::from("flag.db")));
}

#[test]
fn tls_needs_both_files_and_comes_from_every_source() {
    let none = env_of(&[]);
    let half = Overrides {
        tls_cert: Some("c.pem".into()),
        ..Overrides::default()
    };
    assert!(matches!(
        Config::load(None, &none, &half),
        Err(ConfigError::Invalid { key: "tls", .. })
    ));
    let env = env_of(&[
        ("VAULT_SERVER_TLS_KEY", "k.pem"),
        ("VAULT_SERVER_TLS_ALLOW_TLS12", "true"),
    ]);
    let c = Config::load(None, &env, &half).unwrap();
    let s = c.tls.settings().unwrap();
    assert_eq!((s.cert, s.key), ("c.pem".into(), "k.pem".into()));
    assert!(s.allow_tls12);
    let toml = c.to_toml();
    assert!(toml.contains("[tls]") && toml.contains("c.pem"), "{toml}");
    assert_eq!(Config::from_toml(&toml, Path::new("x")).unwrap(), c);
    assert!(Config::default().tls.settings().is_none());
}

#[test]
fn unknown_keys_and_bad_values_are_errors() {
    let p = Path::new("x.toml");
    assert!(matches!(
        Config::from_toml("listne = \"127.0.0.1:1\"", p),
        Err(ConfigError::Parse { .. })
    ));
    assert!(matches!(
        Config::from_toml("[limits]\nper_ip = 3", p),
        Err(ConfigError::Parse { .. })
    ));
    assert!(matches!(
        Config::from_toml("token_ttl_secs = \"soon\"", p),
        Err(ConfigError::Parse { .. })
    ));
    let env = env_of(&[("VAULT_SERVER_LISTEN", "not an address")]);
    assert!(matches!(
        Config::load(None, &env, &Overrides::default()),
        Err(ConfigError::Env {
            var: "VAULT_SERVER_LISTEN",
            ..
        })
    ));
    let env = env_of(&[("VAULT_SERVER_INVITE_TTL_SECS", "7200")]);
    assert!(matches!(
        Config::load(None, &env, &Overrides::default()),
        Err(ConfigError::Invalid { .. })
    ));
    for (var, key) in [
        ("VAULT_SERVER_MAX_BATCH_RECORDS", "limits.max_batch_records"),
        (
            "VAULT_SERVER_MAX_RECORDS_BODY_BYTES",
            "limits.max_records_body_bytes",
        ),
        ("VAULT_SERVER_MAX_CHANGES_PAGE", "limits.max_changes_page"),
    ] {
        let pairs = [(var, "0")];
        let env = env_of(&pairs);
        assert!(
            matches!(
                Config::load(None, &env, &Overrides::default()),
                Err(ConfigError::Invalid { key: k, .. }) if k == key
            ),
            "{var}=0"
        );
    }
    let env = env_of(&[("VAULT_SERVER_MAX_BATCH_RECORDS", "7")]);
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    assert_eq!(c.limits.max_batch_records, 7);
}

#[test]
fn printed_config_parses_back_to_itself() {
    let c = Config::default();
    assert_eq!(Config::from_toml(&c.to_toml(), Path::new("-")).unwrap(), c);
}

#[test]
fn unknown_server_variables_are_named() {
    assert_eq!(
        Config::unknown_env(["PATH", "VAULT_SERVER_DB", "VAULT_SERVER_CONFIG"]),
        None
    );
    assert_eq!(
        Config::unknown_env(["VAULT_SERVER_LISTEN", "VAULT_SERVER_LISEN"]),
        Some("VAULT_SERVER_LISEN")
    );
    // Every variable the documentation's pattern gives is known.
    for name in [
        "VAULT_SERVER_REGISTRATION",
        "VAULT_SERVER_METRICS_LISTEN",
        "VAULT_SERVER_METRICS_PUBLIC",
        "VAULT_SERVER_PURGE_INTERVAL_SECS",
        "VAULT_SERVER_PER_DEVICE_PER_SEC",
        "VAULT_SERVER_TLS_CERT",
    ] {
        assert_eq!(Config::unknown_env([name]), None, "{name}");
    }
}

#[test]
fn quotas_come_from_the_file_or_the_environment_and_unknown_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[quotas]\nmax_records = 100\n").unwrap();
    let env = env_of(&[("VAULT_SERVER_QUOTAS_MAX_BYTES", "5000")]);
    let c = Config::load(Some(&path), &env, &Overrides::default()).unwrap();
    assert_eq!(
        (
            c.quotas.max_devices,
            c.quotas.max_records,
            c.quotas.max_bytes
        ),
        (64, 100, 5000)
    );
    std::fs::write(&path, "[quotas]\nmax_items = 100\n").unwrap();
    assert!(matches!(
        Config::load(Some(&path), &env_of(&[]), &Overrides::default()),
        Err(ConfigError::Parse { .. })
    ));
    let bad = env_of(&[("VAULT_SERVER_QUOTAS_MAX_DEVICES", "many")]);
    assert!(Config::load(None, &bad, &Overrides::default()).is_err());
}

#[test]
fn a_postgres_url_selects_postgres_and_its_password_is_never_printed() {
    let c = Config::from_toml(
        "db = \"postgres://vault:hunter2@db.internal:5432/vault\"\n",
        Path::new("f.toml"),
    )
    .unwrap();
    let Database::Postgres(url) = &c.db else {
        panic!("{:?}", c.db)
    };
    assert_eq!(
        url.expose(),
        "postgres://vault:hunter2@db.internal:5432/vault"
    );
    for shown in [c.to_toml(), format!("{c:?}"), c.db.to_string()] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.internal:5432/vault"), "{shown}");
    }
    let env: HashMap<&str, &str> = [("VAULT_SERVER_DB", "postgresql://u@h/d")].into();
    let c = Config::load(
        None,
        &|k| env.get(k).map(|v| (*v).to_owned()),
        &Overrides::default(),
    )
    .unwrap();
    assert!(matches!(c.db, Database::Postgres(_)));
    // A URL that does not parse is refused by name, without echoing it.
    let e = Config::from_toml(
        "listen = \"127.0.0.1:1\"\ndb = \"postgres://u:pw@h:x/d\"\n",
        Path::new("f.toml"),
    )
    .unwrap_err();
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain += &format!(": {s}");
        source = s.source();
    }
    assert!(chain.contains("PostgreSQL URL"), "{chain}");
    assert!(chain.contains("line 2"), "{chain}");
    assert!(!chain.contains("pw@"), "{chain}");
}

#[test]
fn postgres_pool_sizes_come_from_the_file_or_the_environment_within_range() {
    let c = Config::from_toml("[postgres]\npool_size = 4\n", Path::new("f.toml")).unwrap();
    assert_eq!((c.postgres.pool_size, c.postgres.relaxed_pool_size), (4, 8));
    let env: HashMap<&str, &str> = [("VAULT_SERVER_POSTGRES_RELAXED_POOL_SIZE", "2")].into();
    let c = Config::load(
        None,
        &|k| env.get(k).map(|v| (*v).to_owned()),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.postgres.relaxed_pool_size, 2);
    let env: HashMap<&str, &str> = [("VAULT_SERVER_POSTGRES_POOL_SIZE", "0")].into();
    let e = Config::load(
        None,
        &|k| env.get(k).map(|v| (*v).to_owned()),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("pool_size"), "{e}");
}
