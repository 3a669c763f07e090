//! `GET /healthz`: `{"status":"ok"}` while the server's database answers
//! (a 503 error otherwise).

use serde::{Deserialize, Serialize};

/// `GET /healthz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always `ok` (a failing server answers with an error instead).
    pub status: String,
}

impl HealthResponse {
    /// The only answer: `{"status":"ok"}`.
    pub fn ok() -> HealthResponse {
        HealthResponse {
            status: "ok".to_owned(),
        }
    }

    /// Whether the server says it is healthy.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn health_is_pinned() {
        let text = serde_json::to_string(&HealthResponse::ok()).unwrap();
        assert_eq!(text, r#"{"status":"ok"}"#);
        assert!(
            serde_json::from_str::<HealthResponse>(&text)
                .unwrap()
                .is_ok()
        );
    }
}
