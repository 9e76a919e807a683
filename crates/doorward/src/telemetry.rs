//! Logs and metrics. Logs: `tracing`, text or JSON, filtered by `RUST_LOG`
//! (default `info`). Metrics: a Prometheus recorder rendered at `/metrics`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Install the global log subscriber (once; later calls are no-ops).
pub fn init_logs(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal, never in files or log shippers.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// The process-wide Prometheus recorder. `metrics` has one global recorder
/// per process, so this is the one place that holds it; several apps in one
/// test process share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("doorward_http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// Count and time every request by route template (never the raw path,
/// which could hold ids or tokens). Every label is a `&'static str`, so
/// labelling a request allocates nothing (owned label strings were six
/// allocations per request).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| interned(p.as_str()));
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let status = status_label(res.status());
    metrics::counter!("doorward_http_requests_total", "method" => method, "route" => route, "status" => status).increment(1);
    metrics::histogram!("doorward_http_request_duration_seconds", "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    res
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_label(status: StatusCode) -> &'static str {
    // `as_str` of a known code is a constant; the router answers no other.
    match status.as_u16() {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        301 => "301",
        302 => "302",
        303 => "303",
        304 => "304",
        307 => "307",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        410 => "410",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        code if code < 200 => "1xx",
        code if code < 300 => "2xx",
        code if code < 400 => "3xx",
        code if code < 500 => "4xx",
        _ => "5xx",
    }
}

/// A route template as a `&'static str`: each distinct template (a fixed,
/// small set: the router's own) is leaked once.
fn interned(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(known) = routes.read().ok().and_then(|r| r.get(route).copied()) {
        return known;
    }
    let Ok(mut routes) = routes.write() else {
        return "unmatched";
    };
    routes
        .entry(route.into())
        .or_insert_with(|| Box::leak(route.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_codes_and_names() {
        assert_eq!(status_label(StatusCode::OK), "200");
        assert_eq!(status_label(StatusCode::TOO_MANY_REQUESTS), "429");
        assert_eq!(status_label(StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let a = interned("/v1/me");
        assert_eq!(a, "/v1/me");
        assert!(std::ptr::eq(a, interned("/v1/me")), "leaked once");
    }
}
