//! Brands and channels from configs-migration, keyed by their Conversations ids so the channels
//! phase can run any number of times and leave the same rows. Web chat channels are matched to
//! the account's existing web chat channel, never duplicated.

use crate::crypto::Keyring;
use crate::schema::{brands, channel_sources, channels};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, BrandId, ChannelId};
use migrator_core::source::{channels_as_migrated, SourceBrand, SourceChannel};
use migrator_core::text::{exact, ExactText};
use std::collections::HashMap;

/// Upserts the brands and channels of configs-migration in a few statements whatever the
/// number of channels: the account's known channels are read once, every channel is written by
/// one multi-row upsert and every source id by another. A channel id the source lists twice is
/// written once, as [`channels_as_migrated`] says (the verifier reads the listing the same
/// way). Returns the number of distinct source channels carried over.
pub async fn upsert_brands_and_channels(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    source: &[SourceBrand],
    secrets: &Keyring,
) -> CoreResult<i32> {
    let known = channel_map(conn, account_id).await?;
    // web chat is the account's one channel: found, or created with the first brand listing it
    let mut webchat: Option<ChannelId> = None;
    let mut native = Native::default();
    let mut brand_ids = Vec::with_capacity(source.len());
    for b in source {
        let first_webchat = b.channels.iter().find(|c| c.kind == "webchat");
        let brand_id =
            upsert_brand(conn, account_id, b, first_webchat.is_some(), &mut native).await?;
        if let (None, Some(ch)) = (webchat, first_webchat) {
            let native = native.get(conn, account_id).await?;
            webchat = Some(webchat_channel(conn, account_id, brand_id, ch, native).await?);
        }
        brand_ids.push(brand_id);
    }
    let listed = channels_as_migrated(source);
    let mut rows: Vec<ChannelRow> = Vec::new();
    let mut sources = Vec::with_capacity(listed.len());
    for (b, ch) in &listed {
        let id = match webchat.filter(|_| ch.kind == "webchat") {
            Some(id) => id,
            None => {
                let id = known.get(&ch.channel_id).copied().unwrap_or_default();
                rows.push(channel_row(id, account_id, brand_ids[*b], ch, secrets));
                id
            }
        };
        sources.push((
            channel_sources::account_id.eq(account_id),
            channel_sources::source_id.eq(ExactText::from(ch.channel_id.as_str())),
            channel_sources::channel_id.eq(id),
        ));
    }
    if !rows.is_empty() {
        diesel::insert_into(channels::table)
            .values(&rows)
            .on_conflict(channels::id)
            .do_update()
            .set((
                channels::brand_id.eq(excluded(channels::brand_id)),
                channels::kind.eq(excluded(channels::kind)),
                channels::name.eq(excluded(channels::name)),
                channels::address.eq(excluded(channels::address)),
                channels::settings.eq(excluded(channels::settings)),
                channels::credentials_enc.eq(excluded(channels::credentials_enc)),
                channels::credentials_key_id.eq(excluded(channels::credentials_key_id)),
            ))
            .execute(conn)
            .await?;
    }
    if !sources.is_empty() {
        diesel::insert_into(channel_sources::table)
            .values(sources)
            .on_conflict((channel_sources::account_id, channel_sources::source_id))
            .do_update()
            .set(channel_sources::channel_id.eq(excluded(channel_sources::channel_id)))
            .execute(conn)
            .await?;
    }
    Ok(listed.len() as i32)
}

/// The account's web chat channel before this upsert, read at most once.
#[derive(Default)]
struct Native(Option<Option<(ChannelId, BrandId)>>);

impl Native {
    async fn get(
        &mut self,
        conn: &mut AsyncPgConnection,
        account_id: AccountId,
    ) -> CoreResult<Option<(ChannelId, BrandId)>> {
        if self.0.is_none() {
            self.0 = Some(native_webchat(conn, account_id).await?);
        }
        Ok(self.0.flatten())
    }
}

async fn upsert_brand(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    b: &SourceBrand,
    has_webchat: bool,
    native: &mut Native,
) -> CoreResult<BrandId> {
    let name = exact(b.name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("Brand {}", b.brand_id).into());
    let source_id = ExactText::from(b.brand_id.as_str());
    let website = exact(b.website.as_deref());
    let existing: Option<BrandId> = brands::table
        .filter(brands::account_id.eq(account_id))
        .filter(brands::source_id.eq(&source_id))
        .select(brands::id)
        .first(conn)
        .await
        .optional()?;
    // the brand holding web chat is the one the web chat initiative created: claim it
    let target = match existing {
        Some(id) => Some(id),
        None if has_webchat => native.get(conn, account_id).await?.map(|(_, brand)| brand),
        None => None,
    };
    if let Some(id) = target {
        let claimed = diesel::update(
            brands::table.find(id).filter(
                brands::source_id
                    .is_null()
                    .or(brands::source_id.eq(&source_id)),
            ),
        )
        .set((
            brands::source_id.eq(&source_id),
            brands::name.eq(&name),
            brands::website.eq(&website),
        ))
        .execute(conn)
        .await?;
        if claimed == 1 {
            return Ok(id);
        }
    }
    let id = BrandId::new();
    diesel::insert_into(brands::table)
        .values((
            brands::id.eq(id),
            brands::account_id.eq(account_id),
            brands::source_id.eq(&source_id),
            brands::name.eq(&name),
            brands::website.eq(&website),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The account's web chat channel (the native one first) and its brand.
pub async fn native_webchat(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<Option<(ChannelId, BrandId)>> {
    Ok(channels::table
        .filter(channels::account_id.eq(account_id))
        .filter(channels::kind.eq("webchat"))
        .order((channels::native.desc(), channels::created_at))
        .select((channels::id, channels::brand_id))
        .first(conn)
        .await
        .optional()?)
}

/// The account's web chat channel: `native` (found before this upsert), or one created now.
async fn webchat_channel(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    brand_id: BrandId,
    ch: &SourceChannel,
    native: Option<(ChannelId, BrandId)>,
) -> CoreResult<ChannelId> {
    if let Some((id, _)) = native {
        return Ok(id);
    }
    // no web chat yet (the initiative missed this account): create exactly one
    let id = ChannelId::new();
    diesel::insert_into(channels::table)
        .values((
            channels::id.eq(id),
            channels::account_id.eq(account_id),
            channels::brand_id.eq(brand_id),
            channels::kind.eq("webchat"),
            channels::name.eq(exact(ch.name.as_deref()).unwrap_or_else(|| "Web chat".into())),
            channels::address.eq(exact(ch.address.as_deref())),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// A channel's row as configs-migration gives it.
#[derive(Insertable)]
#[diesel(table_name = channels)]
struct ChannelRow {
    id: ChannelId,
    account_id: AccountId,
    brand_id: BrandId,
    kind: ExactText,
    name: ExactText,
    address: Option<ExactText>,
    settings: serde_json::Value,
    credentials_enc: Option<Vec<u8>>,
    credentials_key_id: Option<String>,
}

fn channel_row(
    id: ChannelId,
    account_id: AccountId,
    brand_id: BrandId,
    ch: &SourceChannel,
    secrets: &Keyring,
) -> ChannelRow {
    // bound to this account, this channel and the key: a row copied to another account or
    // swapped with another channel's does not decrypt
    let sealed = ch.credentials.as_ref().map(|c| {
        let plain = serde_json::to_vec(c).expect("json serialises");
        secrets.seal_credentials(&plain, &account_id.0, &id.0)
    });
    let (credentials_key_id, credentials_enc) = match sealed {
        Some(s) => (Some(s.key_id), Some(s.bytes)),
        None => (None, None),
    };
    ChannelRow {
        id,
        account_id,
        brand_id,
        kind: ExactText::from(ch.kind.as_str()),
        name: exact(ch.name.as_deref()).unwrap_or_else(|| ch.kind.as_str().into()),
        address: exact(ch.address.as_deref()),
        settings: ch.settings.clone().unwrap_or_else(|| serde_json::json!({})),
        credentials_enc,
        credentials_key_id,
    }
}

/// Conversations channel id -> re:amaze channel, for the account.
pub async fn channel_map(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<HashMap<String, ChannelId>> {
    Ok(channel_sources::table
        .filter(channel_sources::account_id.eq(account_id))
        .select((channel_sources::source_id, channel_sources::channel_id))
        .load::<(ExactText, ChannelId)>(conn)
        .await?
        .into_iter()
        .map(|(source, id)| (source.into_string(), id))
        .collect())
}

/// A channel's credentials, opened (None: it has none). A value sealed by an earlier release
/// (bound to the account alone) is rewritten in the current form, bound to the account, the
/// channel and the active key.
pub async fn open_credentials(
    conn: &mut AsyncPgConnection,
    secrets: &Keyring,
    channel_id: ChannelId,
) -> CoreResult<Option<serde_json::Value>> {
    use crate::crypto::{SealForm, Sealed};
    let row: (AccountId, Option<Vec<u8>>, Option<String>) = channels::table
        .find(channel_id)
        .select((
            channels::account_id,
            channels::credentials_enc,
            channels::credentials_key_id,
        ))
        .first(conn)
        .await?;
    let (account, Some(bytes), Some(key_id)) = row else {
        return Ok(None);
    };
    let sealed = Sealed { key_id, bytes };
    let (plain, form) = secrets
        .open_credentials(&sealed, &account.0, &channel_id.0)
        .map_err(|e| CoreError::Invalid(format!("credentials of channel {channel_id}: {e}")))?;
    if form == SealForm::AccountOnly {
        let again = secrets.seal_credentials(&plain, &account.0, &channel_id.0);
        diesel::update(channels::table.find(channel_id))
            .set((
                channels::credentials_enc.eq(Some(again.bytes)),
                channels::credentials_key_id.eq(Some(again.key_id)),
            ))
            .execute(conn)
            .await?;
    }
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| CoreError::Invalid(format!("credentials of channel {channel_id}: {e}")))
}
