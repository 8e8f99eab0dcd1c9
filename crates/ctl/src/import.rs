//! `migratorctl accounts import FILE`: the web chat initiative's accounts in bulk through
//! `POST /admin/accounts/batch`. The file is CSV with a `shopper_id,name` header (quoted names
//! may hold commas) or JSON lines (`{"shopper_id", "name"}` a line; `.jsonl`, `.ndjson`). It is
//! read a request at a time (`--per-request` lines, memory bounded by one request) and sent as
//! NDJSON; the api creates what does not exist and counts the rest, so a file sent again, or
//! an import cut short and run again, creates nothing twice.

use crate::api::Api;
use crate::exit;
use crate::request::Request;
use clap::Args;
use serde_json::{json, Value};
use std::io::BufRead;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: CSV with a `shopper_id,name` header, or JSON lines.
    file: std::path::PathBuf,
    /// Accounts a request (at most the api's `api.import_max_accounts`).
    #[arg(long, default_value_t = 50_000)]
    per_request: usize,
}

/// Totals over the requests.
#[derive(Default)]
struct Totals {
    received: u64,
    created: u64,
    existing: u64,
    rejected: u64,
    rejects: Vec<Value>,
}

impl Totals {
    /// Adds one answer; its reject line numbers become the file's (`offset` lines before).
    fn add(&mut self, v: &Value, offset: u64) {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        self.received += n("received");
        self.created += n("created");
        self.existing += n("existing");
        self.rejected += n("rejected");
        for r in v["rejects"].as_array().into_iter().flatten() {
            if self.rejects.len() < 100 {
                let mut r = r.clone();
                r["line"] = json!(r["line"].as_u64().unwrap_or(0) + offset);
                self.rejects.push(r);
            }
        }
    }
}

/// One request's worth of the file: the accounts before it, its NDJSON body, its accounts.
struct Chunk {
    offset: u64,
    body: Vec<u8>,
    count: usize,
}

/// The lines of the file as NDJSON, in chunks of `per` accounts.
fn chunks(
    path: &std::path::Path,
    per: usize,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Chunk>>>> {
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let jsonl = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson" | "json")
    );
    let lines: Box<dyn Iterator<Item = anyhow::Result<Vec<u8>>>> = if jsonl {
        Box::new(
            std::io::BufReader::new(f)
                .split(b'\n')
                .map(|l| l.map_err(anyhow::Error::from))
                .filter(|l| l.as_ref().map_or(true, |l| !l.trim_ascii().is_empty())),
        )
    } else {
        let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(f);
        let headers = csv.headers()?.clone();
        let (Some(s), Some(n)) = (
            headers.iter().position(|h| h.trim() == "shopper_id"),
            headers.iter().position(|h| h.trim() == "name"),
        ) else {
            anyhow::bail!(
                "{}: the CSV header must name shopper_id and name",
                path.display()
            );
        };
        Box::new(csv.into_records().map(move |r| {
            let r = r?;
            let line =
                json!({"shopper_id": r.get(s).unwrap_or(""), "name": r.get(n).unwrap_or("")});
            Ok(serde_json::to_vec(&line)?)
        }))
    };
    let mut lines = lines.peekable();
    let mut offset = 0u64;
    Ok(Box::new(std::iter::from_fn(move || {
        lines.peek()?;
        let mut body = Vec::new();
        let mut count = 0usize;
        while count < per {
            match lines.next() {
                Some(Ok(l)) => {
                    body.extend_from_slice(&l);
                    body.push(b'\n');
                    count += 1;
                }
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        let at = offset;
        offset += count as u64;
        Some(Ok(Chunk {
            offset: at,
            body,
            count,
        }))
    })))
}

/// Sends the file a request at a time, saying how far it is; prints the totals and the first
/// rejects. Exit status: that of a refused request, else [`exit::REFUSED`] when a line was
/// rejected, else OK.
pub async fn run(api: &Api, a: &ImportArgs) -> anyhow::Result<i32> {
    let mut t = Totals::default();
    for chunk in chunks(&a.file, a.per_request.max(1))? {
        let Chunk {
            offset,
            body,
            count,
        } = chunk?;
        let req = Request::post(&["admin", "accounts", "batch"]).raw("application/x-ndjson", body);
        let (status, text) = match api.send(&req).await {
            Ok(a) => a,
            Err(code) => return Ok(code),
        };
        if !status.is_success() {
            eprintln!("{status} after {offset} accounts (those were written; run the import again to go on)\n{text}");
            return Ok(exit::of(status));
        }
        t.add(&serde_json::from_str(&text).unwrap_or(Value::Null), offset);
        eprintln!(
            "{} accounts sent: {} created, {} existed, {} rejected",
            offset + count as u64,
            t.created,
            t.existing,
            t.rejected
        );
    }
    let out = json!({
        "received": t.received, "created": t.created, "existing": t.existing,
        "rejected": t.rejected, "rejects": t.rejects,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if t.rejected > 0 {
        exit::REFUSED
    } else {
        exit::OK
    })
}
