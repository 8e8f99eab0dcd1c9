//! Worker processes, for tests and benchmarks that kill them.

use migrator_runtime::settings::Settings;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The worker binary built by `cargo build --bins` (`make test` builds it first), or
/// `MIGRATOR_WORKER_BIN`.
pub fn worker_binary() -> PathBuf {
    // the benchmark can compare another build's workers in the same run
    std::env::var_os("MIGRATOR_WORKER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| binary("migrator-worker"))
}

/// A binary of the workspace built by `cargo build --bins`.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| super::workspace().join("target"));
    // a release harness (the benchmark) runs release workers
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let bin = target.join(profile).join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` (make test does)",
        bin.display()
    );
    bin
}

/// The file a worker process of these settings loads (`MIGRATOR_ENV_FILE`): the whole
/// `Settings`, serialized, so a child never misses a section the test set.
pub fn settings_file(s: &Settings) -> PathBuf {
    std::env::temp_dir().join(format!("{}-worker-settings.json", s.amqp.prefix))
}

/// A worker process that is killed when dropped: a test that panics midway leaves no worker
/// behind (one would hold the test run's output pipe open, and the run would never end).
pub struct WorkerProcess(Child);

impl std::ops::Deref for WorkerProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for WorkerProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        kill9(&mut self.0);
    }
}

/// Starts a worker process with the test's settings.
pub fn spawn_worker(s: &Settings) -> WorkerProcess {
    WorkerProcess(command(s).spawn().expect("spawn worker"))
}

/// A worker process whose log (stderr) is kept for the test, and passed through; killed when
/// dropped without [`LoggedWorker::term`].
pub struct LoggedWorker {
    child: WorkerProcess,
    log: Option<std::thread::JoinHandle<String>>,
    so_far: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts a worker process with the test's settings, keeping its log.
pub fn spawn_logged_worker(s: &Settings) -> LoggedWorker {
    spawn_logged(command(s))
}

/// Starts a worker process by `cmd` (from [`command`], tweaked), keeping its log.
pub fn spawn_logged(mut cmd: Command) -> LoggedWorker {
    use std::io::BufRead;
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn worker");
    let err = child.stderr.take().expect("stderr piped");
    let so_far = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    // drained as it comes: a full pipe would stall the worker
    let log = {
        let so_far = so_far.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut all = so_far.lock().expect("log buffer");
                all.push_str(&line);
                all.push('\n');
            }
            so_far.lock().expect("log buffer").clone()
        })
    };
    LoggedWorker {
        child: WorkerProcess(child),
        log: Some(log),
        so_far,
    }
}

impl LoggedWorker {
    /// SIGTERM; the exit status and everything the worker logged.
    pub fn term(mut self) -> (std::process::ExitStatus, String) {
        let status = term(&mut self.child);
        let log = self.log.take().expect("term once");
        (status, log.join().expect("log reader"))
    }

    /// What the process has logged so far (it goes on running).
    pub fn log_so_far(&self) -> String {
        self.so_far.lock().expect("log buffer").clone()
    }

    /// The process's exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The `addr` of the first JSON log line whose message is `message` (e.g. `api listening`,
    /// `worker http port listening`), once logged.
    pub fn logged_addr(&self, message: &str) -> Option<String> {
        self.log_so_far()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == message)
            .and_then(|v| v["addr"].as_str().map(String::from))
    }
}

/// The command that starts a worker with these settings (wrap it as you need).
pub fn command(s: &Settings) -> Command {
    command_for(&worker_binary(), s)
}

/// The command that starts binary `bin` (the api, the worker) with these settings.
pub fn command_for(bin: &std::path::Path, s: &Settings) -> Command {
    let path = settings_file(s);
    s.write_json(&path)
        .expect("write the worker's settings file");
    let mut c = Command::new(bin);
    c.current_dir(super::workspace())
        .env("MIGRATOR_ENV_FILE", &path)
        .env(
            "RUST_LOG",
            std::env::var("WORKER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// Peak resident set size of a live process (`VmHWM`), in KiB.
pub fn peak_rss_kb(c: &Child) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", c.id()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// SIGKILL.
pub fn kill9(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// SIGTERM, then the exit status.
pub fn term(c: &mut Child) -> std::process::ExitStatus {
    unsafe_free_sigterm(c.id());
    c.wait().expect("wait")
}

fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}
