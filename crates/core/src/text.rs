//! `ExactText`: source text stored in a Postgres `text` column exactly as the source holds it.
//!
//! Postgres `text` cannot hold U+0000, which the source contract allows in any string. Stored
//! text escapes it reversibly with U+0001 as the escape character: U+0000 is written as
//! U+0001 U+0001 and U+0001 as U+0001 U+0002; every other character is itself. The code is
//! prefix-free and keeps each character's order (0x00 < 0x01 < anything else becomes
//! 0x01 0x01 < 0x01 0x02 < itself), so byte order (`COLLATE "C"`) of stored keys is the
//! source's, and distinct strings stay distinct (unique keys hold). Text without U+0000 or
//! U+0001 — nearly all of it — is stored unchanged.
//!
//! The Diesel type (the `sql` feature, which the store enables) does the escaping both ways: a model field or a bind of type `ExactText`
//! writes the escaped form and reads the source's back; nothing else needs to know.

#[cfg(feature = "sql")]
use diesel::{
    deserialize::{FromSql, FromSqlRow},
    expression::AsExpression,
    pg::{Pg, PgValue},
    serialize::{IsNull, Output, ToSql},
    sql_types::Text,
};
use std::borrow::Cow;

const ESC: char = '\u{1}';

/// A string as the source holds it, U+0000 included.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[cfg_attr(feature = "sql", derive(AsExpression, FromSqlRow))]
#[cfg_attr(feature = "sql", diesel(sql_type = Text))]
#[serde(transparent)]
pub struct ExactText(String);

impl ExactText {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The string, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for ExactText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ExactText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ExactText {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for ExactText {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<ExactText> for String {
    fn from(t: ExactText) -> Self {
        t.0
    }
}

impl PartialEq<str> for ExactText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ExactText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// An optional source string as stored text.
pub fn exact(s: Option<&str>) -> Option<ExactText> {
    s.map(ExactText::from)
}

/// The stored form of `s`.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['\0', ESC]) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\u{1}\u{1}"),
            ESC => out.push_str("\u{1}\u{2}"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The source's form of stored text. A stray escape character (text written around this
/// type) is kept as it is.
pub fn unescape(s: String) -> String {
    if !s.contains(ESC) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            (ESC, Some('\u{1}')) => {
                chars.next();
                out.push('\0');
            }
            (ESC, Some('\u{2}')) => {
                chars.next();
                out.push(ESC);
            }
            (c, _) => out.push(c),
        }
    }
    out
}

#[cfg(feature = "sql")]
impl ToSql<Text, Pg> for ExactText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        use std::io::Write;
        out.write_all(escape(&self.0).as_bytes())?;
        Ok(IsNull::No)
    }
}

#[cfg(feature = "sql")]
impl FromSql<Text, Pg> for ExactText {
    fn from_sql(bytes: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let stored = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        Ok(Self(unescape(stored)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [&str; 12] = [
        "",
        "plain",
        "\0",
        "\u{1}",
        "\u{1}\u{1}",
        "a\0b",
        "a\u{1}\0\u{2}b",
        "\0\0\0",
        "ends\u{1}",
        "héllo 🎉 \u{202e}",
        "\u{2}\u{1}\u{0}",
        "a",
    ];

    #[test]
    fn stored_text_holds_no_nul_and_reads_back_exactly() {
        for s in SAMPLES {
            let stored = escape(s);
            assert!(!stored.contains('\0'), "{s:?} -> {stored:?}");
            assert_eq!(unescape(stored.into_owned()), s);
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn stored_text_keeps_byte_order_and_distinctness() {
        for a in SAMPLES {
            for b in SAMPLES {
                let (ea, eb) = (escape(a), escape(b));
                assert_eq!(
                    a.as_bytes().cmp(b.as_bytes()),
                    ea.as_bytes().cmp(eb.as_bytes()),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }
}
