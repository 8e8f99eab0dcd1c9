//! Migrated messages, keyed by the source message id (`ON CONFLICT DO NOTHING`), with their
//! attachment rows and the conversations' message counts; and the starred flag a web chat
//! message carries onto the native message it mirrors.

use crate::queries::destination::attachments;
use crate::schema::messages;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, ConversationId, MessageId, RunId};
use migrator_core::source::SourceMessage;
use migrator_core::text::{exact, ExactText};
use std::collections::{HashMap, HashSet};

/// What a batch of messages added.
#[derive(Debug, Clone, Default)]
pub struct MessageBatch {
    /// Messages inserted (already-present ones are skipped).
    pub inserted: i64,
    /// Attachments waiting for their first download.
    pub pending_attachments: Vec<attachments::Due>,
    /// Attachments failed on arrival (malformed entries).
    pub failed_attachments: i32,
    /// Positions in the batch of messages whose id was already migrated from another item (a
    /// contract breach: message ids are unique across the platform); the caller records them
    /// as rejects.
    pub foreign_duplicates: Vec<usize>,
}

/// Inserts messages of one or several conversations in one statement (plus one for attachments
/// and one for the conversations' message counts); already-present messages are skipped (their
/// attachments were written with them).
pub async fn insert_messages(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    run_id: RunId,
    batch: &[(ConversationId, &SourceMessage)],
) -> CoreResult<MessageBatch> {
    if batch.is_empty() {
        return Ok(MessageBatch::default());
    }
    // a message id twice in one batch: the first is written, the others are duplicates
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut dup_in_batch = Vec::new();
    for (i, (_, m)) in batch.iter().enumerate() {
        if first_of.insert(m.message_id.as_str(), i).is_some() {
            dup_in_batch.push(i);
        }
    }
    let keep: Vec<usize> = (0..batch.len())
        .filter(|i| !dup_in_batch.contains(i))
        .collect();
    let inserted = insert_rows(conn, account_id, keep.iter().map(|&i| batch[i])).await?;
    let intended: HashMap<&str, (usize, ConversationId, &SourceMessage)> = keep
        .iter()
        .map(|&i| (batch[i].1.message_id.as_str(), (i, batch[i].0, batch[i].1)))
        .collect();
    let mut out = MessageBatch {
        inserted: inserted.len() as i64,
        foreign_duplicates: dup_in_batch,
        ..Default::default()
    };
    if inserted.len() < keep.len() {
        // skipped rows are normally the same conversation's (a re-run); anything else is a
        // message id seen in another thread, which must not vanish silently
        let fresh: HashSet<&str> = inserted.iter().map(|r| r.source_id.as_str()).collect();
        let skipped: Vec<&str> = intended
            .keys()
            .copied()
            .filter(|id| !fresh.contains(id))
            .collect();
        let skipped: Vec<ExactText> = skipped.into_iter().map(ExactText::from).collect();
        let existing: Vec<(ExactText, ConversationId)> = messages::table
            .filter(messages::account_id.eq(account_id))
            .filter(messages::source_id.eq_any(&skipped))
            .select((
                messages::source_id.assume_not_null(),
                messages::conversation_id,
            ))
            .load(conn)
            .await?;
        out.foreign_duplicates
            .extend(existing.into_iter().filter_map(|(s, conv)| {
                intended
                    .get(s.as_str())
                    .filter(|(_, want, _)| *want != conv)
                    .map(|(i, _, _)| *i)
            }));
    }
    let with_sources: Vec<(MessageId, &SourceMessage)> = inserted
        .iter()
        .filter_map(|r| {
            intended
                .get(r.source_id.as_str())
                .map(|(_, _, m)| (r.id, *m))
        })
        .collect();
    let (pending, failed) =
        attachments::insert_for(conn, account_id, run_id, &with_sources).await?;
    out.pending_attachments = pending;
    out.failed_attachments = failed;
    let mut per_conversation: HashMap<ConversationId, i32> = HashMap::new();
    for r in &inserted {
        *per_conversation.entry(r.conversation_id).or_default() += 1;
    }
    add_message_counts(conn, per_conversation).await?;
    Ok(out)
}

/// Adds to the conversations' message counts, one statement.
async fn add_message_counts(
    conn: &mut AsyncPgConnection,
    per_conversation: HashMap<ConversationId, i32>,
) -> CoreResult<()> {
    if per_conversation.is_empty() {
        return Ok(());
    }
    use diesel::sql_types::{Array, Integer, Uuid};
    let (ids, counts): (Vec<ConversationId>, Vec<i32>) = per_conversation.into_iter().unzip();
    diesel::sql_query(
        "UPDATE conversations c SET message_count = c.message_count + v.n \
         FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::int[]) AS n) v WHERE c.id = v.id",
    )
    .bind::<Array<Uuid>, _>(ids)
    .bind::<Array<Integer>, _>(counts)
    .execute(conn)
    .await?;
    Ok(())
}

/// A message row as inserted.
#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: MessageId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    source_id: ExactText,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    conversation_id: ConversationId,
}

/// Column arrays of a message batch, bound as 10 parameters of one small statement
/// (`INSERT … SELECT … FROM unnest(…)`) instead of 11 parameters per row: the statement text
/// stays the same whatever the batch size, so Postgres parses it once per call, not per row.
async fn insert_rows<'a>(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    rows: impl Iterator<Item = (ConversationId, &'a SourceMessage)>,
) -> CoreResult<Vec<Inserted>> {
    use diesel::sql_types::{Array, Bool, Bytea, Json, Nullable, Text, Timestamptz, Uuid};
    let (mut ids, mut convs, mut srcs, mut sorts, mut dirs) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut authors, mut bodies, mut sent, mut starred, mut meta) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (conversation_id, m) in rows {
        ids.push(MessageId::new());
        convs.push(conversation_id);
        srcs.push(ExactText::from(m.message_id.as_str()));
        sorts.push(exact(Some(&m.sort_key)));
        dirs.push(m.direction.clone());
        authors.push(exact(m.author_name.as_deref()));
        bodies.push(m.body.as_ref().map(|b| b.as_bytes().to_vec()));
        sent.push(m.sent_at);
        starred.push(m.starred);
        meta.push(m.metadata.clone());
    }
    Ok(diesel::sql_query(
        "INSERT INTO messages (id, account_id, conversation_id, source_id, source_sort, direction, \
                               author_name, body, sent_at, starred, metadata) \
         SELECT u.id, $1, u.conv, u.src, u.sort, u.dir, u.author, u.body, u.sent, u.starred, u.meta \
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], \
                     $8::bytea[], $9::timestamptz[], $10::bool[], $11::json[]) \
              AS u(id, conv, src, sort, dir, author, body, sent, starred, meta) \
         ON CONFLICT (account_id, source_id) DO NOTHING \
         RETURNING id, source_id, conversation_id",
    )
    .bind::<Uuid, _>(account_id)
    .bind::<Array<Uuid>, _>(ids)
    .bind::<Array<Uuid>, _>(convs)
    .bind::<Array<Text>, _>(srcs)
    .bind::<Array<Nullable<Text>>, _>(sorts)
    .bind::<Array<Text>, _>(dirs)
    .bind::<Array<Nullable<Text>>, _>(authors)
    .bind::<Array<Nullable<Bytea>>, _>(bodies)
    .bind::<Array<Timestamptz>, _>(sent)
    .bind::<Array<Bool>, _>(starred)
    .bind::<Array<Nullable<Json>>, _>(meta)
    .load(conn)
    .await?)
}

/// Carries a web chat message's starred flag onto the re:amaze message it mirrors; false when
/// that message does not exist in this account.
pub async fn star_webchat_message(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    reamaze_id: &str,
    starred: bool,
) -> CoreResult<bool> {
    let Ok(id) = reamaze_id.parse::<MessageId>() else {
        return Ok(false);
    };
    let n = diesel::update(
        messages::table
            .find(id)
            .filter(messages::account_id.eq(account_id)),
    )
    .set(messages::starred.eq(starred))
    .execute(conn)
    .await?;
    Ok(n == 1)
}
