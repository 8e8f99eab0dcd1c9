//! Typed identifiers, from the request to the database: ids of different tables cannot be mixed
//! up (each is its own Diesel type over `uuid`, with the `sql` feature the store enables), and a `ShopperId` can only hold a valid value
//! (1-64 characters of `[A-Za-z0-9_-]`, as the source contract says).

#[cfg(feature = "sql")]
use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[cfg_attr(feature = "sql", derive(DieselNewType))]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name(pub Uuid);
        impl $name {
            /// A fresh random id.
            pub fn new() -> Self { Self(Uuid::new_v4()) }
        }
        impl Default for $name { fn default() -> Self { Self::new() } }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.fmt(f) }
        }
        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Uuid::parse_str(s).map(Self) }
        }
    )*};
}

uuid_id!(
    /// A re:amaze account.
    AccountId,
    /// A re:amaze brand.
    BrandId,
    /// A re:amaze channel.
    ChannelId,
    /// A re:amaze contact.
    ContactId,
    /// A re:amaze conversation.
    ConversationId,
    /// A re:amaze message.
    MessageId,
    /// A stored attachment.
    AttachmentId,
    /// One migration run of an account.
    RunId,
    /// One publication of a hop (logs, AMQP headers, dedup diagnostics).
    HopId,
    /// One verification of an account.
    VerificationId,
    /// One campaign of the program.
    CampaignId,
);

/// A C1's identity in both platforms. Read back from the database as stored (only valid ones
/// are ever written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "sql", derive(DieselNewType))]
#[serde(transparent)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$", example = "s1")
)]
pub struct ShopperId(String);

/// A string that is not a valid shopper id.
#[derive(Debug, thiserror::Error)]
#[error("shopper_id must be 1-64 characters of [A-Za-z0-9_-]")]
pub struct InvalidShopperId;

impl ShopperId {
    /// Parses a shopper id, refusing anything the contract does not allow.
    pub fn parse(s: &str) -> Result<Self, InvalidShopperId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidShopperId)
        }
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ShopperId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ShopperId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ShopperId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopper_ids_follow_the_contract() {
        for ok in ["s1", "A-b_9", &"x".repeat(64)] {
            assert!(ShopperId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65), "a.b"] {
            assert!(ShopperId::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ShopperId>("\"../x\"").is_err());
    }
}
