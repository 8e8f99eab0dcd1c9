//! What keeps the demo from hanging: the processes `scripts/demo.sh` started (each named, with
//! its pid and log file) and the fleet's own liveness as operators see it (`GET /admin/fleet`,
//! `workers_live`). Each check ends the demo with one line naming what stopped and where its
//! log is.

use anyhow::bail;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A process the demo started: `name=pid=log`, e.g. `worker=4242=var/log/worker.log`.
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl std::str::FromStr for Watched {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, '=');
        let (Some(name), Some(pid), Some(log)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{s:?}: expected name=pid=log"));
        };
        Ok(Self {
            name: name.to_string(),
            pid: pid.parse().map_err(|e| format!("{s:?}: pid: {e}"))?,
            log: PathBuf::from(log),
        })
    }
}

impl Watched {
    /// Alive: `/proc/<pid>` exists and the process is not a zombie (a child that exited and
    /// has not been reaped by the script yet).
    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            // the state follows the command name in parentheses, which may hold spaces
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().to_string())
            })
            .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
    }

    /// The log's last non-empty line, shortened: what the process said last.
    fn last_words(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let last: String = last.chars().take(200).collect();
        if last.is_empty() {
            "(the log is empty)".into()
        } else {
            last
        }
    }
}

/// The watcher: the processes and how long the fleet may have no live worker.
pub struct Watch {
    pub processes: Vec<Watched>,
    /// How long `workers_live` may stay 0 before the demo gives up.
    pub no_worker_grace: Duration,
    since_no_worker: Option<Instant>,
}

impl Watch {
    pub fn new(processes: Vec<Watched>, no_worker_grace: Duration) -> Self {
        Self {
            processes,
            no_worker_grace,
            since_no_worker: None,
        }
    }

    /// Fails with one line when a watched process has exited.
    pub fn processes_alive(&self) -> anyhow::Result<()> {
        if let Some(dead) = self.processes.iter().find(|p| !p.alive()) {
            bail!(
                "the {} (pid {}) has exited; its log is {} — last line: {}",
                dead.name,
                dead.pid,
                dead.log.display(),
                dead.last_words()
            );
        }
        Ok(())
    }

    /// Records the fleet's `workers_live`; fails with one line once it has been 0 for longer
    /// than the grace, naming the workers' logs.
    pub fn fleet(&mut self, workers_live: Option<i64>) -> anyhow::Result<()> {
        match workers_live {
            Some(0) => {
                let since = *self.since_no_worker.get_or_insert_with(Instant::now);
                if since.elapsed() > self.no_worker_grace {
                    let logs: Vec<String> = self
                        .processes
                        .iter()
                        .filter(|p| p.name.contains("worker"))
                        .map(|p| p.log.display().to_string())
                        .collect();
                    bail!(
                        "no worker is live (GET /admin/fleet: workers_live = 0 for {} s); the \
                         workers' logs: {}",
                        self.no_worker_grace.as_secs(),
                        if logs.is_empty() {
                            "(none started by the demo)".into()
                        } else {
                            logs.join(", ")
                        }
                    );
                }
            }
            _ => self.since_no_worker = None,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_process_is_parsed_from_name_pid_log() {
        let w: Watched = "worker=42=var/log/worker.log".parse().unwrap();
        assert_eq!((w.name.as_str(), w.pid), ("worker", 42));
        assert_eq!(w.log, PathBuf::from("var/log/worker.log"));
        assert!("worker=x=log".parse::<Watched>().is_err());
        assert!("worker".parse::<Watched>().is_err());
    }

    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        let me = Watched {
            name: "me".into(),
            pid: std::process::id(),
            log: "x".into(),
        };
        assert!(me.alive());
        let gone = Watched {
            pid: u32::MAX - 1,
            ..me
        };
        assert!(!gone.alive());
    }

    #[test]
    fn no_live_worker_fails_only_after_the_grace() {
        let mut w = Watch::new(Vec::new(), Duration::from_millis(50));
        w.fleet(Some(0)).unwrap();
        w.fleet(Some(1)).unwrap();
        w.fleet(Some(0)).unwrap();
        std::thread::sleep(Duration::from_millis(80));
        let e = w.fleet(Some(0)).unwrap_err().to_string();
        assert!(e.contains("no worker is live"), "{e}");
    }
}
