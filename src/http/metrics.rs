//! Request metrics and the gauges of `GET /metrics`, with the Prometheus
//! project's own Rust client (typed label sets) in the Prometheus text
//! format. Every label comes from a closed set: the method is one of the
//! known ones or `other`, the route is a registered route pattern or
//! `unmatched` (never a raw path), the status a status code. A flood of
//! made-up methods and paths adds no series.

use std::collections::HashSet;
use std::sync::{OnceLock, RwLock};

use actix_web::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const BUCKETS: [f64; 9] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5];

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum MethodLabel {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Other,
}

impl MethodLabel {
    pub fn of(m: &Method) -> MethodLabel {
        match *m {
            Method::GET => MethodLabel::Get,
            Method::POST => MethodLabel::Post,
            Method::PUT => MethodLabel::Put,
            Method::PATCH => MethodLabel::Patch,
            Method::DELETE => MethodLabel::Delete,
            Method::HEAD => MethodLabel::Head,
            Method::OPTIONS => MethodLabel::Options,
            _ => MethodLabel::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MethodLabel::Get => "GET",
            MethodLabel::Post => "POST",
            MethodLabel::Put => "PUT",
            MethodLabel::Patch => "PATCH",
            MethodLabel::Delete => "DELETE",
            MethodLabel::Head => "HEAD",
            MethodLabel::Options => "OPTIONS",
            MethodLabel::Other => "other",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, e: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), e)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: MethodLabel,
    route: &'static str,
}

/// Route patterns seen so far, interned: actix only ever reports a
/// registered pattern, so the set is as small as the route table; the cap
/// is a second fence, not the first.
fn interned() -> &'static RwLock<HashSet<&'static str>> {
    static SEEN: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

const MAX_ROUTES: usize = 256;

/// The `route` label for a request: its matched pattern, or `unmatched`.
pub fn route_label(pattern: Option<String>) -> &'static str {
    let Some(pattern) = pattern else {
        return "unmatched";
    };
    if let Some(known) = interned()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(pattern.as_str())
    {
        return known;
    }
    let mut seen = interned().write().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.get(pattern.as_str()) {
        return known;
    }
    if seen.len() >= MAX_ROUTES {
        return "unmatched";
    }
    let leaked: &'static str = Box::leak(pattern.into_boxed_str());
    seen.insert(leaked);
    leaked
}

type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct RequestMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Histograms,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Histograms = Family::new_with_constructor(histogram);
        let mut registry = Registry::default();
        registry.register(
            "molecule_http_requests",
            "Requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "molecule_http_request_duration_seconds",
            "Time to answer, by method and route",
            durations.clone(),
        );
        RequestMetrics {
            registry,
            requests,
            durations,
        }
    }
}

impl RequestMetrics {
    pub fn observe(&self, method: MethodLabel, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { method, route, status })
            .inc();
        self.durations
            .get_or_create(&RouteLabels { method, route })
            .observe(seconds);
    }

    /// The request metrics, in the Prometheus text format.
    pub fn render(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::prometheus_text::encode(out, &self.registry)
    }
}

/// Gauges and counters read at scrape time.
#[derive(Default)]
pub struct Snapshot {
    registry: Registry,
}

type Pairs = Vec<(&'static str, String)>;

impl Snapshot {
    /// One gauge family: samples of `(label name, label value) → value`,
    /// or a single unlabelled sample when `label` is `None`.
    pub fn gauge(&mut self, name: &str, help: &str, label: Option<&'static str>, samples: &[(String, i64)]) {
        let family = Family::<Pairs, Gauge>::default();
        for (value, n) in samples {
            let pairs = match label {
                Some(k) => vec![(k, value.clone())],
                None => vec![],
            };
            family.get_or_create(&pairs).set(*n);
        }
        self.registry.register(name, help, family);
    }

    /// A counter family read at scrape time (its value kept elsewhere).
    pub fn counter(&mut self, name: &str, help: &str, label: &'static str, samples: &[(String, u64)]) {
        let family = Family::<Pairs, Counter>::default();
        for (value, n) in samples {
            family.get_or_create(&vec![(label, value.clone())]).inc_by(*n);
        }
        self.registry.register(name, help, family);
    }

    pub fn render(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::prometheus_text::encode(out, &self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_and_paths_add_no_series() {
        let m = RequestMetrics::default();
        for i in 0..1000 {
            let method = Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
            m.observe(MethodLabel::of(&method), route_label(None), 405, 0.001);
        }
        m.observe(
            MethodLabel::Get,
            route_label(Some("/workspaces/{id}".into())),
            200,
            0.001,
        );
        let mut out = String::new();
        m.render(&mut out).unwrap();
        assert!(
            out.contains(r#"molecule_http_requests_total{method="other",route="unmatched",status="405"} 1000"#),
            "{out}"
        );
        assert!(out.contains(r#"molecule_http_requests_total{method="GET",route="/workspaces/{id}",status="200"} 1"#));
        assert!(out.len() < 4096, "{} bytes", out.len());
    }
}
