//! Prometheus metrics: requests by matched route, method and status, open
//! WebSockets, records saved and push conflicts, refused registrations,
//! and the circle and device gauges (read from the database at each
//! scrape).

use crate::storage::Counts;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    websockets: Gauge,
    records_saved: Counter,
    record_conflicts: Counter,
    registration_refusals: Counter,
    manifest_divergence: Counter,
    circles: Gauge,
    devices: Gauge,
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
        let circles = Gauge::default();
        let devices = Gauge::default();
        // The text encoder appends `_total` to a counter's name.
        registry.register(
            "vault_http_requests",
            "HTTP requests by matched route, method and status",
            requests.clone(),
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
        registry.register("vault_circles", "Circles stored", circles.clone());
        registry.register(
            "vault_devices",
            "Current members across all circles",
            devices.clone(),
        );
        Metrics {
            registry,
            requests,
            websockets,
            records_saved,
            record_conflicts,
            registration_refusals,
            manifest_divergence,
            circles,
            devices,
        }
    }

    /// Counts one finished request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method).to_owned(),
                status,
            })
            .inc();
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
        m.request("/healthz", "GET", 200);
        m.socket_opened();
        m.records_pushed(3, 1);
        let text = m
            .render(Counts {
                circles: 3,
                devices: 5,
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
        assert!(
            text.contains("# TYPE vault_http_requests_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP vault_http_requests_total "), "{text}");
        assert!(text.contains("# TYPE vault_devices gauge\n"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
}
