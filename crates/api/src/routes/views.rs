//! JSON shapes of the spec, built in one place.

use chrono::{DateTime, SecondsFormat, Utc};
use migrator_core::db::queries::accounts::AccountTree;
use serde_json::{json, Value};

/// RFC 3339 UTC with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An account with brands and channels; credentials are never included.
pub fn account(tree: &AccountTree, real_status: bool) -> Value {
    let a = &tree.account;
    json!({
        "id": a.id,
        "shopper_id": a.shopper_id,
        "name": a.name,
        "status": a.status,
        "migration_status": if real_status { a.migration_status } else { a.migration_status.app_facing() },
        "brands": tree.brands.iter().map(|(b, chans)| json!({
            "id": b.id,
            "name": b.name,
            "website": b.website,
            "channels": chans.iter().map(|c| json!({
                "id": c.id, "kind": c.kind, "name": c.name, "address": c.address,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
