//! The build's git commit, for `migrator_build_info`: `MIGRATOR_GIT_SHA` when the build sets it
//! (the image's build argument), else the checkout's HEAD, else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MIGRATOR_GIT_SHA");
    let git = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.git");
    // a new commit moves HEAD or the branch it names; nothing else rebuilds this crate
    println!("cargo:rerun-if-changed={}", git.join("HEAD").display());
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed={}", git.join(r).display());
        }
    }
    let sha = std::env::var("MIGRATOR_GIT_SHA")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MIGRATOR_GIT_SHA={sha}");
}
