//! Repair, not only report: a repairing verification that found differences has the differing
//! threads copied again from the source (a catch-up whose plan lists them; the sweeper starts
//! it), and that catch-up's end asks for the next verification. After `verify.max_repairs`
//! repairs a copy that still differs — or differences no thread copy can mend (a channel) — is
//! parked with its last verification for an operator.

use crate::context::Ctx;
use migrator_core::metrics::UNCONVERGED;
use migrator_store::queries::workflow::repairs;
use migrator_store::queries::workflow::verifications::{Outcome, Verification};
use migrator_store::DbConn;

/// The source threads a verification's listed differences are about (the key before `#`; an
/// extra thread's own key), in order, each once; channel differences name none.
pub fn threads_of(o: &Outcome) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in &o.diffs {
        if d.kind.ends_with("_channel") {
            continue;
        }
        let thread = d
            .source_key
            .split('#')
            .next()
            .unwrap_or_default()
            .to_string();
        if !thread.is_empty() && !out.contains(&thread) {
            out.push(thread);
        }
    }
    out
}

/// After a repairing verification found differences: a repair of their threads, or the run
/// parked when its repairs are used up or nothing it lists can be copied again.
pub async fn after_diff(
    ctx: &Ctx,
    c: &mut DbConn,
    v: &Verification,
    o: &Outcome,
) -> anyhow::Result<()> {
    let Some(run) = v.run_id else {
        return Ok(());
    };
    if !repairs::is_current(c, v.account_id, run).await? {
        // a re-migration superseded it meanwhile: its own verification follows
        return Ok(());
    }
    let max = ctx.settings.verify.max_repairs;
    let done = repairs::repairs(c, run).await?;
    let threads = threads_of(o);
    if done < max && !threads.is_empty() {
        repairs::request_repair(c, run, v.account_id, &threads).await?;
        tracing::warn!(
            run = %run,
            threads = threads.len(),
            repair = done + 1,
            "repairing the threads a verification found different"
        );
        return Ok(());
    }
    let why = if threads.is_empty() {
        format!(
            "the copy differs from its source in what no thread copy mends ({} differences): \
             see its verification",
            o.diff_count
        )
    } else {
        format!(
            "the copy still differs from its source after {done} repairs ({} differences): \
             see its verification",
            o.diff_count
        )
    };
    repairs::park(c, run, &why).await?;
    metrics::counter!(UNCONVERGED).increment(1);
    tracing::warn!(run = %run, diffs = o.diff_count, "parked: the copy does not converge");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrator_store::queries::workflow::verifications::Diff;

    #[test]
    fn the_threads_of_the_differences_each_once_channels_aside() {
        let d = |kind: &str, key: &str| Diff {
            kind: kind.into(),
            source_key: key.into(),
            detail: String::new(),
        };
        let o = Outcome {
            diff_count: 5,
            diffs: vec![
                d("missing_message", "t1#0000000000001#m1"),
                d("changed_thread", "t2"),
                d("extra_message", "t1#m9"),
                d("changed_channel", "ch_1"),
                d("extra_thread", "t3"),
            ],
            ..Outcome::default()
        };
        assert_eq!(threads_of(&o), ["t1", "t2", "t3"]);
    }
}
