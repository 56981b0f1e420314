//! Relay paging over sorted lists. A cursor is the sort key of an item (the sort value and
//! its id, so unique) together with a fingerprint of the list's filter and order: a page
//! after a cursor starts after that key however many items were added or moved in front of
//! it since, and a cursor used with another filter or order is refused.

use std::ops::Range;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{OutputType, SimpleObject};
use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errors::error;
use crate::scalars::UInt64;
use crate::schema::MAX_PAGE;

/// Items a page holds when the client names neither `first` nor `last`.
pub const DEFAULT_PAGE: usize = 100;

/// What every connection says besides its edges.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// Items in the whole list (every page), as it stands for this answer.
    pub total_count: UInt64,
}

/// A connection whose cursors are opaque strings.
pub type Page<T> = Connection<String, T, ConnectionTotals>;

/// The Relay arguments of a connection field.
pub struct PageArgs {
    /// Items after this cursor.
    pub after: Option<String>,
    /// Items before this cursor.
    pub before: Option<String>,
    /// The first n of what is left.
    pub first: Option<i32>,
    /// The last n of what is left.
    pub last: Option<i32>,
}

/// How many items a forward-only page holds: `first`, checked, or the default.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<usize> {
    Ok(count("first", first)?.unwrap_or(DEFAULT_PAGE))
}

fn count(name: &str, n: Option<i32>) -> async_graphql::Result<Option<usize>> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Err(error("VALIDATION", format!("{name}: must not be negative"))),
        Some(n) if n as usize > MAX_PAGE => {
            Err(error("VALIDATION", format!("{name}: at most {MAX_PAGE}")))
        }
        Some(n) => Ok(Some(n as usize)),
    }
}

/// A fingerprint of what a list is (which list, its filter, its order): any value whose
/// `Debug` form names all of that.
pub fn fingerprint(list: &str, what: &impl std::fmt::Debug) -> String {
    let digest = blake3::hash(format!("{list}|{what:?}").as_bytes());
    digest.to_hex()[..16].to_owned()
}

/// The cursor of an item with sort key `key` in the list `fingerprint` names.
pub fn cursor<K: Serialize>(fingerprint: &str, key: &K) -> String {
    let text = serde_json::json!([fingerprint, key]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode<K: DeserializeOwned>(
    name: &str,
    fingerprint: &str,
    cursor: &str,
) -> async_graphql::Result<K> {
    let foreign = || error("VALIDATION", format!("{name}: not a cursor of this list"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| foreign())?;
    let (print, key): (String, K) = serde_json::from_slice(&bytes).map_err(|_| foreign())?;
    if print != fingerprint {
        return Err(error(
            "VALIDATION",
            format!("{name}: the cursor belongs to a list with another filter or order"),
        ));
    }
    Ok(key)
}

/// Relay arguments checked: cursors decoded against the list, counts within bounds.
#[derive(Debug, Clone)]
pub struct Window<K> {
    after: Option<K>,
    before: Option<K>,
    first: Option<usize>,
    last: Option<usize>,
}

impl PageArgs {
    /// The arguments checked for the list `fingerprint` names, or a VALIDATION error naming
    /// the bad one. `first` and `last` together are refused: Relay leaves their meaning
    /// open.
    pub fn check<K: DeserializeOwned>(self, fingerprint: &str) -> async_graphql::Result<Window<K>> {
        if self.first.is_some() && self.last.is_some() {
            return Err(error(
                "VALIDATION",
                "first, last: give one of them (first pages forward, last backward)",
            ));
        }
        let key =
            |name, c: Option<String>| c.map(|c| decode::<K>(name, fingerprint, &c)).transpose();
        Ok(Window {
            after: key("after", self.after)?,
            before: key("before", self.before)?,
            first: count("first", self.first)?,
            last: count("last", self.last)?,
        })
    }
}

impl<K> Window<K> {
    /// The key the page starts after, if any.
    pub fn after(&self) -> Option<&K> {
        self.after.as_ref()
    }
}

impl<K: Ord> Window<K> {
    /// The window of a list whose sort keys, in list order, are `keys` (ascending, or
    /// descending when `descending`).
    pub fn range(&self, keys: &[K], descending: bool) -> Range<usize> {
        let in_order = |a: &K, b: &K| {
            let o = a.cmp(b);
            if descending { o.reverse() } else { o }
        };
        let mut start = self.after.as_ref().map_or(0, |c| {
            keys.partition_point(|k| in_order(k, c) != std::cmp::Ordering::Greater)
        });
        let mut end = self.before.as_ref().map_or(keys.len(), |c| {
            keys.partition_point(|k| in_order(k, c) == std::cmp::Ordering::Less)
        });
        if end < start {
            end = start;
        }
        match (self.first, self.last) {
            (Some(n), _) => end = end.min(start + n),
            (None, Some(l)) => start = start.max(end.saturating_sub(l)),
            (None, None) => end = end.min(start + DEFAULT_PAGE),
        }
        start..end
    }
}

/// A connection over the window `range` of a list of `total` items: `items` are the
/// window's items in order with their sort keys.
pub fn connection<K: Serialize, T: OutputType>(
    fingerprint: &str,
    range: Range<usize>,
    total: usize,
    items: impl IntoIterator<Item = (K, T)>,
) -> Page<T> {
    let mut c = Connection::with_additional_fields(
        range.start > 0,
        range.end < total,
        ConnectionTotals {
            total_count: total.into(),
        },
    );
    c.edges = items
        .into_iter()
        .map(|(key, node)| Edge::new(cursor(fingerprint, &key), node))
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "test-list";

    fn args(
        after: Option<u32>,
        before: Option<u32>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> PageArgs {
        PageArgs {
            after: after.map(|a| cursor(LIST, &a)),
            before: before.map(|b| cursor(LIST, &b)),
            first,
            last,
        }
    }

    #[test]
    fn windows_follow_the_relay_rules() {
        let keys: Vec<u32> = (0..10).map(|k| k * 10).collect();
        let w = |a, b, f, l| {
            args(a, b, f, l)
                .check::<u32>(LIST)
                .map(|p| p.range(&keys, false))
                .ok()
        };
        assert_eq!(w(None, None, None, None), Some(0..10));
        assert_eq!(w(None, None, Some(3), None), Some(0..3));
        assert_eq!(w(Some(20), None, Some(3), None), Some(3..6));
        assert_eq!(w(None, None, None, Some(3)), Some(7..10));
        assert_eq!(w(None, Some(50), None, Some(3)), Some(2..5));
        assert_eq!(w(Some(80), None, Some(5), None), Some(9..10));
        assert_eq!(w(Some(200), None, Some(5), None), Some(10..10));
        assert_eq!(w(Some(60), Some(40), None, None), Some(7..7));
        assert_eq!(w(None, None, Some(-1), None), None);
        assert_eq!(w(None, None, Some(MAX_PAGE as i32 + 1), None), None);
        assert_eq!(
            w(None, None, Some(2), Some(2)),
            None,
            "first with last is refused"
        );
    }

    #[test]
    fn a_cursor_keeps_its_place_when_items_are_added_before_it() {
        let keys: Vec<u32> = vec![10, 20, 30, 40];
        let page = args(Some(20), None, Some(1), None)
            .check::<u32>(LIST)
            .unwrap();
        assert_eq!(keys[page.range(&keys, false)], [30]);
        let grown: Vec<u32> = vec![5, 10, 15, 20, 25, 30, 40];
        assert_eq!(grown[page.range(&grown, false)], [25]);
        // A cursor of an item that left the list still places the page.
        let shrunk: Vec<u32> = vec![10, 30, 40];
        assert_eq!(shrunk[page.range(&shrunk, false)], [30]);
        let down: Vec<u32> = vec![40, 30, 20, 10];
        assert_eq!(down[page.range(&down, true)], [10]);
    }

    #[test]
    fn a_cursor_of_another_list_or_no_cursor_is_refused() {
        let other = PageArgs {
            after: Some(cursor("another-list", &3u32)),
            before: None,
            first: None,
            last: None,
        };
        let e = other.check::<u32>(LIST).unwrap_err();
        assert!(
            e.message.contains("another filter or order"),
            "{}",
            e.message
        );
        let junk = PageArgs {
            after: Some("not-a-cursor".into()),
            before: None,
            first: None,
            last: None,
        };
        assert!(junk.check::<u32>(LIST).is_err());
    }

    #[test]
    fn the_connection_says_whether_more_is_on_either_side() {
        let c = connection(LIST, 2..4, 6, [(2u32, "c"), (3, "d")]);
        assert!(c.has_previous_page && c.has_next_page);
        assert_eq!(c.edges.len(), 2);
        assert_eq!(c.additional_fields.total_count, UInt64(6));
        let c = connection(LIST, 0..6, 6, (0u32..6).map(|k| (k, "a")));
        assert!(!c.has_previous_page && !c.has_next_page);
    }
}
