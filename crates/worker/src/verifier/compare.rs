//! Field-by-field comparison of one source item with the row the migration wrote for it: the
//! names of the fields that differ, with short values (bodies by length only: their content
//! stays out of the verification record).

use migrator_core::source::{SourceMessage, SourceThread};
use migrator_core::text::ExactText;
use migrator_store::queries::destination::verify_reads::{DestMessage, DestThread};

/// At most this many characters of a value in a detail.
const SHOWN: usize = 60;

fn shown(v: Option<&str>) -> String {
    match v {
        None => "null".into(),
        Some(s) if s.chars().count() > SHOWN => {
            format!("{:?}…", s.chars().take(SHOWN).collect::<String>())
        }
        Some(s) => format!("{s:?}"),
    }
}

/// Collects `field: source X, destination Y` for each field that differs.
#[derive(Default)]
struct Fields(Vec<String>);

impl Fields {
    fn text(&mut self, name: &str, source: Option<&str>, dest: Option<&ExactText>) {
        let dest = dest.map(ExactText::as_str);
        if source != dest {
            self.0.push(format!(
                "{name}: source {}, destination {}",
                shown(source),
                shown(dest)
            ));
        }
    }

    fn value<T: PartialEq + std::fmt::Display>(&mut self, name: &str, source: T, dest: T) {
        if source != dest {
            self.0
                .push(format!("{name}: source {source}, destination {dest}"));
        }
    }

    fn done(self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

/// What differs between a source thread and its conversation, if anything.
pub fn thread(s: &SourceThread, d: &DestThread) -> Option<String> {
    let mut f = Fields::default();
    f.text("subject", s.subject.as_deref(), d.subject.as_ref());
    f.value("status", s.status.as_str(), d.status.as_str());
    f.value("starred", s.starred, d.starred);
    f.value(
        "last_message_at",
        s.last_message_at.timestamp_millis(),
        d.last_message_at.timestamp_millis(),
    );
    let c = s.contact.clone().unwrap_or_default();
    f.text("contact.name", c.name.as_deref(), d.contact_name.as_ref());
    f.text(
        "contact.phone",
        c.phone.as_deref(),
        d.contact_phone.as_ref(),
    );
    f.text(
        "contact.email",
        c.email.as_deref(),
        d.contact_email.as_ref(),
    );
    f.done()
}

/// What differs between a source message and its row, if anything; `in_conversation` says
/// whether the row is in the conversation of the message's thread.
pub fn message(s: &SourceMessage, d: &DestMessage, in_conversation: bool) -> Option<String> {
    let mut f = Fields::default();
    if !in_conversation {
        f.0.push("in another conversation".into());
    }
    let (sb, db) = (s.body.as_deref().map(str::as_bytes), d.body.as_deref());
    if sb != db {
        f.0.push(format!(
            "body: source {} bytes, destination {} bytes, not equal",
            sb.map_or(-1, |b| b.len() as i64),
            db.map_or(-1, |b| b.len() as i64)
        ));
    }
    f.value("direction", s.direction.as_str(), d.direction.as_str());
    f.text(
        "author_name",
        s.author_name.as_deref(),
        d.author_name.as_ref(),
    );
    f.value(
        "sent_at",
        s.sent_at.timestamp_millis(),
        d.sent_at.timestamp_millis(),
    );
    f.value("starred", s.starred, d.starred);
    f.value("attachments", s.attachments.len() as i64, d.attachments);
    f.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use migrator_core::ids::ConversationId;
    use migrator_core::source::SourceContact;

    fn pair() -> (SourceThread, DestThread) {
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let s = SourceThread {
            thread_id: "t1".into(),
            channel_id: "c1".into(),
            channel_type: "sms".into(),
            contact: Some(SourceContact {
                name: Some("A\0b".into()),
                phone: None,
                email: None,
            }),
            subject: Some("Hi".into()),
            status: "open".into(),
            starred: false,
            created_at: at,
            last_message_at: at,
            webchat_conversation_id: None,
        };
        let d = DestThread {
            source_id: "t1".into(),
            id: ConversationId::new(),
            subject: Some("Hi".into()),
            status: "open".into(),
            starred: false,
            last_message_at: at,
            contact_name: Some("A\0b".into()),
            contact_phone: None,
            contact_email: None,
        };
        (s, d)
    }

    #[test]
    fn an_exact_copy_has_no_difference_and_each_field_is_named() {
        let (s, mut d) = pair();
        assert_eq!(thread(&s, &d), None);
        d.starred = true;
        d.contact_name = Some("Ab".into());
        let why = thread(&s, &d).unwrap();
        assert!(
            why.contains("starred: source false, destination true"),
            "{why}"
        );
        assert!(why.contains("contact.name"), "{why}");
        assert!(!why.contains("subject"), "{why}");
    }

    #[test]
    fn bodies_are_compared_byte_for_byte_and_never_shown() {
        let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        let s = SourceMessage {
            thread_id: "t1".into(),
            sort_key: "k".into(),
            message_id: "m1".into(),
            direction: "inbound".into(),
            author_name: None,
            body: Some("secret\0text".into()),
            sent_at: at,
            starred: false,
            attachments: vec![],
            metadata: None,
            webchat_message_id: None,
        };
        let mut d = DestMessage {
            source_id: "m1".into(),
            conversation_id: ConversationId::new(),
            direction: "inbound".into(),
            author_name: None,
            body: Some(b"secret\0text".to_vec()),
            sent_at: at,
            starred: false,
            attachments: 0,
        };
        assert_eq!(message(&s, &d, true), None);
        d.body = Some(b"secret text".to_vec());
        d.attachments = 1;
        let why = message(&s, &d, false).unwrap();
        assert!(why.contains("body: source 11 bytes"), "{why}");
        assert!(!why.contains("secret"), "{why}");
        assert!(
            why.contains("attachments: source 0, destination 1"),
            "{why}"
        );
        assert!(why.contains("in another conversation"), "{why}");
    }
}
