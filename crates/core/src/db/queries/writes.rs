//! The migration's writes. Every row is keyed by its Conversations id, so each function can be
//! re-run any number of times and leaves the same rows.

use crate::crypto::SecretBox;
use crate::db::schema::{
    attachments, brands, channel_sources, channels, contacts, conversations, messages, rejects,
};
use crate::error::CoreResult;
use crate::source::{pg_text, Reject, SourceBrand, SourceChannel, SourceMessage, SourceThread};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use uuid::Uuid;

/// Upserts the brands and channels of configs-migration; web chat channels are matched to the
/// account's existing web chat channel. Returns the number of source channels carried over.
pub async fn upsert_brands_and_channels(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    source: &[SourceBrand],
    secrets: &SecretBox,
) -> CoreResult<i32> {
    let mut count = 0;
    for b in source {
        let has_webchat = b.channels.iter().any(|c| c.kind == "webchat");
        let brand_id = upsert_brand(conn, account_id, b, has_webchat).await?;
        for ch in &b.channels {
            let channel_id = if ch.kind == "webchat" {
                webchat_channel(conn, account_id, brand_id, ch).await?
            } else {
                upsert_channel(conn, account_id, brand_id, ch, secrets).await?
            };
            diesel::insert_into(channel_sources::table)
                .values((
                    channel_sources::account_id.eq(account_id),
                    channel_sources::source_id.eq(&ch.channel_id),
                    channel_sources::channel_id.eq(channel_id),
                ))
                .on_conflict((channel_sources::account_id, channel_sources::source_id))
                .do_update()
                .set(channel_sources::channel_id.eq(channel_id))
                .execute(conn)
                .await?;
            count += 1;
        }
    }
    Ok(count)
}

async fn upsert_brand(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    b: &SourceBrand,
    has_webchat: bool,
) -> CoreResult<Uuid> {
    let name = pg_text(b.name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("Brand {}", b.brand_id));
    let website = pg_text(b.website.as_deref());
    let existing: Option<Uuid> = brands::table
        .filter(brands::account_id.eq(account_id))
        .filter(brands::source_id.eq(&b.brand_id))
        .select(brands::id)
        .first(conn)
        .await
        .optional()?;
    // the brand holding web chat is the one the web chat initiative created: claim it
    let target = match existing {
        Some(id) => Some(id),
        None if has_webchat => native_webchat(conn, account_id)
            .await?
            .map(|(_, brand)| brand)
            .filter(|_| true),
        None => None,
    };
    if let Some(id) = target {
        let claimed = diesel::update(
            brands::table.find(id).filter(
                brands::source_id
                    .is_null()
                    .or(brands::source_id.eq(&b.brand_id)),
            ),
        )
        .set((
            brands::source_id.eq(&b.brand_id),
            brands::name.eq(&name),
            brands::website.eq(&website),
        ))
        .execute(conn)
        .await?;
        if claimed == 1 {
            return Ok(id);
        }
    }
    let id = Uuid::new_v4();
    diesel::insert_into(brands::table)
        .values((
            brands::id.eq(id),
            brands::account_id.eq(account_id),
            brands::source_id.eq(&b.brand_id),
            brands::name.eq(&name),
            brands::website.eq(&website),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The account's native web chat channel and its brand.
async fn native_webchat(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
) -> CoreResult<Option<(Uuid, Uuid)>> {
    Ok(channels::table
        .filter(channels::account_id.eq(account_id))
        .filter(channels::kind.eq("webchat"))
        .order((channels::native.desc(), channels::created_at))
        .select((channels::id, channels::brand_id))
        .first(conn)
        .await
        .optional()?)
}

async fn webchat_channel(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    brand_id: Uuid,
    ch: &SourceChannel,
) -> CoreResult<Uuid> {
    if let Some((id, _)) = native_webchat(conn, account_id).await? {
        return Ok(id);
    }
    // no web chat yet (the initiative missed this account): create exactly one
    let id = Uuid::new_v4();
    diesel::insert_into(channels::table)
        .values((
            channels::id.eq(id),
            channels::account_id.eq(account_id),
            channels::brand_id.eq(brand_id),
            channels::kind.eq("webchat"),
            channels::name.eq(pg_text(ch.name.as_deref()).unwrap_or_else(|| "Web chat".into())),
            channels::address.eq(pg_text(ch.address.as_deref())),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

async fn upsert_channel(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    brand_id: Uuid,
    ch: &SourceChannel,
    secrets: &SecretBox,
) -> CoreResult<Uuid> {
    let sealed = ch
        .credentials
        .as_ref()
        .map(|c| secrets.seal(&serde_json::to_vec(c).expect("json serialises")));
    let settings = ch.settings.clone().unwrap_or_else(|| serde_json::json!({}));
    let name = pg_text(ch.name.as_deref()).unwrap_or_else(|| ch.kind.clone());
    let address = pg_text(ch.address.as_deref());
    let existing: Option<Uuid> = channel_sources::table
        .filter(channel_sources::account_id.eq(account_id))
        .filter(channel_sources::source_id.eq(&ch.channel_id))
        .select(channel_sources::channel_id)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = existing {
        diesel::update(channels::table.find(id))
            .set((
                channels::brand_id.eq(brand_id),
                channels::kind.eq(&ch.kind),
                channels::name.eq(&name),
                channels::address.eq(&address),
                channels::settings.eq(&settings),
                channels::credentials_enc.eq(&sealed),
            ))
            .execute(conn)
            .await?;
        return Ok(id);
    }
    let id = Uuid::new_v4();
    diesel::insert_into(channels::table)
        .values((
            channels::id.eq(id),
            channels::account_id.eq(account_id),
            channels::brand_id.eq(brand_id),
            channels::kind.eq(&ch.kind),
            channels::name.eq(&name),
            channels::address.eq(&address),
            channels::settings.eq(&settings),
            channels::credentials_enc.eq(&sealed),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Conversations channel id -> re:amaze channel, for the account.
pub async fn channel_map(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
) -> CoreResult<HashMap<String, Uuid>> {
    Ok(channel_sources::table
        .filter(channel_sources::account_id.eq(account_id))
        .select((channel_sources::source_id, channel_sources::channel_id))
        .load::<(String, Uuid)>(conn)
        .await?
        .into_iter()
        .collect())
}

/// A conversation as written: its id and whether its messages are all in already.
#[derive(Debug, Clone, Copy)]
pub struct ThreadRow {
    /// The conversation.
    pub conversation_id: Uuid,
    /// All messages written by an earlier pass.
    pub messages_complete: bool,
}

/// Upserts the contact and the conversation of a source thread.
pub async fn upsert_thread(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    channel_id: Uuid,
    t: &SourceThread,
) -> CoreResult<ThreadRow> {
    Ok(upsert_threads(conn, account_id, &[(channel_id, t)]).await?[0])
}

/// Upserts the contacts and conversations of several source threads in two statements;
/// returns their rows in the order given.
pub async fn upsert_threads(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    threads: &[(Uuid, &SourceThread)],
) -> CoreResult<Vec<ThreadRow>> {
    // contacts: one row per distinct key (an upsert may not touch a row twice)
    let mut keys: Vec<String> = Vec::new();
    let mut contact_rows = Vec::new();
    for (_, t) in threads {
        if let Some(c) = t
            .contact
            .as_ref()
            .filter(|c| c.name.is_some() || c.phone.is_some() || c.email.is_some())
        {
            let key = pg_text(Some(&c.source_key())).unwrap_or_default();
            if !keys.contains(&key) {
                contact_rows.push((
                    contacts::id.eq(Uuid::new_v4()),
                    contacts::account_id.eq(account_id),
                    contacts::source_id.eq(key.clone()),
                    contacts::name.eq(pg_text(c.name.as_deref())),
                    contacts::phone.eq(pg_text(c.phone.as_deref())),
                    contacts::email.eq(pg_text(c.email.as_deref())),
                ));
                keys.push(key);
            }
        }
    }
    let contact_ids: HashMap<String, Uuid> = if contact_rows.is_empty() {
        HashMap::new()
    } else {
        diesel::insert_into(contacts::table)
            .values(&contact_rows)
            .on_conflict((contacts::account_id, contacts::source_id))
            .do_update()
            .set(contacts::name.eq(excluded(contacts::name)))
            .returning((contacts::source_id.assume_not_null(), contacts::id))
            .get_results::<(String, Uuid)>(conn)
            .await?
            .into_iter()
            .collect()
    };
    let rows: Vec<_> = threads
        .iter()
        .map(|(channel_id, t)| {
            let contact_id = t.contact.as_ref().and_then(|c| {
                contact_ids
                    .get(&pg_text(Some(&c.source_key())).unwrap_or_default())
                    .copied()
            });
            (
                conversations::id.eq(Uuid::new_v4()),
                conversations::account_id.eq(account_id),
                conversations::channel_id.eq(*channel_id),
                conversations::contact_id.eq(contact_id),
                conversations::source_id.eq(t.thread_id.clone()),
                conversations::subject.eq(pg_text(t.subject.as_deref())),
                conversations::status.eq(t.status.clone()),
                conversations::starred.eq(t.starred),
                conversations::created_at.eq(t.created_at),
                conversations::last_message_at.eq(t.last_message_at),
            )
        })
        .collect();
    let written: HashMap<String, ThreadRow> = diesel::insert_into(conversations::table)
        .values(&rows)
        .on_conflict((conversations::account_id, conversations::source_id))
        .do_update()
        .set(conversations::starred.eq(excluded(conversations::starred)))
        .returning((
            conversations::source_id.assume_not_null(),
            conversations::id,
            conversations::messages_complete,
        ))
        .get_results::<(String, Uuid, bool)>(conn)
        .await?
        .into_iter()
        .map(|(s, conversation_id, messages_complete)| {
            (
                s,
                ThreadRow {
                    conversation_id,
                    messages_complete,
                },
            )
        })
        .collect();
    Ok(threads.iter().map(|(_, t)| written[&t.thread_id]).collect())
}

/// What a batch of messages added.
#[derive(Debug, Clone, Default)]
pub struct MessageBatch {
    /// Messages inserted (already-present ones are skipped).
    pub inserted: i64,
    /// Attachments waiting for download: (attachment id, media url).
    pub pending_attachments: Vec<(Uuid, String)>,
    /// Attachments failed on arrival (malformed entries).
    pub failed_attachments: i32,
    /// Positions in the batch of messages whose id was already migrated from another item (a
    /// contract breach: message ids are unique across the platform); the caller records them
    /// as rejects.
    pub foreign_duplicates: Vec<usize>,
}

/// Inserts a batch of one conversation's messages with their attachment rows; messages already
/// present are skipped (their attachments were written with them).
pub async fn insert_messages(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    conversation_id: Uuid,
    batch: &[SourceMessage],
) -> CoreResult<MessageBatch> {
    let pairs: Vec<(Uuid, &SourceMessage)> = batch.iter().map(|m| (conversation_id, m)).collect();
    insert_messages_of(conn, account_id, &pairs).await
}

/// Inserts messages of several conversations in one statement (plus one for attachments and
/// one for the conversations' message counts); already-present messages are skipped.
pub async fn insert_messages_of(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    batch: &[(Uuid, &SourceMessage)],
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
    let inserted = insert_message_rows(conn, account_id, keep.iter().map(|&i| batch[i])).await?;
    let intended: HashMap<&str, (usize, Uuid, &SourceMessage)> = keep
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
        let fresh: std::collections::HashSet<&str> =
            inserted.iter().map(|(_, s, _)| s.as_str()).collect();
        let skipped: Vec<&str> = intended
            .keys()
            .copied()
            .filter(|id| !fresh.contains(id))
            .collect();
        let existing: Vec<(String, Uuid)> = messages::table
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
    let mut att_rows = Vec::new();
    let mut per_conversation: HashMap<Uuid, i32> = HashMap::new();
    for (message_id, source_id, conversation_id) in &inserted {
        *per_conversation.entry(*conversation_id).or_default() += 1;
        let Some((_, _, m)) = intended.get(source_id.as_str()) else {
            continue;
        };
        for (pos, a) in m.attachments.iter().enumerate() {
            let id = Uuid::new_v4();
            let status = match (&a.defect, &a.media_url) {
                (None, Some(url)) => {
                    out.pending_attachments.push((id, url.clone()));
                    "pending"
                }
                _ => {
                    out.failed_attachments += 1;
                    "failed"
                }
            };
            att_rows.push((
                attachments::id.eq(id),
                attachments::account_id.eq(account_id),
                attachments::message_id.eq(*message_id),
                attachments::position.eq(pos as i32),
                attachments::media_url.eq(pg_text(a.media_url.as_deref())),
                attachments::file_name.eq(pg_text(a.file_name.as_deref())),
                attachments::content_type.eq(pg_text(a.content_type.as_deref())),
                attachments::size_bytes.eq(a.size_bytes),
                attachments::status.eq(status),
                attachments::failure_reason.eq(a.defect.clone()),
            ));
        }
    }
    for chunk in att_rows.chunks(2000) {
        diesel::insert_into(attachments::table)
            .values(chunk)
            .on_conflict((attachments::message_id, attachments::position))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    if !per_conversation.is_empty() {
        let (ids, counts): (Vec<Uuid>, Vec<i32>) = per_conversation.into_iter().unzip();
        diesel::sql_query(
            "UPDATE conversations c SET message_count = c.message_count + v.n \
             FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::int[]) AS n) v WHERE c.id = v.id",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(counts)
        .execute(conn)
        .await?;
    }
    Ok(out)
}

/// Column arrays of a message batch, bound as 10 parameters of one small statement
/// (`INSERT … SELECT … FROM unnest(…)`) instead of 11 parameters per row: the statement text
/// stays the same whatever the batch size, so Postgres parses it once per call, not per row.
async fn insert_message_rows<'a>(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    rows: impl Iterator<Item = (Uuid, &'a SourceMessage)>,
) -> CoreResult<Vec<(Uuid, String, Uuid)>> {
    use diesel::sql_types::{Array, Bool, Bytea, Json, Nullable, Text, Timestamptz};
    let (mut ids, mut convs, mut srcs, mut sorts, mut dirs) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut authors, mut bodies, mut sent, mut starred, mut meta) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (conversation_id, m) in rows {
        ids.push(Uuid::new_v4());
        convs.push(conversation_id);
        srcs.push(m.message_id.clone());
        sorts.push(pg_text(Some(&m.sort_key)));
        dirs.push(m.direction.clone());
        authors.push(pg_text(m.author_name.as_deref()));
        bodies.push(m.body.as_ref().map(|b| b.as_bytes().to_vec()));
        sent.push(m.sent_at);
        starred.push(m.starred);
        meta.push(m.metadata.clone());
    }
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        source_id: String,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        conversation_id: Uuid,
    }
    let rows: Vec<Inserted> = diesel::sql_query(
        "INSERT INTO messages (id, account_id, conversation_id, source_id, source_sort, direction, \
                               author_name, body, sent_at, starred, metadata) \
         SELECT u.id, $1, u.conv, u.src, u.sort, u.dir, u.author, u.body, u.sent, u.starred, u.meta \
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], \
                     $8::bytea[], $9::timestamptz[], $10::bool[], $11::json[]) \
              AS u(id, conv, src, sort, dir, author, body, sent, starred, meta) \
         ON CONFLICT (account_id, source_id) DO NOTHING \
         RETURNING id, source_id, conversation_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(account_id)
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<diesel::sql_types::Uuid>, _>(convs)
    .bind::<Array<Text>, _>(srcs)
    .bind::<Array<Nullable<Text>>, _>(sorts)
    .bind::<Array<Text>, _>(dirs)
    .bind::<Array<Nullable<Text>>, _>(authors)
    .bind::<Array<Nullable<Bytea>>, _>(bodies)
    .bind::<Array<Timestamptz>, _>(sent)
    .bind::<Array<Bool>, _>(starred)
    .bind::<Array<Nullable<Json>>, _>(meta)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.source_id, r.conversation_id))
        .collect())
}

/// Marks a conversation's messages complete; true when this call flipped it (count it once).
pub async fn complete_thread(
    conn: &mut AsyncPgConnection,
    conversation_id: Uuid,
) -> CoreResult<bool> {
    Ok(complete_threads(conn, &[conversation_id]).await? == 1)
}

/// Marks conversations' messages complete; returns how many this call flipped.
pub async fn complete_threads(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> CoreResult<i32> {
    let n = diesel::update(
        conversations::table
            .filter(conversations::id.eq_any(ids))
            .filter(conversations::messages_complete.eq(false)),
    )
    .set(conversations::messages_complete.eq(true))
    .execute(conn)
    .await?;
    Ok(n as i32)
}

/// Carries a web chat thread's starred flag onto the re:amaze conversation it mirrors; false when
/// that conversation does not exist in this account.
pub async fn star_webchat_conversation(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    reamaze_id: &str,
    starred: bool,
) -> CoreResult<bool> {
    let Ok(id) = Uuid::parse_str(reamaze_id) else {
        return Ok(false);
    };
    let n = diesel::update(
        conversations::table
            .find(id)
            .filter(conversations::account_id.eq(account_id)),
    )
    .set(conversations::starred.eq(starred))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Carries a web chat message's starred flag onto the re:amaze message it mirrors.
pub async fn star_webchat_message(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    reamaze_id: &str,
    starred: bool,
) -> CoreResult<bool> {
    let Ok(id) = Uuid::parse_str(reamaze_id) else {
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

/// Records rejects once each; returns how many are new.
pub async fn record_rejects(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    run_id: Uuid,
    list: &[Reject],
) -> CoreResult<i32> {
    if list.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = list
        .iter()
        .map(|r| {
            (
                rejects::account_id.eq(account_id),
                rejects::run_id.eq(Some(run_id)),
                rejects::source_table.eq(r.source_table.clone()),
                rejects::source_key.eq(pg_text(Some(&r.source_key)).unwrap_or_default()),
                rejects::reason.eq(pg_text(Some(&r.reason)).unwrap_or_default()),
                rejects::raw.eq(r.raw.clone()),
            )
        })
        .collect();
    let n = diesel::insert_into(rejects::table)
        .values(&rows)
        .on_conflict((
            rejects::account_id,
            rejects::source_table,
            rejects::source_key,
        ))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n as i32)
}

/// Attachments of the account still waiting for download (left by an interrupted hop).
pub async fn pending_attachments(
    conn: &mut AsyncPgConnection,
    account_id: Uuid,
    limit: i64,
) -> CoreResult<Vec<(Uuid, String)>> {
    Ok(attachments::table
        .filter(attachments::account_id.eq(account_id))
        .filter(attachments::status.eq("pending"))
        .filter(attachments::media_url.is_not_null())
        .select((attachments::id, attachments::media_url.assume_not_null()))
        .limit(limit)
        .load(conn)
        .await?)
}

/// Records a download's outcome; returns true when the row was still pending (count it once).
pub async fn settle_attachment(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    attempts: i32,
    outcome: Result<(&str, i64, Option<&str>), &str>,
) -> CoreResult<bool> {
    let q = attachments::table
        .find(id)
        .filter(attachments::status.eq("pending"));
    let n = match outcome {
        Ok((blob_key, size, content_type)) => {
            let mut n = diesel::update(q)
                .set((
                    attachments::status.eq("stored"),
                    attachments::attempts.eq(attempts),
                    attachments::blob_key.eq(Some(blob_key)),
                    attachments::size_bytes.eq(Some(size)),
                    attachments::failure_reason.eq(None::<String>),
                ))
                .execute(conn)
                .await?;
            if let (1, Some(ct)) = (n, content_type) {
                n = diesel::update(
                    attachments::table
                        .find(id)
                        .filter(attachments::content_type.is_null()),
                )
                .set(attachments::content_type.eq(Some(ct)))
                .execute(conn)
                .await
                .map(|_| 1)?;
            }
            n
        }
        Err(reason) => {
            diesel::update(q)
                .set((
                    attachments::status.eq("failed"),
                    attachments::attempts.eq(attempts),
                    attachments::failure_reason.eq(Some(reason)),
                ))
                .execute(conn)
                .await?
        }
    };
    Ok(n == 1)
}
