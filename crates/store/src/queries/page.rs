//! Pages of a list, walked by a key instead of an offset: a page ends with the sort key of its
//! last row, handed to the client as an opaque cursor (`next`), and the next page starts after
//! it along the list's index, so the millionth row costs what the first does. A cursor names
//! its list's order: one of another order is refused.
//!
//! `page`/`per_page` keep working, within [`MAX_OFFSET`] rows (an offset walks every row before
//! it). Totals are exact where they are cheap (the status counts) and counted up to
//! [`COUNT_CAP`] rows otherwise, saying so.

use base64::Engine;
use migrator_core::error::{CoreError, CoreResult};

/// The deepest row `page` may reach in an operator's list; past it a list is walked with its
/// cursor. (The app's inbox keeps any page: its contract has pages; a deep one walks the index
/// to its row, index-only.)
pub const MAX_OFFSET: i64 = 1_000;
/// Rows a list's total counts at most (beyond, the total says it is a lower bound): counting
/// costs a row each, so a cap is what keeps a list's total as cheap at millions as its page.
pub const COUNT_CAP: i64 = 1_000;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The first row.
    First,
    /// After `offset` rows (`page`, within [`MAX_OFFSET`]).
    Offset(i64),
    /// After the row whose sort key the cursor holds.
    After(Key),
}

/// A row's place in its list: its order's name, a number (a time in µs, or an id) and an id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Key {
    /// The order it belongs to.
    #[serde(rename = "o")]
    pub order: String,
    /// The first sort column (µs since the epoch, or a bigint id).
    #[serde(rename = "n")]
    pub n: i64,
    /// The tie-breaker (a uuid, or empty when `n` is the id).
    #[serde(rename = "i")]
    pub id: String,
    /// A middle sort column, when the order has one (a message's source sort key; `None`
    /// sorts last).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub middle: Option<String>,
}

impl Key {
    /// A key of `order`.
    pub fn new(order: &str, n: i64, id: impl ToString) -> Self {
        Self {
            order: order.into(),
            n,
            id: id.to_string(),
            middle: None,
        }
    }

    /// With a middle sort column.
    pub fn with_middle(mut self, middle: Option<String>) -> Self {
        self.middle = middle;
        self
    }

    /// The opaque cursor.
    pub fn cursor(&self) -> String {
        let json = serde_json::to_vec(self).expect("a key serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// A cursor read back, when it is one of `order`'s.
    pub fn parse(cursor: &str, order: &str) -> CoreResult<Key> {
        let bad = || CoreError::Invalid("the cursor is not one this list gave".into());
        if cursor.len() > 2048 {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| bad())?;
        let key: Key = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let middle_ok = key.middle.as_ref().is_none_or(|m| m.len() <= 1024);
        (key.order == order && key.id.len() <= 64 && middle_ok)
            .then_some(key)
            .ok_or_else(bad)
    }
}

impl Start {
    /// From a request's `page` (1-based) and `after` cursor, for a list of `order` with pages
    /// of `per_page`: a cursor wins; a page reaching past `max_offset` rows is refused.
    pub fn of(
        page: Option<i64>,
        after: Option<&str>,
        per_page: i64,
        order: &str,
        max_offset: i64,
    ) -> CoreResult<Start> {
        match (after, page) {
            (Some(c), _) => Ok(Start::After(Key::parse(c, order)?)),
            (None, None) | (None, Some(1)) => Ok(Start::First),
            (None, Some(p)) => {
                let offset = (p - 1).saturating_mul(per_page);
                if offset > max_offset {
                    return Err(CoreError::Invalid(format!(
                        "page reaches past row {max_offset}: follow the list's `next` cursor"
                    )));
                }
                Ok(Start::Offset(offset))
            }
        }
    }

    /// The offset to apply.
    pub fn offset(&self) -> i64 {
        match self {
            Start::Offset(n) => *n,
            _ => 0,
        }
    }
}

/// A list's total: exact, or at least `n` (counting stopped at [`COUNT_CAP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    /// Rows counted.
    pub n: i64,
    /// `false`: there are at least `n`.
    pub exact: bool,
}

impl Total {
    /// From a count made with `LIMIT COUNT_CAP + 1`.
    pub fn capped(counted: i64) -> Self {
        Self {
            n: counted.min(COUNT_CAP),
            exact: counted <= COUNT_CAP,
        }
    }
}

/// A page of rows, the cursor of the next one (none after the last), and the total.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// Where the next page starts.
    pub next: Option<String>,
    /// How many rows the list has.
    pub total: Total,
}

impl<T> Page<T> {
    /// `rows` read with one more than `per_page` asked for: the extra one says a next page
    /// exists, and `key` gives the last shown row's cursor.
    pub fn of(mut rows: Vec<T>, per_page: i64, total: Total, key: impl Fn(&T) -> Key) -> Self {
        let more = rows.len() as i64 > per_page;
        rows.truncate(per_page.max(0) as usize);
        let next = if more {
            rows.last().map(|r| key(r).cursor())
        } else {
            None
        };
        Page { rows, next, total }
    }
}

/// µs since the epoch of a time (a sort key).
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time of µs since the epoch.
pub fn time(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_belongs_to_its_order() {
        let k = Key::new("changed", 1_700_000_000_123_456, "a-b");
        let c = k.cursor();
        assert_eq!(Key::parse(&c, "changed").unwrap(), k);
        assert!(Key::parse(&c, "stuck").is_err(), "another list's cursor");
        let m = k.clone().with_middle(Some("1700000000000#m-1".into()));
        assert_eq!(Key::parse(&m.cursor(), "changed").unwrap(), m);
        for bad in ["", "not base64!", &"x".repeat(3000), "eyJvIjoxfQ"] {
            assert!(Key::parse(bad, "changed").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pages_are_bounded_and_a_cursor_wins() {
        let of = |page, after| Start::of(page, after, 50, "o", MAX_OFFSET);
        assert_eq!(of(None, None).unwrap(), Start::First);
        assert_eq!(of(Some(3), None).unwrap(), Start::Offset(100));
        assert_eq!(of(Some(21), None).unwrap(), Start::Offset(1_000));
        assert!(of(Some(22), None).is_err());
        let deep = Start::of(Some(9_999), None, 50, "o", i64::MAX).unwrap();
        assert_eq!(
            deep,
            Start::Offset(499_900),
            "the inbox's pages are not bounded"
        );
        let c = Key::new("o", 1, "x").cursor();
        assert!(matches!(
            of(Some(9_999), Some(&c)).unwrap(),
            Start::After(_)
        ));
    }

    #[test]
    fn a_page_says_whether_another_follows() {
        let p = Page::of(vec![1, 2, 3], 2, Total::capped(3), |n| {
            Key::new("o", *n, "")
        });
        assert_eq!(p.rows, [1, 2]);
        assert_eq!(Key::parse(p.next.as_deref().unwrap(), "o").unwrap().n, 2);
        let last = Page::of(vec![1, 2], 2, Total::capped(2), |n| Key::new("o", *n, ""));
        assert!(last.next.is_none());
        assert_eq!(
            Total::capped(COUNT_CAP + 1),
            Total {
                n: COUNT_CAP,
                exact: false
            }
        );
        assert_eq!(
            Total::capped(COUNT_CAP),
            Total {
                n: COUNT_CAP,
                exact: true
            }
        );
    }
}
