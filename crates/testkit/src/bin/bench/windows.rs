//! What the machine spent: CPU by role over each measured window (from `/proc`) and an optional
//! perf profile of the window.

use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// CPU seconds (user + system) used so far by the processes on the machine, by role, from
/// `/proc/<pid>/stat` (live processes only), and the machine's total from `/proc/stat`. Roles
/// by command name: dynalite runs on node.
fn cpu_by_role() -> std::collections::BTreeMap<&'static str, f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut m = std::collections::BTreeMap::new();
    // the whole machine (every process, exited ones included): busy jiffies from /proc/stat
    if let Some(cpu) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
    {
        let v: Vec<f64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| v.get(*i)).sum();
        m.insert("machine", busy / tick);
    }
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let secs = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / tick;
        // fields after the comm: state is index 0, utime index 11, stime index 12
        let used = secs(11) + secs(12);
        let role = match comm {
            "node" => "dynalite",
            "postgres" => "postgres",
            "beam.smp" | "erl_child_setup" | "epmd" => "rabbitmq",
            "migrator-worker" => "workers",
            "bench" => "api+harness",
            // wrk and pgbench exit inside their windows: they count in `machine` only
            _ => continue,
        };
        *m.entry(role).or_insert(0.0) += used;
    }
    m
}

/// CPU use over a measured window, per role, in cores (1.0 = one core busy throughout); with
/// `BENCH_PROFILE=dir`, also a system-wide `perf record` of the window to `dir/<name>.data`.
pub struct Window {
    name: String,
    start: Instant,
    cpu: std::collections::BTreeMap<&'static str, f64>,
    perf: Option<Child>,
}

impl Window {
    pub fn open(name: impl Into<String>) -> Self {
        let name = name.into();
        let perf = std::env::var("BENCH_PROFILE").ok().map(|dir| {
            std::fs::create_dir_all(&dir).expect("profile dir");
            Command::new("perf")
                .args(["record", "-a", "-e", "cpu-clock", "-F", "999", "-q", "-o"])
                .arg(format!("{dir}/{name}.data"))
                .stdout(Stdio::null())
                .spawn()
                .expect("perf (Debian linux-perf)")
        });
        Window {
            name,
            start: Instant::now(),
            cpu: cpu_by_role(),
            perf,
        }
    }

    /// "dynalite 0.97, postgres 0.55, …" (cores), busiest first.
    pub fn close(self) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let end = cpu_by_role();
        if let Some(mut p) = self.perf {
            let _ = Command::new("kill")
                .args(["-INT", &p.id().to_string()])
                .status();
            let _ = p.wait();
        }
        let mut v: Vec<(&str, f64)> = end
            .iter()
            .map(|(k, e)| (*k, (e - self.cpu.get(k).copied().unwrap_or(0.0)) / secs))
            .filter(|(_, c)| *c >= 0.01)
            .collect();
        v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        let list: Vec<String> = v.iter().map(|(k, c)| format!("{k} {c:.2}")).collect();
        format!("{}: {}", self.name, list.join(", "))
    }
}
