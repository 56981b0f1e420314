//! Relay-style pagination over lists that the read models hand back whole: the cursor is the
//! position in the sorted list, so a page is a window of it.

use std::ops::Range;

use async_graphql::OutputType;
use async_graphql::connection::{Connection, CursorType, Edge};

use crate::schema::{MAX_PAGE, error};

/// Items a page holds when the client names neither `first` nor `last`.
pub const DEFAULT_PAGE: usize = 100;

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

fn position(name: &str, cursor: Option<String>) -> async_graphql::Result<Option<usize>> {
    cursor
        .map(|c| {
            usize::decode_cursor(&c)
                .map_err(|_| error("VALIDATION", format!("{name}: not a cursor of this list")))
        })
        .transpose()
}

/// Relay arguments checked: cursors decoded, counts within bounds.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    after: Option<usize>,
    before: Option<usize>,
    first: Option<usize>,
    last: Option<usize>,
}

impl PageArgs {
    /// The arguments checked, or a VALIDATION error naming the bad one.
    pub fn check(self) -> async_graphql::Result<Page> {
        Ok(Page {
            after: position("after", self.after)?,
            before: position("before", self.before)?,
            first: count("first", self.first)?,
            last: count("last", self.last)?,
        })
    }
}

impl Page {
    /// The window of a list of `total` items this page selects.
    pub fn window(&self, total: usize) -> Range<usize> {
        let mut start = self.after.map_or(0, |a| a + 1).min(total);
        let mut end = self.before.unwrap_or(total).min(total);
        if end < start {
            end = start;
        }
        match (self.first, self.last) {
            (Some(n), _) => {
                end = end.min(start + n);
                if let Some(l) = self.last {
                    start = start.max(end.saturating_sub(l));
                }
            }
            (None, Some(l)) => start = start.max(end.saturating_sub(l)),
            (None, None) => end = end.min(start + DEFAULT_PAGE),
        }
        start..end
    }
}

/// A connection over the window `range` of a list of `total` items, `nodes` being the
/// items of the window in order.
pub fn connection<T: OutputType>(
    range: Range<usize>,
    total: usize,
    nodes: impl IntoIterator<Item = T>,
) -> Connection<usize, T> {
    let mut c = Connection::new(range.start > 0, range.end < total);
    c.edges = range
        .zip(nodes)
        .map(|(i, node)| Edge::new(i, node))
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        after: Option<usize>,
        before: Option<usize>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> PageArgs {
        PageArgs {
            after: after.map(|a| a.encode_cursor()),
            before: before.map(|b| b.encode_cursor()),
            first,
            last,
        }
    }

    #[test]
    fn windows_follow_the_relay_rules() {
        let w = |a, b, f, l| args(a, b, f, l).check().map(|p| p.window(10)).ok();
        assert_eq!(w(None, None, None, None), Some(0..10));
        assert_eq!(w(None, None, Some(3), None), Some(0..3));
        assert_eq!(w(Some(2), None, Some(3), None), Some(3..6));
        assert_eq!(w(None, None, None, Some(3)), Some(7..10));
        assert_eq!(w(None, Some(5), None, Some(3)), Some(2..5));
        assert_eq!(w(Some(8), None, Some(5), None), Some(9..10));
        assert_eq!(w(Some(20), None, Some(5), None), Some(10..10));
        assert_eq!(w(Some(6), Some(4), None, None), Some(7..7));
        assert_eq!(w(None, None, Some(-1), None), None);
        assert_eq!(w(None, None, Some(MAX_PAGE as i32 + 1), None), None);
    }

    #[test]
    fn a_foreign_cursor_is_refused() {
        let a = PageArgs {
            after: Some("not-a-number".into()),
            before: None,
            first: None,
            last: None,
        };
        assert!(a.check().is_err());
    }

    #[test]
    fn the_connection_says_whether_more_is_on_either_side() {
        let c = connection(2..4, 6, ["c", "d"]);
        assert!(c.has_previous_page && c.has_next_page);
        assert_eq!(c.edges.len(), 2);
        let c = connection(0..6, 6, ["a"; 6]);
        assert!(!c.has_previous_page && !c.has_next_page);
    }
}
