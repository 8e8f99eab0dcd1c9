//! The table `make bench` prints, and the small statistics behind it.

/// One row: figure, ours, raw limit, ratio.
pub struct Row(pub String, pub String, pub String, pub String);

impl Row {
    /// A figure without a raw limit to compare with.
    pub fn plain(figure: impl Into<String>, ours: impl Into<String>) -> Self {
        Row(figure.into(), ours.into(), "—".into(), "—".into())
    }
}

/// The `p` quantile (0..=1) of `v`, nearest rank.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// An RFC 3339 timestamp of an api body.
fn timestamp(at: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let s = at
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp, not {at}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&chrono::Utc)
}

/// Seconds between two timestamps of an admin view's run.
pub fn secs_between(v: &serde_json::Value, a: &str, b: &str) -> f64 {
    let (a, b) = (timestamp(&v["run"][a]), timestamp(&v["run"][b]));
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// Milliseconds from `t` to the timestamp `at`.
pub fn since(t: chrono::DateTime<chrono::Utc>, at: &serde_json::Value) -> f64 {
    (timestamp(at) - t).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

/// The table, then the CPU of each window.
pub fn print_table(rows: &[Row], cpu: &[String]) {
    println!("| figure | ours | raw limit (same run) | ratio |");
    println!("|---|---|---|---|");
    for Row(a, b, c, d) in rows {
        println!("| {a} | {b} | {c} | {d} |");
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("\nCPU during each measured window, in cores of {cores} (1.00 = one core busy throughout):\n");
    for l in cpu {
        println!("- {l}");
    }
}
