// @generated-by-hand to match migrations/ (diesel print-schema layout).

diesel::table! {
    accounts (id) {
        id -> Uuid,
        shopper_id -> Text,
        name -> Text,
        status -> Text,
        migration_status -> Text,
        current_run_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        switched_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    brands (id) {
        id -> Uuid,
        account_id -> Uuid,
        source_id -> Nullable<Text>,
        name -> Text,
        website -> Nullable<Text>,
        native -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    channels (id) {
        id -> Uuid,
        account_id -> Uuid,
        brand_id -> Uuid,
        kind -> Text,
        name -> Text,
        address -> Nullable<Text>,
        settings -> Json,
        credentials_enc -> Nullable<Bytea>,
        native -> Bool,
        created_at -> Timestamptz,
        credentials_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    channel_sources (account_id, source_id) {
        account_id -> Uuid,
        source_id -> Text,
        channel_id -> Uuid,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        account_id -> Uuid,
        source_id -> Nullable<Text>,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        native -> Bool,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        account_id -> Uuid,
        channel_id -> Uuid,
        contact_id -> Nullable<Uuid>,
        source_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        status -> Text,
        starred -> Bool,
        created_at -> Timestamptz,
        last_message_at -> Timestamptz,
        message_count -> Int4,
        messages_complete -> Bool,
        native -> Bool,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        account_id -> Uuid,
        conversation_id -> Uuid,
        source_id -> Nullable<Text>,
        source_sort -> Nullable<Text>,
        direction -> Text,
        author_name -> Nullable<Text>,
        body -> Nullable<Bytea>,
        sent_at -> Timestamptz,
        starred -> Bool,
        metadata -> Nullable<Json>,
        native -> Bool,
    }
}

diesel::table! {
    attachments (id) {
        id -> Uuid,
        account_id -> Uuid,
        message_id -> Uuid,
        position -> Int4,
        media_url -> Nullable<Text>,
        file_name -> Nullable<Text>,
        content_type -> Nullable<Text>,
        size_bytes -> Nullable<Int8>,
        status -> Text,
        attempts -> Int4,
        failure_reason -> Nullable<Text>,
        blob_key -> Nullable<Text>,
        run_id -> Nullable<Uuid>,
        next_attempt_at -> Nullable<Timestamptz>,
        failure -> Nullable<Text>,
        refusals -> Int4,
    }
}

diesel::table! {
    migration_runs (id) {
        id -> Uuid,
        account_id -> Uuid,
        phase -> Text,
        cancelled -> Bool,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        hop_attempts -> Int4,
        last_error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        checkpoint -> Nullable<Json>,
        threads_total -> Int4,
        threads_migrated -> Int4,
        messages_migrated -> Int8,
        attachments_stored -> Int4,
        attachments_failed -> Int4,
        rejects -> Int4,
        channels_migrated -> Int4,
        channels_at -> Nullable<Timestamptz>,
        recent_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        total_attempts -> Int4,
        parked_at -> Nullable<Timestamptz>,
        attachments_pending -> Int4,
        verification -> Nullable<Text>,
        verified_at -> Nullable<Timestamptz>,
        active -> Bool,
        superseded -> Bool,
        lane -> Text,
        campaign_id -> Nullable<Uuid>,
        opened_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    run_settling (run_id) {
        run_id -> Uuid,
        account_id -> Uuid,
        settle_until -> Nullable<Timestamptz>,
        catch_up_at -> Nullable<Timestamptz>,
        catch_up_final -> Bool,
        plan -> Nullable<Jsonb>,
        catch_ups -> Int4,
        repairs -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    blob_removals (id) {
        id -> Int8,
        prefix -> Text,
        reason -> Text,
        requested_at -> Timestamptz,
        attempts -> Int4,
        next_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    settle_events (id) {
        id -> Int8,
        run_id -> Uuid,
        account_id -> Uuid,
        kind -> Text,
        at -> Timestamptz,
        threads -> Int4,
        messages -> Int8,
        detail -> Jsonb,
    }
}

diesel::table! {
    verifications (id) {
        id -> Uuid,
        account_id -> Uuid,
        run_id -> Nullable<Uuid>,
        status -> Text,
        requested_by -> Text,
        requested_at -> Timestamptz,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamptz>,
        attempts -> Int4,
        finished_at -> Nullable<Timestamptz>,
        result -> Nullable<Text>,
        channels_checked -> Int4,
        threads_checked -> Int4,
        messages_checked -> Int8,
        attachments_checked -> Int8,
        diff_count -> Int8,
        diffs -> Json,
        error -> Nullable<Text>,
        superseded -> Bool,
        repair -> Bool,
    }
}

diesel::table! {
    rejects (id) {
        id -> Int8,
        account_id -> Uuid,
        run_id -> Nullable<Uuid>,
        source_table -> Text,
        source_key -> Text,
        reason -> Text,
        raw -> Json,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        payload -> Json,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        claimed_until -> Nullable<Timestamptz>,
        delay_ms -> Int8,
    }
}

diesel::table! {
    fleet_settings (id) {
        id -> Int4,
        paused -> Bool,
        max_reads_per_sec -> Nullable<Int4>,
        max_rest_per_sec -> Nullable<Int4>,
        updated_at -> Timestamptz,
        updated_by -> Nullable<Text>,
    }
}

diesel::table! {
    conversation_counts (account_id) {
        account_id -> Uuid,
        n -> Int8,
    }
}

diesel::table! {
    fleet_counts (what) {
        what -> Text,
        n -> Int8,
    }
}

diesel::table! {
    account_counts (status, shard) {
        status -> Text,
        shard -> Int2,
        n -> Int8,
    }
}

diesel::table! {
    fleet_workers (worker_id) {
        worker_id -> Text,
        seen_at -> Timestamptz,
        media_refusals -> Int4,
        rest_refusals -> Int4,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        actor -> Text,
        action -> Text,
        target -> Text,
        detail -> Json,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> Int8,
        account_id -> Nullable<Uuid>,
        run_id -> Nullable<Uuid>,
        phase -> Text,
        hop -> Json,
        error -> Text,
        created_at -> Timestamptz,
        replayed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    fleet_locks (name) {
        name -> Text,
        owner -> Text,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Uuid,
        state -> Text,
        statuses -> Array<Text>,
        created_before -> Nullable<Timestamptz>,
        shopper_ids -> Nullable<Array<Text>>,
        rate_per_sec -> Float8,
        max_in_flight -> Int4,
        deadline -> Timestamptz,
        selecting -> Bool,
        select_after -> Nullable<Uuid>,
        selected -> Int8,
        cursor -> Nullable<Uuid>,
        walked -> Bool,
        enqueued -> Int8,
        held_back -> Nullable<Text>,
        created_at -> Timestamptz,
        created_by -> Text,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    campaign_accounts (campaign_id, account_id) {
        campaign_id -> Uuid,
        account_id -> Uuid,
        status -> Text,
        drives -> Int2,
        last_drive_at -> Nullable<Timestamptz>,
        given_up -> Bool,
    }
}

diesel::table! {
    campaign_counts (campaign_id, key, shard) {
        campaign_id -> Uuid,
        key -> Text,
        shard -> Int2,
        n -> Int8,
    }
}

diesel::table! {
    completions (minute, lane, shard) {
        minute -> Timestamptz,
        lane -> Text,
        shard -> Int2,
        n -> Int8,
    }
}

diesel::table! {
    fleet_minutes (series, minute, shard) {
        series -> Text,
        minute -> Timestamptz,
        shard -> Int2,
        n -> Int8,
    }
}

diesel::table! {
    burn_down (scope_id, at) {
        scope_id -> Uuid,
        at -> Timestamptz,
        accounts -> Int8,
        remaining -> Int8,
        hourly -> Bool,
    }
}

diesel::table! {
    campaign_events (id) {
        id -> Int8,
        campaign_id -> Uuid,
        at -> Timestamptz,
        kind -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(brands -> accounts (account_id));
diesel::joinable!(channels -> brands (brand_id));
diesel::joinable!(conversations -> contacts (contact_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(attachments -> messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    brands,
    channels,
    channel_sources,
    contacts,
    conversations,
    messages,
    attachments,
    migration_runs,
    rejects,
    outbox,
    fleet_locks,
    verifications,
    dead_letters,
    audit_log,
    fleet_settings,
    fleet_workers,
    campaigns,
    campaign_accounts,
    campaign_counts,
    completions,
    fleet_minutes,
    burn_down,
    campaign_events,
    settle_events,
    run_settling,
    blob_removals,
);
