//! Items that land after the switch (`spec/source-contract.md` section 5), written into the
//! emulator's tables as Conversations writes them: a message in an existing thread (the
//! thread's `last_message_at` raised to it) or a new thread with its messages, dated now. The
//! spec is kept in step, so `verify::destination_equals_source` checks the final state.

use crate::TestEnv;
use conversations_sim::items::{message_item, thread_item};
use conversations_sim::model::{now_ms, C1Spec, MessageSpec, ThreadSpec};
use conversations_sim::store::put_all;

fn message(id: String, body: &str, sent_at: i64) -> MessageSpec {
    MessageSpec {
        message_id: id,
        direction: "inbound".into(),
        author_name: Some("Late Customer".into()),
        body: Some(body.into()),
        sent_at,
        starred: None,
        attachments: Vec::new(),
        telephony: None,
        webchat_message_id: None,
    }
}

/// Lands a message in the spec's thread `thread_idx`; returns its message id.
pub async fn land_message(
    env: &TestEnv,
    spec: &mut C1Spec,
    thread_idx: usize,
    body: &str,
) -> String {
    let at = now_ms();
    let id = format!("late-{}", uuid::Uuid::new_v4().simple());
    let t = &mut spec.threads[thread_idx];
    let m = message(id.clone(), body, at);
    let item = message_item(&spec.shopper_id, &t.thread_id, &m, &env.sim.base_url);
    t.messages.push(m);
    t.last_message_at = t.last_message_at.max(at);
    put_all(&env.dynamo, &env.tables.messages, vec![item], 1)
        .await
        .expect("a late message lands");
    let thread = thread_item(&spec.shopper_id, t);
    put_all(&env.dynamo, &env.tables.threads, vec![thread], 1)
        .await
        .expect("its thread's last_message_at is raised");
    id
}

/// Lands a new thread with `n` messages on the channel of the spec's first thread that is not
/// web chat; returns its id.
pub async fn land_thread(env: &TestEnv, spec: &mut C1Spec, n: usize) -> String {
    let at = now_ms();
    let base = spec
        .threads
        .iter()
        .find(|t| t.channel_type != "webchat" && t.webchat_conversation_id.is_none())
        .cloned()
        .expect("a thread that is not web chat");
    let id = format!("late-thread-{}", uuid::Uuid::new_v4().simple());
    let messages: Vec<MessageSpec> = (0..n)
        .map(|i| {
            message(
                format!("{id}-m{i}"),
                &format!("late message {i}"),
                at + i as i64,
            )
        })
        .collect();
    let t = ThreadSpec {
        thread_id: id.clone(),
        subject: Some("Arrived after the switch".into()),
        status: "open".into(),
        starred: None,
        created_at: at,
        last_message_at: at + n.saturating_sub(1) as i64,
        webchat_conversation_id: None,
        messages,
        ..base
    };
    let items = t
        .messages
        .iter()
        .map(|m| message_item(&spec.shopper_id, &id, m, &env.sim.base_url))
        .collect();
    put_all(&env.dynamo, &env.tables.messages, items, 4)
        .await
        .expect("a late thread's messages land");
    put_all(
        &env.dynamo,
        &env.tables.threads,
        vec![thread_item(&spec.shopper_id, &t)],
        1,
    )
    .await
    .expect("a late thread lands");
    spec.threads.push(t);
    id
}
