//! [`MetricsCrate`]: roam's [`Metrics`] hooks recorded through the `metrics` crate's global
//! recorder (Prometheus, StatsD, … via its exporters). Enabled by the `metrics` feature.

use super::metrics::{CallRecord, Metrics};

/// Records into the `metrics` crate's recorder:
///
/// | name | kind | labels |
/// |---|---|---|
/// | `roam_calls_total` | counter | `service`, `method`, `outcome` |
/// | `roam_call_errors_total` | counter (outcomes other than `ok`) | `service`, `method`, `code` |
/// | `roam_call_duration_seconds` | histogram | `service`, `method` |
/// | `roam_request_bytes_total`, `roam_response_bytes_total` | counter | `service`, `method` |
/// | `roam_sessions_open`, `roam_channels_open` | gauge | |
///
/// ```no_run
/// # #[roam::service] trait Calculator { async fn add(&self, a: i32, b: i32) -> i32; }
/// # struct Calc; impl Calculator for Calc { async fn add(&self, a: i32, b: i32) -> i32 { a + b } }
/// # async fn demo() -> Result<(), roam::ConnectError> {
/// let server = roam::Server::bind("tcp://127.0.0.1:0").await?
///     .metrics(roam::intercept::MetricsCrate)
///     .serve(CalculatorDispatcher::new(Calc));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsCrate;

impl Metrics for MetricsCrate {
    fn call(&self, r: &CallRecord<'_>) {
        let (service, method) = (r.service, r.method);
        metrics::counter!("roam_calls_total", "service" => service, "method" => method, "outcome" => r.outcome.as_str())
            .increment(1);
        if !r.outcome.is_ok() {
            metrics::counter!("roam_call_errors_total", "service" => service, "method" => method, "code" => r.outcome.as_str())
                .increment(1);
        }
        metrics::histogram!("roam_call_duration_seconds", "service" => service, "method" => method)
            .record(r.duration.as_secs_f64());
        metrics::counter!("roam_request_bytes_total", "service" => service, "method" => method)
            .increment(r.request_bytes as u64);
        metrics::counter!("roam_response_bytes_total", "service" => service, "method" => method)
            .increment(r.response_bytes as u64);
    }

    fn session_opened(&self) {
        metrics::gauge!("roam_sessions_open").increment(1.0);
    }

    fn session_closed(&self) {
        metrics::gauge!("roam_sessions_open").decrement(1.0);
    }

    fn channels_opened(&self, n: usize) {
        metrics::gauge!("roam_channels_open").increment(n as f64);
    }

    fn channels_closed(&self, n: usize) {
        metrics::gauge!("roam_channels_open").decrement(n as f64);
    }
}
