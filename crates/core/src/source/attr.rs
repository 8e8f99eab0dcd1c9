//! A DynamoDB attribute value, as the source's items hold them: the data model of
//! `spec/source-contract.md` section 2, plain data (the DynamoDB client in `migrator-source`
//! converts the SDK's values to and from it; the item rules never see the SDK).

use std::collections::HashMap;

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A string.
    S(String),
    /// A number, as DynamoDB sends it (text).
    N(String),
    /// Binary.
    B(Vec<u8>),
    /// A boolean.
    Bool(bool),
    /// `NULL`.
    Null(bool),
    /// A string set.
    Ss(Vec<String>),
    /// A number set.
    Ns(Vec<String>),
    /// A binary set.
    Bs(Vec<Vec<u8>>),
    /// A list.
    L(Vec<Attr>),
    /// A map.
    M(HashMap<String, Attr>),
    /// A type this model does not know (a later DynamoDB's), kept as its description.
    Unknown(String),
}

/// An item: attribute name to value.
pub type Item = HashMap<String, Attr>;
