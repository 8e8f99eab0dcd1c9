//! Prometheus counters, text format.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Request and migration counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    started: Mutex<u64>,
}

impl Metrics {
    /// Counts a response. Labels are bounded: a method outside the standard ones counts as
    /// `OTHER` (a client may send any token as a method).
    pub fn request(&self, method: &str, status: u16) {
        const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
        let method = KNOWN
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("OTHER");
        *self
            .requests
            .lock()
            .expect("metrics")
            .entry((method.to_string(), status))
            .or_default() += 1;
    }
    /// Counts a started or resumed migration.
    pub fn migration_started(&self) {
        *self.started.lock().expect("metrics") += 1;
    }
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::from("# TYPE migrator_http_requests_total counter\n");
        for ((m, s), n) in self.requests.lock().expect("metrics").iter() {
            out.push_str(&format!(
                "migrator_http_requests_total{{method=\"{m}\",status=\"{s}\"}} {n}\n"
            ));
        }
        out.push_str("# TYPE migrator_migrations_started_total counter\n");
        out.push_str(&format!(
            "migrator_migrations_started_total {}\n",
            self.started.lock().expect("metrics")
        ));
        out
    }
}
