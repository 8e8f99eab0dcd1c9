//! What a web chat thread asks of the destination (`spec/source-contract.md` section 4), decided
//! once: the copy applies it and the verifier expects it, so a repair never loops on a thread
//! the copy rightly left alone.

use super::SourceThread;

/// What a web chat thread asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebchatAsk {
    /// Its starred flag on the re:amaze conversation it names, and each message's starred flag
    /// on the re:amaze message it names (a message naming none is a reject of its own).
    Stars,
    /// Nothing: the thread is a reject, for this reason, and none of its messages' flags is
    /// applied or expected.
    Reject(&'static str),
}

/// Why a web chat thread without `webchat_conversation_id` is a reject.
pub const NO_CONVERSATION_ID: &str = "web chat thread lacks webchat_conversation_id";
/// Why a web chat thread naming no conversation of this account is a reject.
pub const FOREIGN_CONVERSATION: &str =
    "webchat_conversation_id does not name a re:amaze conversation of this account";

/// What `t` asks, given whether the conversation it names exists in this account
/// (`conversation_is_ours`; false when it names none).
pub fn webchat_ask(t: &SourceThread, conversation_is_ours: bool) -> WebchatAsk {
    match (&t.webchat_conversation_id, conversation_is_ours) {
        (None, _) => WebchatAsk::Reject(NO_CONVERSATION_ID),
        (Some(_), false) => WebchatAsk::Reject(FOREIGN_CONVERSATION),
        (Some(_), true) => WebchatAsk::Stars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(conversation: Option<&str>) -> SourceThread {
        let at = chrono::DateTime::from_timestamp_millis(0).unwrap();
        SourceThread {
            thread_id: "t1".into(),
            channel_id: "ch".into(),
            channel_type: "webchat".into(),
            contact: None,
            subject: None,
            status: "open".into(),
            starred: true,
            created_at: at,
            last_message_at: at,
            webchat_conversation_id: conversation.map(String::from),
        }
    }

    #[test]
    fn a_thread_naming_a_conversation_of_ours_asks_for_its_stars_and_any_other_for_nothing() {
        assert_eq!(webchat_ask(&thread(Some("c")), true), WebchatAsk::Stars);
        assert_eq!(
            webchat_ask(&thread(Some("c")), false),
            WebchatAsk::Reject(FOREIGN_CONVERSATION)
        );
        assert_eq!(
            webchat_ask(&thread(None), true),
            WebchatAsk::Reject(NO_CONVERSATION_ID)
        );
    }
}
