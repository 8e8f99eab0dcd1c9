//! Web chat threads already live in re:amaze: only their starred flags are carried over, the
//! thread's onto the conversation it mirrors and each message's onto the message it mirrors.
//! A reference to nothing of this account is a reject.

use super::mover::{reject_message, reject_thread, Mover};
use crate::error::WorkResult;
use crate::phases::fenced;
use migrator_core::ids::AccountId;
use migrator_core::source::webchat::{webchat_ask, WebchatAsk};
use migrator_core::source::{Reject, SourceMessage, SourceThread};
use migrator_core::CoreResult;
use migrator_store::queries::{destination::conversations, destination::messages};
use scoped_futures::ScopedFutureExt;

impl Mover<'_> {
    /// The thread's starred flag onto the re:amaze conversation it mirrors, as
    /// [`webchat_ask`] says; the thread's reject when it asks for nothing (then none of its
    /// messages' flags is applied).
    pub(super) async fn star_webchat_thread(&self, t: &SourceThread) -> WorkResult<Vec<Reject>> {
        let found = match t.webchat_conversation_id.clone() {
            None => false,
            Some(id) => {
                let (account, starred) = (self.account, t.starred);
                fenced(self.ctx, self.leased, move |c, _| {
                    async move {
                        conversations::star_webchat_conversation(c, account, &id, starred).await
                    }
                    .scope_boxed()
                })
                .await?
            }
        };
        Ok(match webchat_ask(t, found) {
            WebchatAsk::Stars => vec![],
            WebchatAsk::Reject(why) => vec![reject_thread(t, why.into())],
        })
    }
}

/// Each message's starred flag onto the re:amaze message it mirrors; returns the rejects.
pub(super) async fn star_messages(
    c: &mut diesel_async::AsyncPgConnection,
    account: AccountId,
    page: &[SourceMessage],
) -> CoreResult<Vec<Reject>> {
    let mut rejects = Vec::new();
    for m in page {
        let ok = match &m.webchat_message_id {
            Some(id) => messages::star_webchat_message(c, account, id, m.starred).await?,
            None => false,
        };
        if !ok {
            let why = "web chat message does not name a re:amaze message of this account";
            rejects.push(reject_message(m, why));
        }
    }
    Ok(rejects)
}
