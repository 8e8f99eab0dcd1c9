//! Queue limits operators may change are RabbitMQ **policies**, not queue arguments: an
//! argument is fixed when a queue is declared, and declaring it again with another value fails
//! (`PRECONDITION_FAILED`), so changing `amqp.dead_ttl_days` or `amqp.dead_max_length` used to
//! stop the next start. The dead-letter queue is declared with only what must be an argument
//! (its type); its length, overflow and message TTL are the policy `<prefix>-dead`, applied
//! through the management HTTP API (`amqp.management_url`) when the api starts and by
//! `migrator-api amqp-policies` (a release step), or by hand with the `rabbitmqctl` line
//! [`rabbitmqctl`] prints. A policy changes a live queue in place.

use super::{Broker, QueueError};
use lapin::uri::AMQPUri;
use serde_json::{json, Value};
use std::str::FromStr;

/// A policy: its name, the queues it applies to, and what it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `<prefix>-dead`.
    pub name: String,
    /// A regular expression matching the queue's whole name.
    pub pattern: String,
    /// The keys it sets (`max-length`, `overflow`, `message-ttl`).
    pub definition: Value,
}

/// The dead-letter queue's bounds: `amqp.dead_max_length` hops at most (the oldest dropped
/// first), each for `amqp.dead_ttl_days` at most (they are in Postgres too).
pub fn dead_letters(b: &Broker) -> Policy {
    Policy {
        name: format!("{}-dead", b.names.prefix),
        pattern: format!("^{}$", regex_escape(&b.names.dead)),
        definition: json!({
            "max-length": b.dead_max_length,
            "overflow": "drop-head",
            "message-ttl": u64::from(b.dead_ttl_days) * 86_400_000,
        }),
    }
}

/// Every policy of the topology.
pub fn all(b: &Broker) -> Vec<Policy> {
    vec![dead_letters(b)]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// The broker's vhost and credentials, from `amqp.url`.
fn vhost_and_user(b: &Broker) -> Result<(String, String, String), QueueError> {
    let uri = AMQPUri::from_str(b.url.as_str())
        .map_err(|e| QueueError::Policy(format!("amqp.url: {e}")))?;
    let user = uri.authority.userinfo;
    Ok((uri.vhost, user.username, user.password))
}

/// `rabbitmqctl set_policy …` lines that apply [`all`] by hand.
pub fn rabbitmqctl(b: &Broker) -> Vec<String> {
    let vhost = vhost_and_user(b).map_or_else(|_| "/".to_string(), |(v, _, _)| v);
    all(b)
        .into_iter()
        .map(|p| {
            format!(
                "rabbitmqctl set_policy -p '{vhost}' --apply-to queues '{}' '{}' '{}'",
                p.name, p.pattern, p.definition
            )
        })
        .collect()
}

/// The policy's URL under the management API at `management`.
fn url(management: &str, vhost: &str, name: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "{}/api/policies/{}/{}",
        management.trim_end_matches('/'),
        enc(vhost),
        enc(name)
    )
}

fn client(b: &Broker) -> Result<reqwest::Client, QueueError> {
    reqwest::Client::builder()
        .timeout(b.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| QueueError::Policy(e.to_string()))
}

/// Applies (creates or updates) every policy through the management API at `management`.
pub async fn apply(b: &Broker, management: &str) -> Result<(), QueueError> {
    let (vhost, user, password) = vhost_and_user(b)?;
    let http = client(b)?;
    for p in all(b) {
        let body = json!({
            "pattern": p.pattern, "definition": p.definition,
            "priority": 10, "apply-to": "queues",
        });
        let resp = http
            .put(url(management, &vhost, &p.name))
            .basic_auth(&user, Some(&password))
            .json(&body)
            .send()
            .await
            .map_err(|e| QueueError::Policy(format!("{}: {e}", p.name)))?;
        if !resp.status().is_success() {
            return Err(QueueError::Policy(format!(
                "{}: the management API answered {}",
                p.name,
                resp.status()
            )));
        }
    }
    Ok(())
}

/// The policies in force under the management API, by name (tests, checks).
pub async fn read(b: &Broker, management: &str, name: &str) -> Result<Option<Value>, QueueError> {
    let (vhost, user, password) = vhost_and_user(b)?;
    let resp = client(b)?
        .get(url(management, &vhost, name))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .map_err(|e| QueueError::Policy(e.to_string()))?;
    match resp.status().as_u16() {
        404 => Ok(None),
        200 => resp
            .json()
            .await
            .map(Some)
            .map_err(|e| QueueError::Policy(e.to_string())),
        s => Err(QueueError::Policy(format!("{name}: answered {s}"))),
    }
}

/// Removes every policy of the topology (a test's cleanup).
pub async fn remove(b: &Broker, management: &str) -> Result<(), QueueError> {
    let (vhost, user, password) = vhost_and_user(b)?;
    let http = client(b)?;
    for p in all(b) {
        http.delete(url(management, &vhost, &p.name))
            .basic_auth(&user, Some(&password))
            .send()
            .await
            .map_err(|e| QueueError::Policy(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueNames;
    use std::time::Duration;

    fn broker() -> Broker {
        Broker {
            url: "amqp://ops:s3cret@rabbit:5672/prod%2feu".to_string().into(),
            names: QueueNames::new("mig.v2"),
            queue_type: "quorum".into(),
            timeout: Duration::from_secs(1),
            dead_max_length: 500,
            dead_ttl_days: 7,
        }
    }

    #[test]
    fn the_dead_letter_bounds_are_a_policy_on_that_queue_alone() {
        let p = dead_letters(&broker());
        assert_eq!(p.name, "mig.v2-dead");
        assert_eq!(p.pattern, r"^mig\.v2\.dead$");
        assert_eq!(p.definition["max-length"], 500);
        assert_eq!(p.definition["message-ttl"], 7 * 86_400_000u64);
        assert_eq!(p.definition["overflow"], "drop-head");
        let line = &rabbitmqctl(&broker())[0];
        assert!(
            line.contains("-p 'prod/eu'") && line.contains(r"'^mig\.v2\.dead$'"),
            "{line}"
        );
        assert_eq!(
            url("http://rabbit:15672/", "prod/eu", "mig.v2-dead"),
            "http://rabbit:15672/api/policies/prod%2Feu/mig.v2-dead"
        );
    }
}
