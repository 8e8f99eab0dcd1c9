//! The simulator's DynamoDB side: the contract's two tables (+ GSI), and the simulator's own
//! state table holding what the REST API serves (brands, channels, eligibility).

use crate::items::{from_typed_json, message_item, n, s, thread_item, Item};
use crate::model::C1Spec;
use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value;

/// Table names.
#[derive(Debug, Clone)]
pub struct Tables {
    /// `conversations_threads`.
    pub threads: String,
    /// `conversations_messages`.
    pub messages: String,
    /// GSI name.
    pub recent_index: String,
    /// The simulator's own state.
    pub state: String,
}

/// The SDK's hyper client with rustls on ring (the SDK's default client is built without).
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A DynamoDB client for an emulator endpoint (static dummy credentials).
pub async fn client(endpoint: &str, region: &str) -> Client {
    let conf = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .http_client(https_client())
        .credentials_provider(aws_credential_types::Credentials::new(
            "sim", "sim", None, None, "sim",
        ))
        .build();
    Client::from_conf(conf)
}

fn key(name: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .expect("key")
}
fn attr(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .expect("attr")
}

/// A table another process created between our listing and our create (the simulator's
/// server and a seeder starting together) is there: not a failure.
fn exists_already(
    e: aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::create_table::CreateTableError,
    >,
) -> anyhow::Result<()> {
    match e.as_service_error() {
        Some(se) if se.is_resource_in_use_exception() => Ok(()),
        _ => Err(e.into()),
    }
}

/// Creates the tables if they do not exist.
pub async fn create_tables(c: &Client, t: &Tables) -> anyhow::Result<()> {
    let existing = c
        .list_tables()
        .limit(100)
        .send()
        .await?
        .table_names
        .unwrap_or_default();
    let mut existing = existing;
    let mut start = existing.last().cloned();
    while start.is_some() {
        let page = c
            .list_tables()
            .set_exclusive_start_table_name(start)
            .limit(100)
            .send()
            .await?;
        start = page.last_evaluated_table_name;
        existing.extend(page.table_names.unwrap_or_default());
    }
    if !existing.contains(&t.threads) {
        c.create_table()
            .table_name(&t.threads)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("shopper_id", ScalarAttributeType::S))
            .attribute_definitions(attr("thread_id", ScalarAttributeType::S))
            .attribute_definitions(attr("last_message_at", ScalarAttributeType::N))
            .key_schema(key("shopper_id", KeyType::Hash))
            .key_schema(key("thread_id", KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&t.recent_index)
                    .key_schema(key("shopper_id", KeyType::Hash))
                    .key_schema(key("last_message_at", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .map_or_else(exists_already, |_| Ok(()))
            .context("create threads table")?;
    }
    if !existing.contains(&t.messages) {
        c.create_table()
            .table_name(&t.messages)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("thread_id", ScalarAttributeType::S))
            .attribute_definitions(attr("sort_key", ScalarAttributeType::S))
            .key_schema(key("thread_id", KeyType::Hash))
            .key_schema(key("sort_key", KeyType::Range))
            .send()
            .await
            .map_or_else(exists_already, |_| Ok(()))
            .context("create messages table")?;
    }
    if !existing.contains(&t.state) {
        c.create_table()
            .table_name(&t.state)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("shopper_id", ScalarAttributeType::S))
            .key_schema(key("shopper_id", KeyType::Hash))
            .send()
            .await
            .map_or_else(exists_already, |_| Ok(()))
            .context("create state table")?;
    }
    Ok(())
}

/// Deletes the tables (test clean-up).
pub async fn drop_tables(c: &Client, t: &Tables) {
    for name in [&t.threads, &t.messages, &t.state] {
        let _ = c.delete_table().table_name(name).send().await;
    }
}

/// Writes items with BatchWriteItem, `parallel` batches at a time, retrying unprocessed items.
pub async fn put_all(
    c: &Client,
    table: &str,
    items: Vec<Item>,
    parallel: usize,
) -> anyhow::Result<()> {
    let batches: Vec<Vec<Item>> = items.chunks(25).map(|c| c.to_vec()).collect();
    stream::iter(batches)
        .map(|batch| async move {
            let mut reqs: Vec<WriteRequest> = batch
                .into_iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(i))
                                .build()
                                .expect("put"),
                        )
                        .build()
                })
                .collect();
            let mut tries = 0;
            while !reqs.is_empty() {
                let out = c
                    .batch_write_item()
                    .request_items(table, reqs.clone())
                    .send()
                    .await
                    .with_context(|| format!("batch write to {table}"))?;
                reqs = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(table))
                    .unwrap_or_default();
                tries += 1;
                if tries > 50 {
                    anyhow::bail!("unprocessed items persist in {table}");
                }
                if !reqs.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
                }
            }
            Ok::<_, anyhow::Error>(())
        })
        .buffer_unordered(parallel.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Stores a C1: its state (REST side) and its threads and messages (DynamoDB side).
pub async fn seed_c1(
    c: &Client,
    t: &Tables,
    spec: &C1Spec,
    media_base: &str,
) -> anyhow::Result<()> {
    let valid_threads = spec.threads.len() as i64;
    let configs = serde_json::json!({ "shopper_id": spec.shopper_id, "brands": spec.brands });
    c.put_item()
        .table_name(&t.state)
        .item("shopper_id", s(&spec.shopper_id))
        .item(
            "needs_migration",
            AttributeValue::Bool(spec.needs_migration),
        )
        .item("thread_count", n(valid_threads))
        .item("configs", s(&configs.to_string()))
        .send()
        .await
        .context("write sim state")?;
    let mut threads: Vec<Item> = spec
        .threads
        .iter()
        .map(|th| thread_item(&spec.shopper_id, th))
        .collect();
    let mut malformed_messages: Vec<Item> = Vec::new();
    for (table, raw) in &spec.malformed {
        let item: Item = raw
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), from_typed_json(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        if table == "threads" {
            threads.push(item);
        } else {
            malformed_messages.push(item);
        }
    }
    put_all(c, &t.threads, threads, 8).await?;
    // messages a few thousand at a time: a 1M-message C1 is built and written as it goes, not
    // held whole in memory as SDK items first
    const CHUNK: usize = 5000;
    let mut chunk: Vec<Item> = Vec::with_capacity(CHUNK);
    for th in &spec.threads {
        for m in &th.messages {
            chunk.push(message_item(&spec.shopper_id, &th.thread_id, m, media_base));
        }
        if chunk.len() >= CHUNK {
            put_all(c, &t.messages, std::mem::take(&mut chunk), 8).await?;
        }
    }
    chunk.extend(malformed_messages);
    put_all(c, &t.messages, chunk, 8).await?;
    Ok(())
}

/// What the REST side knows of a C1: (needs_migration, thread_count, configs JSON).
pub async fn load_state(
    c: &Client,
    t: &Tables,
    shopper_id: &str,
) -> anyhow::Result<Option<(bool, i64, Value)>> {
    let out = c
        .get_item()
        .table_name(&t.state)
        .key("shopper_id", s(shopper_id))
        .consistent_read(true)
        .send()
        .await?;
    let Some(item) = out.item else {
        return Ok(None);
    };
    let needs = matches!(
        item.get("needs_migration"),
        Some(AttributeValue::Bool(true))
    );
    let count = match item.get("thread_count") {
        Some(AttributeValue::N(x)) => x.parse().unwrap_or(0),
        _ => 0,
    };
    let configs = match item.get("configs") {
        Some(AttributeValue::S(x)) => serde_json::from_str(x)?,
        _ => serde_json::json!({"shopper_id": shopper_id, "brands": []}),
    };
    Ok(Some((needs, count, configs)))
}
