//! Prometheus metrics: requests by matched route, method and status, their
//! latency by route, open WebSockets, records saved and push
//! conflicts, refused registrations and quota refusals, manifest
//! divergence, refused connections, and the circle, device, record and
//! byte gauges (read from the database at each scrape). Every label takes
//! values from a fixed set.

use crate::error::ApiError;
use crate::storage::{Counts, QuotaKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The labels of `vault_http_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route template (`/v1/circles/{circle_id}/log`), or
    /// `unmatched`: never a concrete path, so ids stay out of metrics.
    pub route: String,
    /// The HTTP method: one of the standard ones, else `other` (a client
    /// must not grow the label set).
    pub method: String,
    /// The response status.
    pub status: u16,
}

/// The label of `vault_http_request_duration_seconds`: the route alone
/// (one histogram is 19 series; per method and status too would be many).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route template, or `unmatched`.
    pub route: String,
}

/// The label of `vault_quota_refusals_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QuotaLabels {
    /// `devices`, `records` or `bytes`.
    pub quota: String,
}

/// The label of `vault_connections_refused_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `per_ip` (the address has its cap of connections open) or `global`.
    pub reason: String,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRefusal {
    /// The client's address has `max_connections_per_ip` open.
    PerIp,
    /// The server has `max_connections` open.
    Global,
}

impl ConnRefusal {
    fn label(self) -> &'static str {
        match self {
            ConnRefusal::PerIp => "per_ip",
            ConnRefusal::Global => "global",
        }
    }
}

/// A latency histogram: 0.5 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    websockets: Gauge,
    records_saved: Counter,
    record_conflicts: Counter,
    registration_refusals: Counter,
    manifest_divergence: Counter,
    quota_refusals: Family<QuotaLabels, Counter>,
    connections_refused: Family<RefusalLabels, Counter>,
    connections: Gauge,
    circles: Gauge,
    devices: Gauge,
    records: Gauge,
    bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let websockets = Gauge::default();
        let records_saved = Counter::default();
        let record_conflicts = Counter::default();
        let registration_refusals = Counter::default();
        let manifest_divergence = Counter::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let quota_refusals = Family::<QuotaLabels, Counter>::default();
        let connections_refused = Family::<RefusalLabels, Counter>::default();
        let connections = Gauge::default();
        let circles = Gauge::default();
        let devices = Gauge::default();
        let records = Gauge::default();
        let bytes = Gauge::default();
        // Every label value exists from the start: a scrape shows 0, not
        // nothing, before the first refusal.
        for kind in QuotaKind::ALL {
            drop(quota_refusals.get_or_create(&QuotaLabels {
                quota: kind.as_str().to_owned(),
            }));
        }
        for reason in [ConnRefusal::PerIp, ConnRefusal::Global] {
            drop(connections_refused.get_or_create(&RefusalLabels {
                reason: reason.label().to_owned(),
            }));
        }
        // The text encoder appends `_total` to a counter's name.
        registry.register(
            "vault_http_requests",
            "HTTP requests by matched route, method and status",
            requests.clone(),
        );
        registry.register(
            "vault_http_request_duration_seconds",
            "Time from a request's arrival to its response's head, by matched route",
            latency.clone(),
        );
        registry.register(
            "vault_websockets_open",
            "WebSocket connections open now",
            websockets.clone(),
        );
        registry.register(
            "vault_records_saved",
            "Sync records saved by pushes",
            records_saved.clone(),
        );
        registry.register(
            "vault_record_conflicts",
            "Pushed sync records refused as conflicts",
            record_conflicts.clone(),
        );
        registry.register(
            "vault_registration_refusals",
            "Circle registrations refused by the registration policy",
            registration_refusals.clone(),
        );
        registry.register(
            "vault_manifest_divergence",
            "Signed manifests whose root differs from another current member's at the same token",
            manifest_divergence.clone(),
        );
        registry.register(
            "vault_quota_refusals",
            "Pushes and appends refused because a circle's quota would be exceeded, by quota",
            quota_refusals.clone(),
        );
        registry.register(
            "vault_connections_refused",
            "Connections closed at accept because a connection cap was reached",
            connections_refused.clone(),
        );
        registry.register(
            "vault_connections_open",
            "HTTP connections open now (WebSockets included)",
            connections.clone(),
        );
        registry.register("vault_circles", "Circles stored", circles.clone());
        registry.register(
            "vault_devices",
            "Current members across all circles",
            devices.clone(),
        );
        registry.register(
            "vault_records_stored",
            "Live records across all circles",
            records.clone(),
        );
        registry.register(
            "vault_stored_bytes",
            "Ciphertext bytes of the records stored across all circles",
            bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            websockets,
            records_saved,
            record_conflicts,
            registration_refusals,
            manifest_divergence,
            latency,
            quota_refusals,
            connections_refused,
            connections,
            circles,
            devices,
            records,
            bytes,
        }
    }

    /// Counts one finished request and records its latency.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method).to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a push or append refused by a quota (other errors: nothing).
    pub fn refused(&self, e: &ApiError) {
        if let ApiError::QuotaExceeded(q) = e {
            self.quota_refusals
                .get_or_create(&QuotaLabels {
                    quota: q.kind.as_str().to_owned(),
                })
                .inc();
        }
    }

    /// A connection was closed at accept.
    pub fn connection_refused(&self, why: ConnRefusal) {
        self.connections_refused
            .get_or_create(&RefusalLabels {
                reason: why.label().to_owned(),
            })
            .inc();
    }

    /// A connection was accepted (`true`) or closed (`false`).
    pub fn connection(&self, opened: bool) {
        if opened {
            self.connections.inc();
        } else {
            self.connections.dec();
        }
    }

    /// Counts the outcome of one push.
    pub fn records_pushed(&self, saved: u64, conflicts: u64) {
        self.records_saved.inc_by(saved);
        self.record_conflicts.inc_by(conflicts);
    }

    /// A circle registration was refused (closed, no token or a bad one).
    pub fn registration_refused(&self) {
        self.registration_refusals.inc();
    }

    /// Two current members signed different roots at the same token.
    pub fn manifest_divergence(&self) {
        self.manifest_divergence.inc();
    }

    /// A WebSocket opened.
    pub fn socket_opened(&self) {
        self.websockets.inc();
    }

    /// A WebSocket closed.
    pub fn socket_closed(&self) {
        self.websockets.dec();
    }

    /// WebSockets open now.
    pub fn sockets_open(&self) -> i64 {
        self.websockets.get()
    }

    /// The text exposition, with the gauges set from `counts`.
    pub fn render(&self, counts: Counts) -> Result<String, std::fmt::Error> {
        self.circles
            .set(i64::try_from(counts.circles).unwrap_or(i64::MAX));
        self.devices
            .set(i64::try_from(counts.devices).unwrap_or(i64::MAX));
        self.records
            .set(i64::try_from(counts.records).unwrap_or(i64::MAX));
        self.bytes
            .set(i64::try_from(counts.bytes).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(to_prometheus_text(&out))
    }
}

/// A method as a label: the standard ones as they are, anything else
/// `other`, so the label set stays fixed whatever clients send.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// The content type of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Turns `prometheus-client`'s OpenMetrics text into the Prometheus text
/// format 0.0.4 that PROTOCOL.md promises: a counter's `HELP`/`TYPE` lines
/// name its `_total` samples, and there is no `# EOF` or `# UNIT` line.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exposition_names_every_metric() {
        let m = Metrics::new();
        m.request("/healthz", "GET", 200, Duration::from_millis(3));
        m.socket_opened();
        m.records_pushed(3, 1);
        m.refused(&ApiError::QuotaExceeded(crate::storage::QuotaExceeded {
            kind: QuotaKind::Records,
            limit: 1,
            would_be: 2,
        }));
        m.refused(&ApiError::Unauthorized);
        m.connection_refused(ConnRefusal::PerIp);
        let text = m
            .render(Counts {
                circles: 3,
                devices: 5,
                records: 7,
                bytes: 11,
            })
            .unwrap();
        assert!(
            text.contains(
                "vault_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("vault_websockets_open 1"), "{text}");
        assert!(text.contains("vault_records_saved_total 3"), "{text}");
        assert!(text.contains("vault_record_conflicts_total 1"), "{text}");
        assert!(text.contains("vault_circles 3"), "{text}");
        assert!(text.contains("vault_devices 5"), "{text}");
        assert!(text.contains("vault_records_stored 7"), "{text}");
        assert!(text.contains("vault_stored_bytes 11"), "{text}");
        assert!(
            text.contains("vault_quota_refusals_total{quota=\"records\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("vault_quota_refusals_total{quota=\"bytes\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("vault_connections_refused_total{reason=\"per_ip\"} 1"),
            "{text}"
        );
        // 3 ms falls in the 4 ms bucket and above, not the 2 ms one.
        assert!(
            text.contains(
                "vault_http_request_duration_seconds_bucket{le=\"0.002\",route=\"/healthz\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "vault_http_request_duration_seconds_bucket{le=\"0.004\",route=\"/healthz\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("vault_http_request_duration_seconds_count{route=\"/healthz\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE vault_http_requests_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP vault_http_requests_total "), "{text}");
        assert!(text.contains("# TYPE vault_devices gauge\n"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
}
