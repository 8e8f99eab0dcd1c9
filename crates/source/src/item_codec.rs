//! The SDK's DynamoDB attribute values to and from the plain data of the item rules
//! (`migrator_core::source::attr`): what a Query returns is converted here, once, and a page
//! key goes back the same way.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use migrator_core::source::attr::{Attr, Item};
use std::collections::HashMap;

/// An SDK value as plain data.
pub fn from_sdk(v: AttributeValue) -> Attr {
    match v {
        AttributeValue::S(s) => Attr::S(s),
        AttributeValue::N(n) => Attr::N(n),
        AttributeValue::B(b) => Attr::B(b.into_inner()),
        AttributeValue::Bool(b) => Attr::Bool(b),
        AttributeValue::Null(b) => Attr::Null(b),
        AttributeValue::Ss(v) => Attr::Ss(v),
        AttributeValue::Ns(v) => Attr::Ns(v),
        AttributeValue::Bs(v) => Attr::Bs(v.into_iter().map(Blob::into_inner).collect()),
        AttributeValue::L(l) => Attr::L(l.into_iter().map(from_sdk).collect()),
        AttributeValue::M(m) => Attr::M(m.into_iter().map(|(k, v)| (k, from_sdk(v))).collect()),
        other => Attr::Unknown(format!("{other:?}")),
    }
}

/// Plain data as an SDK value (a page key going back as `ExclusiveStartKey`).
pub fn to_sdk(v: &Attr) -> AttributeValue {
    match v {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(n.clone()),
        Attr::B(b) => AttributeValue::B(Blob::new(b.clone())),
        Attr::Bool(b) => AttributeValue::Bool(*b),
        Attr::Null(b) => AttributeValue::Null(*b),
        Attr::Ss(v) => AttributeValue::Ss(v.clone()),
        Attr::Ns(v) => AttributeValue::Ns(v.clone()),
        Attr::Bs(v) => AttributeValue::Bs(v.iter().cloned().map(Blob::new).collect()),
        Attr::L(l) => AttributeValue::L(l.iter().map(to_sdk).collect()),
        Attr::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect()),
        // never produced by a Query this client read; sent as what it said it was
        Attr::Unknown(what) => AttributeValue::S(what.clone()),
    }
}

/// An SDK item as plain data.
pub fn item_from_sdk(item: HashMap<String, AttributeValue>) -> Item {
    item.into_iter().map(|(k, v)| (k, from_sdk(v))).collect()
}

/// A plain item (a page key) as the SDK's.
pub fn item_to_sdk(item: Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_goes_there_and_back() {
        let v = AttributeValue::M(HashMap::from([
            ("s".into(), AttributeValue::S("x".into())),
            ("n".into(), AttributeValue::N("1.5".into())),
            ("b".into(), AttributeValue::B(Blob::new(vec![0u8, 255]))),
            ("t".into(), AttributeValue::Bool(true)),
            ("z".into(), AttributeValue::Null(true)),
            (
                "l".into(),
                AttributeValue::L(vec![AttributeValue::Ns(vec!["1".into()])]),
            ),
            ("ss".into(), AttributeValue::Ss(vec!["a".into()])),
            ("bs".into(), AttributeValue::Bs(vec![Blob::new(vec![1u8])])),
        ]));
        assert_eq!(to_sdk(&from_sdk(v.clone())), v);
    }
}
