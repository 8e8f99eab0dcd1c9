//! The process's metrics recorder: `metrics-exporter-prometheus` installed once (with the
//! histograms' buckets and every metric of [`migrator_core::metrics`] described), and the
//! rendering the api and the worker serve on `/metrics`, the process's own figures
//! (`process_*`, by `metrics-process`) read at each scrape.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use migrator_core::metrics::{describe, MIGRATION_DURATION, MIGRATION_SECONDS, SECONDS};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed (with every metric described) on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(MIGRATION_DURATION.into()), &MIGRATION_SECONDS)
            .expect("buckets are not empty")
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // a second recorder in the process (another library's) wins; ours still renders
        let _ = metrics::set_global_recorder(recorder);
        describe();
        PROCESS.describe();
        handle
    })
}

/// The process's own figures (CPU seconds, resident memory, open file descriptors, threads,
/// start time) under the Prometheus client conventions' names (`process_*`), by the
/// well-kept `metrics-process` crate.
static PROCESS: std::sync::LazyLock<metrics_process::Collector> =
    std::sync::LazyLock::new(metrics_process::Collector::default);

/// Everything recorded so far, in Prometheus text format (the process's figures read now).
pub fn render() -> String {
    let h = handle();
    PROCESS.collect();
    h.render()
}
