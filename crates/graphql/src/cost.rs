//! The cost model: what an operation will make the server do, computed from the document
//! before it runs, so that a request over the limit is refused without running. A field
//! costs 1; a connection multiplies what it selects by the page it asks for; an analysis
//! costs by the read model it folds, ten times more as of a past moment on the recorded
//! clock and fifty times on the occurred clock (a replay of the log). The same analysis
//! with the same arguments is computed once per request (see `scope.rs`), so it is charged
//! once, however many aliases ask for it; what each alias selects from it counts every time.
//!
//! After the request ran, its actual cost is the same sum with each page counted at the
//! length it came back with instead of the length asked for.

use std::cell::RefCell;
use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Value, Variables};

use crate::page::DEFAULT_PAGE;

/// Most an operation may cost.
pub const MAX_COST: u64 = 10_000;

/// What each analysis costs before the "as of" factor: roughly the milliseconds it takes
/// over a 70,000-deal history.
const ANALYSES: &[(&str, u64)] = &[
    ("funnel", 20),
    ("funnelTrend", 20),
    ("pipelineFlow", 20),
    ("winLoss", 50),
    ("crossCheckFindings", 50),
    ("coverage", 50),
    ("accountCoverage", 50),
    ("signals", 50),
    ("alerts", 50),
    ("unregisteredParticipants", 50),
    ("dataHealth", 50),
    // Refolds the profiles from a snapshot, like an "as of" on the recorded clock.
    ("dataHealthTrend", 500),
    ("profile", 10),
    ("dealStory", 10),
    ("account", 5),
    ("streamHistory", 5),
    // A few dozen lookups each.
    ("inclusionProof", 5),
    ("consistencyProof", 5),
    ("signedTreeHead", 5),
    // Re-walks the whole log and its indexes.
    ("verify", 5_000),
];

/// Root fields that return a page of a list: what they select counts once per item.
const PAGED: &[&str] = &["opportunities", "accounts", "events", "streamHistory"];

/// The cost of the operation `operation` names in `doc`; with `None`, of every operation in
/// the document (the server does not trust the operation name before validation).
pub fn cost(doc: &ExecutableDocument, operation: Option<&str>, variables: &Variables) -> u64 {
    walk(doc, operation, variables, None)
}

/// The cost of an operation that ran and answered `data`: each page at the number of items
/// it returned (a field that failed returned none).
pub fn actual(
    doc: &ExecutableDocument,
    operation: Option<&str>,
    variables: &Variables,
    data: &Value,
) -> u64 {
    walk(doc, operation, variables, Some(data))
}

fn walk(
    doc: &ExecutableDocument,
    operation: Option<&str>,
    variables: &Variables,
    data: Option<&Value>,
) -> u64 {
    let walker = Walker {
        doc,
        variables,
        data,
        computed: RefCell::default(),
    };
    let mut total = 0u64;
    for (name, op) in doc.operations.iter() {
        let selected = match (operation, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            _ => true,
        };
        if selected {
            total = total.saturating_add(walker.set(&op.node.selection_set.node, 0, true));
        }
    }
    total
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    /// The answer, when the actual cost is wanted.
    data: Option<&'a Value>,
    /// Analyses already charged, by name and arguments.
    computed: RefCell<HashSet<String>>,
}

impl Walker<'_> {
    /// `root`: the set is the operation's own, where the paged fields and analyses are.
    fn set(&self, set: &SelectionSet, depth: usize, root: bool) -> u64 {
        // Fragment cycles are refused by validation; here they only must not loop.
        if depth > 64 {
            return 0;
        }
        let mut total = 0u64;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(f) => self.field(&f.node, depth, root),
                Selection::InlineFragment(f) => {
                    self.set(&f.node.selection_set.node, depth + 1, root)
                }
                Selection::FragmentSpread(s) => {
                    match self.doc.fragments.get(&s.node.fragment_name.node) {
                        Some(f) => self.set(&f.node.selection_set.node, depth + 1, root),
                        None => 0,
                    }
                }
            };
            total = total.saturating_add(cost);
        }
        total
    }

    fn field(&self, f: &Field, depth: usize, root: bool) -> u64 {
        let name = f.name.node.as_str();
        let inner = self.set(&f.selection_set.node, depth + 1, false);
        let base = ANALYSES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
        // `events` inside a stream's history is that page's list, not the log's connection.
        if root && PAGED.contains(&name) {
            let asked = ["first", "last"]
                .iter()
                .find_map(|a| self.number(f, a))
                .map_or(DEFAULT_PAGE as u64, |n| n.max(0) as u64)
                .max(1);
            let page = match self.data {
                Some(data) => returned(data, f).min(asked),
                None => asked,
            };
            return base.unwrap_or(1).saturating_add(inner.saturating_mul(page));
        }
        let Some(base) = base else {
            return 1u64.saturating_add(inner);
        };
        if root && !self.computed.borrow_mut().insert(self.key(f)) {
            return inner;
        }
        let points = match name {
            "funnelTrend" => self.number(f, "points").map_or(6, |p| p.max(1) as u64),
            _ => 1,
        };
        let past = match (self.argument(f, "asOf"), self.argument(f, "clock")) {
            (None | Some(Value::Null), _) => 1,
            (_, Some(Value::Enum(c))) if c.as_str() == "OCCURRED" => 50,
            _ => 10,
        };
        base.saturating_mul(points)
            .saturating_mul(past)
            .saturating_add(inner)
    }

    /// What identifies one computation of an analysis: its name and its arguments with the
    /// variables put in, in name order.
    fn key(&self, f: &Field) -> String {
        let mut args: Vec<(String, Option<Value>)> = f
            .arguments
            .iter()
            .map(|(n, _)| (n.node.to_string(), self.argument(f, n.node.as_str())))
            .collect();
        args.sort_by(|a, b| a.0.cmp(&b.0));
        format!("{}{args:?}", f.name.node)
    }

    fn argument(&self, f: &Field, name: &str) -> Option<Value> {
        let (_, value) = f.arguments.iter().find(|(n, _)| n.node.as_str() == name)?;
        value
            .node
            .clone()
            .into_const_with(|v: Name| self.variables.get(&v).cloned().ok_or(()))
            .ok()
    }

    fn number(&self, f: &Field, name: &str) -> Option<i64> {
        match self.argument(f, name)? {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
}

/// How many items a paged field returned in `data`: the longest list directly under it
/// (`nodes`, `edges`, a history's `events`).
fn returned(data: &Value, f: &Field) -> u64 {
    let key = f.alias.as_ref().unwrap_or(&f.name).node.as_str();
    let Value::Object(root) = data else {
        return 0;
    };
    let Some(Value::Object(answer)) = root.get(key) else {
        return 0;
    };
    answer
        .values()
        .filter_map(|v| match v {
            Value::List(items) => Some(items.len() as u64),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(q: &str) -> u64 {
        cost(
            &async_graphql::parser::parse_query(q).unwrap(),
            None,
            &Variables::default(),
        )
    }

    #[test]
    fn pages_multiply_what_they_select() {
        assert_eq!(of("{ head { seq } }"), 2);
        assert_eq!(
            of("{ opportunities(first: 20) { nodes { id stage } } }"),
            1 + 20 * 3
        );
        assert_eq!(
            of("{ opportunities { nodes { id } } }"),
            1 + DEFAULT_PAGE as u64 * 2
        );
        let aliases: String = (0..1000)
            .map(|i| format!("a{i}: opportunities(first: 500) {{ nodes {{ id }} }} "))
            .collect();
        assert!(of(&format!("{{ {aliases} }}")) > MAX_COST);
    }

    #[test]
    fn analyses_cost_by_what_they_fold() {
        let one = of(r#"{ winLoss(from: "2024-01-01", to: "2025-01-01") { rates { won } } }"#);
        let twice = of(
            r#"{ a: winLoss(from: "2024-01-01", to: "2025-01-01") { rates { won } }
                            b: winLoss(from: "2024-01-01", to: "2025-01-01") { rates { won } } }"#,
        );
        assert_eq!(
            twice,
            one + 2,
            "computed once, so charged once; the selection twice"
        );
        let other = of(
            r#"{ a: winLoss(from: "2024-01-01", to: "2025-01-01") { rates { won } }
                            b: winLoss(from: "2024-01-01", to: "2025-02-01") { rates { won } } }"#,
        );
        assert_eq!(other, 2 * one, "other arguments are another computation");
        let past = of(
            r#"{ winLoss(from: "2024-01-01", to: "2025-01-01", asOf: "2025-06-01", clock: OCCURRED) { rates { won } } }"#,
        );
        assert_eq!(past, 50 * 50 + 2);
        let many: String = (0..1200)
            .map(|i| {
                format!(
                    "a{i}: winLoss(from: \"2024-01-01\", to: \"2025-01-01\", asOf: \"2025-01-{:02}T00:00:{:02}Z\", clock: OCCURRED) {{ rates {{ won }} }} ",
                    i % 28 + 1,
                    i % 60
                )
            })
            .collect();
        assert!(of(&format!("{{ {many} }}")) > MAX_COST);
    }

    #[test]
    fn the_actual_cost_counts_pages_as_they_came_back() {
        let doc = async_graphql::parser::parse_query(
            "{ a: opportunities(first: 50) { nodes { id } } b: accounts { nodes { id } } }",
        )
        .unwrap();
        let data = Value::from_json(serde_json::json!({
            "a": { "nodes": [{ "id": "1" }, { "id": "2" }] },
            "b": null,
        }))
        .unwrap();
        let vars = Variables::default();
        assert_eq!(cost(&doc, None, &vars), (1 + 50 * 2) + (1 + 100 * 2));
        assert_eq!(actual(&doc, None, &vars, &data), (1 + 2 * 2) + 1);
    }

    #[test]
    fn variables_are_read_for_page_sizes() {
        let doc = async_graphql::parser::parse_query(
            "query($n: Int) { events(first: $n) { nodes { seq } } }",
        )
        .unwrap();
        let vars = Variables::from_json(serde_json::json!({ "n": 3 }));
        assert_eq!(cost(&doc, None, &vars), 1 + 3 * 2);
    }
}
