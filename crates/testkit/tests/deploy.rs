//! The deploy artefacts stay true to the code: the Grafana dashboard queries only metrics the
//! services export, in PromQL that Prometheus parses (`promtool check rules`); the manifests set
//! only settings that exist; docs/operations.md walks through every dashboard panel and every
//! `migratorctl` command. (Manifest schemas: `scripts/deploy-check.sh`, kubernetes-validate.)

use migrator_testkit::process::binary;
use migrator_testkit::{test_settings, workspace};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn dashboard() -> Value {
    let path = workspace().join("deploy/grafana/migrator-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON")
}

/// (title, exprs) of every panel that draws something.
fn panels(d: &Value) -> Vec<(String, Vec<String>)> {
    d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| {
            let exprs = p["targets"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .map(|t| t["expr"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (p["title"].as_str().unwrap_or_default().to_string(), exprs)
        })
        .collect()
}

/// `migrator_…` names in a PromQL expression, histogram suffixes removed.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("migrator_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.push(base.to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_dashboard_queries_only_exported_metrics_in_valid_promql() {
    let d = dashboard();
    let known: BTreeSet<&str> = migrator_core::metrics::ALL.into_iter().collect();
    let mut rules = Vec::new();
    let mut used = BTreeSet::new();
    for (title, exprs) in panels(&d) {
        assert!(!exprs.is_empty(), "panel {title:?} has no query");
        for e in exprs {
            for name in metric_names(&e) {
                assert!(
                    known.contains(name.as_str()),
                    "panel {title:?} queries {name}, which no service exports"
                );
                used.insert(name);
            }
            // Grafana's variables as Prometheus would see them once substituted
            let e = e
                .replace("$__rate_interval", "5m")
                .replace("$prefix", "migrator");
            rules
                .push(serde_json::json!({ "record": format!("panel:{}", rules.len()), "expr": e }));
        }
    }
    assert!(
        used.len() >= 15,
        "the dashboard draws most metrics: {used:?}"
    );
    let file = std::env::temp_dir().join(format!("dashboard-rules-{}.json", std::process::id()));
    let doc = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (Debian package prometheus; scripts/services.sh installs it)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_operations_guide_walks_every_panel_and_command() {
    let doc = std::fs::read_to_string(workspace().join("docs/operations.md")).expect("doc");
    for (title, _) in panels(&dashboard()) {
        assert!(
            doc.contains(&title),
            "docs/operations.md explains panel {title:?}"
        );
    }
    let help = Command::new(binary("migratorctl"))
        .arg("--help")
        .output()
        .expect("migratorctl runs");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 10, "{help}");
    for c in commands {
        assert!(
            doc.contains(&format!("migratorctl {c}")),
            "docs/operations.md shows `migratorctl {c}`"
        );
    }
}

#[test]
fn the_manifests_set_only_settings_that_exist() {
    let settings = serde_json::to_value(test_settings("deploy")).unwrap();
    let mut checked = 0;
    for file in [
        "deploy/k8s/base/config.env",
        "deploy/k8s/overlays/staging/config.env",
        "deploy/k8s/overlays/production/config.env",
        "deploy/k8s/base/api.yaml",
        "deploy/k8s/base/worker.yaml",
        "deploy/k8s/base/migrate-job.yaml",
        "deploy/compose.yaml",
    ] {
        let text = std::fs::read_to_string(workspace().join(file)).expect(file);
        for line in text.lines() {
            let line = line.trim_start_matches([' ', '#']);
            let Some(key) = line.strip_prefix("MIGRATOR__") else {
                continue;
            };
            let key: String = key
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let path = key.to_ascii_lowercase();
            // a map of key ids takes any id below it
            let path = if path.starts_with("crypto__credentials_keys__") {
                "crypto__credentials_keys".to_string()
            } else {
                path
            };
            let mut at = &settings;
            for part in path.split("__") {
                at = at
                    .get(part)
                    .unwrap_or_else(|| panic!("{file}: MIGRATOR__{key} names no setting"));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "only {checked} settings found in the manifests"
    );
}

/// The rule file inside the PrometheusRule's `spec` (its lines, two spaces less indented).
fn rule_file() -> String {
    let path = workspace().join("deploy/k8s/monitoring/prometheusrule.yaml");
    let text = std::fs::read_to_string(path).expect("PrometheusRule");
    let mut lines = text.lines().skip_while(|l| *l != "spec:");
    assert_eq!(lines.next(), Some("spec:"), "the PrometheusRule has a spec");
    lines
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_alert_rules_parse_pass_their_unit_tests_and_name_exported_metrics() {
    let rules = rule_file();
    let known: BTreeSet<&str> = migrator_core::metrics::ALL.into_iter().collect();
    let names = metric_names(&rules);
    assert!(
        names.iter().any(|n| n == "migrator_program_on_track"),
        "the program's alert: {names:?}"
    );
    for name in names {
        assert!(
            known.contains(name.as_str()),
            "the rules name {name}, which no service exports"
        );
    }
    // every alert has a runbook in docs/operations.md and a unit test
    let doc = std::fs::read_to_string(workspace().join("docs/operations.md")).expect("doc");
    let tests =
        std::fs::read_to_string(workspace().join("deploy/prometheus/migrator-alerts.test.yaml"))
            .expect("rule tests");
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 11, "{alerts:?}");
    for a in &alerts {
        let anchor = a.to_ascii_lowercase();
        assert!(
            rules.contains(&format!("runbook_url: \"docs/operations.md#{anchor}\"")),
            "{a} has a runbook_url"
        );
        assert!(
            doc.contains(&format!("### {a}")),
            "docs/operations.md has a runbook for {a}"
        );
        assert!(
            tests.contains(&format!("alertname: {a}")),
            "{a} has a unit test"
        );
    }
    let dir = std::env::temp_dir().join(format!("migrator-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("migrator-alerts.yaml"), &rules).unwrap();
    std::fs::write(dir.join("migrator-alerts.test.yaml"), &tests).unwrap();
    for args in [
        vec!["check", "rules", "migrator-alerts.yaml"],
        vec!["test", "rules", "migrator-alerts.test.yaml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("promtool (Debian package prometheus; scripts/services.sh installs it)");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The kustomizations name files that exist; the overlays pin the image the base uses (never
/// `:latest`, nowhere in deploy/); every Secret the pods read is documented in the base's
/// settings file. (No kustomize binary is reachable here to build them.)
#[test]
fn the_kustomizations_hold_together_and_pin_their_images() {
    let k8s = workspace().join("deploy/k8s");
    let mut listed = 0;
    for dir in [
        "base",
        "overlays/staging",
        "overlays/production",
        "monitoring",
    ] {
        let text = std::fs::read_to_string(k8s.join(dir).join("kustomization.yaml")).unwrap();
        let mut in_list = false;
        for line in text.lines() {
            let t = line.trim();
            if !line.starts_with(' ') {
                in_list = matches!(t, "resources:");
            }
            let named = if in_list { t.strip_prefix("- ") } else { None }.map(str::to_string);
            let envs = t
                .strip_prefix("envs: [")
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_string);
            for f in named.into_iter().chain(envs) {
                let path = k8s.join(dir).join(&f);
                assert!(
                    path.exists(),
                    "{dir}/kustomization.yaml names {f}, which is missing"
                );
                listed += 1;
            }
        }
        if dir.starts_with("overlays") {
            // one variable names the release: every image's tag and the migrate Job's name
            let release = std::fs::read_to_string(k8s.join(dir).join("release.env")).unwrap();
            assert!(
                release
                    .lines()
                    .any(|l| l.starts_with("MIGRATOR_VERSION=") && l.len() > 17),
                "{dir}/release.env names the release"
            );
            assert!(
                text.contains("fieldPath: data.MIGRATOR_VERSION"),
                "{dir} pins the images and the Job to it"
            );
        }
    }
    assert!(listed >= 12, "{listed}");
    for f in ["base/api.yaml", "base/worker.yaml", "base/migrate-job.yaml"] {
        let text = std::fs::read_to_string(k8s.join(f)).unwrap();
        assert!(text.contains("image: reamaze/migrator:"), "{f}");
    }
    let grep = Command::new("grep")
        .args(["-rn", ":latest", "deploy"])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );
    // the api does not mount the media signing key; the worker does not read the token keys
    let api = std::fs::read_to_string(k8s.join("base/api.yaml")).unwrap();
    let worker = std::fs::read_to_string(k8s.join("base/worker.yaml")).unwrap();
    assert!(!api.contains("migrator-media-key") && worker.contains("migrator-media-key"));
    assert!(api.contains("migrator-api-secrets") && !worker.contains("migrator-api-secrets"));
    assert!(
        worker.contains("migrator-worker-secrets") && !api.contains("migrator-worker-secrets"),
        "the credentials keys: the worker's alone"
    );
    let settings = std::fs::read_to_string(k8s.join("base/config.env")).unwrap();
    for secret in [
        "migrator-secrets",
        "migrator-api-secrets",
        "migrator-worker-secrets",
        "migrator-media-key",
        "migrator-keda",
    ] {
        assert!(
            settings.contains(secret),
            "base/config.env documents {secret}"
        );
    }
}
