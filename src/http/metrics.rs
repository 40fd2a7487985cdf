//! Request metrics, rendered with the gauges by `GET /metrics` in the
//! Prometheus text format. Labels are route patterns (`/workspaces/{id}`),
//! never raw paths, so ids and tokens cannot leak in and cardinality stays
//! bounded.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 9] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Series by route, then by (method, status). Looked up by borrowed keys,
/// so a request allocates nothing here once its series exists.
#[derive(Default)]
pub struct RequestMetrics {
    series: Mutex<HashMap<String, ByMethodAndStatus>>,
}

type ByMethodAndStatus = HashMap<(String, u16), Series>;

impl RequestMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        if !all.contains_key(route) {
            all.insert(route.to_string(), HashMap::new());
        }
        let Some(by_status) = all.get_mut(route) else {
            return;
        };
        let s = match by_status.iter_mut().find(|((m, st), _)| *st == status && m == method) {
            Some((_, s)) => s,
            None => by_status.entry((method.to_string(), status)).or_default(),
        };
        s.count += 1;
        s.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, out: &mut String) {
        let guard = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let all: BTreeMap<(&str, &str, u16), &Series> = guard
            .iter()
            .flat_map(|(r, by)| by.iter().map(move |((m, st), s)| ((m.as_str(), r.as_str(), *st), s)))
            .collect();
        out.push_str("# HELP molecule_http_requests_total Requests answered, by method, route and status.\n");
        out.push_str("# TYPE molecule_http_requests_total counter\n");
        for ((m, r, st), s) in all.iter() {
            let _ = writeln!(
                out,
                "molecule_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP molecule_http_request_duration_seconds Time to answer, by method and route.\n");
        out.push_str("# TYPE molecule_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), (u64, f64, [u64; BUCKETS.len()])> = BTreeMap::new();
        for ((m, r, _), s) in all.iter() {
            let e = by_route.entry((m, r)).or_insert((0, 0.0, [0; BUCKETS.len()]));
            e.0 += s.count;
            e.1 += s.sum;
            for (i, b) in s.buckets.iter().enumerate() {
                e.2[i] += b;
            }
        }
        for ((m, r), (count, sum, buckets)) in by_route {
            let labels = format!("method=\"{m}\",route=\"{r}\"");
            for (le, n) in BUCKETS.iter().zip(buckets) {
                let _ = writeln!(
                    out,
                    "molecule_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "molecule_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "molecule_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "molecule_http_request_duration_seconds_count{{{labels}}} {count}");
        }
    }
}

/// Appends one gauge or counter family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}
