//! `migratorctl campaign …` and `migratorctl program`: the program's backstop over
//! `/admin/campaigns` and its progress over `/admin/program`.

use crate::request::Request;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum CampaignCmd {
    /// Start a campaign over the accounts the app path has not moved (by default every
    /// `not-started`, `channel-failure` or `recent-messages-failure` account).
    Start {
        /// When Conversations is switched off (RFC 3339, e.g. 2027-03-31T00:00:00Z).
        #[arg(long)]
        deadline: String,
        /// Accounts started a second (fractions allowed; default 20).
        #[arg(long)]
        rate: Option<f64>,
        /// The campaign's accounts migrating at once (default 200).
        #[arg(long)]
        max_in_flight: Option<i32>,
        /// A status to select (repeat for several; default the three above).
        #[arg(long = "status")]
        statuses: Vec<String>,
        /// Only accounts created before this (RFC 3339).
        #[arg(long)]
        created_before: Option<String>,
        /// Only the C1s listed in this file, one shopper id a line.
        #[arg(long)]
        shopper_ids_file: Option<std::path::PathBuf>,
    },
    /// A campaign's figures (no id: every campaign, newest first).
    Status { id: Option<String> },
    /// Stop starting accounts; migrations in flight go on.
    Pause { id: String },
    /// Start accounts again.
    Resume { id: String },
    /// Stop for good; nothing in flight is undone.
    Cancel { id: String },
    /// Change a running or paused campaign's pace live (the runbook's "raise the rate").
    Set {
        id: String,
        /// Accounts started a second (fractions allowed).
        #[arg(long)]
        rate: Option<f64>,
        /// The campaign's accounts migrating at once.
        #[arg(long)]
        max_in_flight: Option<i32>,
    },
}

/// The admin request of a campaign command (a shopper-id file is read here).
pub fn request(cmd: &CampaignCmd) -> anyhow::Result<Request> {
    Ok(match cmd {
        CampaignCmd::Start {
            deadline,
            rate,
            max_in_flight,
            statuses,
            created_before,
            shopper_ids_file,
        } => {
            let ids = match shopper_ids_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)?
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>(),
                ),
                None => None,
            };
            let mut body = json!({ "deadline": deadline });
            let o = body.as_object_mut().expect("an object");
            if !statuses.is_empty() {
                o.insert("statuses".into(), json!(statuses));
            }
            for (k, v) in [
                ("rate_per_sec", json!(rate)),
                ("max_in_flight", json!(max_in_flight)),
                ("created_before", json!(created_before)),
                ("shopper_ids", json!(ids)),
            ] {
                if !v.is_null() {
                    o.insert(k.into(), v);
                }
            }
            Request::post(&["admin", "campaigns"]).json(body)
        }
        CampaignCmd::Status { id: None } => Request::get(&["admin", "campaigns"]),
        CampaignCmd::Status { id: Some(id) } => Request::get(&["admin", "campaigns", id]),
        CampaignCmd::Pause { id } => Request::post(&["admin", "campaigns", id, "pause"]),
        CampaignCmd::Resume { id } => Request::post(&["admin", "campaigns", id, "resume"]),
        CampaignCmd::Cancel { id } => Request::post(&["admin", "campaigns", id, "cancel"]),
        CampaignCmd::Set {
            id,
            rate,
            max_in_flight,
        } => {
            let mut body = json!({});
            let o = body.as_object_mut().expect("an object");
            if let Some(r) = rate {
                o.insert("rate_per_sec".into(), json!(r));
            }
            if let Some(m) = max_in_flight {
                o.insert("max_in_flight".into(), json!(m));
            }
            Request::patch(&["admin", "campaigns", id]).json(body)
        }
    })
}
