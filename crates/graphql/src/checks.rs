//! Checks every operation passes before it runs, over HTTP and WebSocket alike: a stable
//! `extensions.code` on parse and validation errors, and the depth limit, which treats the
//! schema's own introspection apart so that standard tools can load the schema.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

/// Deepest nesting of fields an ordinary operation may have.
pub const MAX_DEPTH: usize = 12;

/// Deepest nesting under `__schema` or `__type`. The standard introspection query of
/// graphql-js and graphql-core nests `ofType` eight times below a field's argument type,
/// which is 13 levels; the chain of `ofType` is bounded by the schema, so the bound is loose.
pub const MAX_INTROSPECTION_DEPTH: usize = 20;

/// Most list fields (`types`, `fields`, `args`, ...) nested in one introspection path. The
/// standard query needs three (`types > fields > args`); each more multiplies the answer by
/// the size of the schema (`types { fields { type { fields { ... } } } }`).
pub const MAX_INTROSPECTION_LISTS: usize = 3;

/// The codes of errors that refuse a request before any of it runs.
pub const REQUEST_ERROR_CODES: &[&str] = &[
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_USER_INPUT",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COSTLY",
    "RATE_LIMITED",
];

/// The extension that adds the checks to the schema.
pub struct RequestChecks;

impl ExtensionFactory for RequestChecks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Checks::default())
    }
}

/// The checks of one request, with the cost found for it.
#[derive(Default)]
struct Checks {
    cost: std::sync::Mutex<Option<u64>>,
    /// What the caller's budget holds after this request, and its size.
    budget: std::sync::Mutex<Option<(u64, u64)>>,
}

fn coded(mut e: ServerError, code: &'static str) -> ServerError {
    let has_code = e
        .extensions
        .as_ref()
        .is_some_and(|x| x.get("code").is_some());
    if !has_code {
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    e
}

/// The code of a validation error: a variable whose value does not fit its type is the
/// client's input, everything else is the document.
fn validation_code(e: &ServerError) -> &'static str {
    let m = &e.message;
    if m.starts_with("Invalid value for argument")
        || m.starts_with("Variable \"")
        || m.starts_with("Failed to parse")
    {
        "BAD_USER_INPUT"
    } else {
        "GRAPHQL_VALIDATION_FAILED"
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Checks {
    /// An argument whose value a scalar refuses fails as its field runs; it is the client's
    /// input all the same. Every answer says what the request cost.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for e in &mut response.errors {
            if e.message.starts_with("Failed to parse \"") {
                *e = coded(
                    std::mem::replace(e, ServerError::new("", None)),
                    "BAD_USER_INPUT",
                );
            }
        }
        let cost = self.cost.lock().ok().and_then(|c| *c);
        if let Some(cost) = cost {
            let mut report = async_graphql::indexmap::IndexMap::new();
            report.insert(
                async_graphql::Name::new("requested"),
                async_graphql::Value::from(cost),
            );
            report.insert(
                async_graphql::Name::new("limit"),
                async_graphql::Value::from(crate::cost::MAX_COST),
            );
            response
                .extensions
                .insert("cost".to_owned(), async_graphql::Value::Object(report));
        }
        let budget = self.budget.lock().ok().and_then(|b| *b);
        if let Some((remaining, capacity)) = budget {
            let mut report = async_graphql::indexmap::IndexMap::new();
            report.insert(
                async_graphql::Name::new("remaining"),
                async_graphql::Value::from(remaining),
            );
            report.insert(
                async_graphql::Name::new("capacity"),
                async_graphql::Value::from(capacity),
            );
            response
                .extensions
                .insert("budget".to_owned(), async_graphql::Value::Object(report));
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| coded(e, "GRAPHQL_PARSE_FAILED"))?;
        check_depth(&doc)?;
        let cost = crate::cost::cost(&doc, None, variables);
        if let Ok(mut slot) = self.cost.lock() {
            *slot = Some(cost);
        }
        if cost > crate::cost::MAX_COST {
            return Err(coded(
                ServerError::new(
                    format!(
                        "the operation would cost {cost}; at most {} (see docs/api.md, Limits)",
                        crate::cost::MAX_COST
                    ),
                    None,
                ),
                "QUERY_TOO_COSTLY",
            ));
        }
        if let (Some(who), Some(budgets)) = (
            ctx.data_opt::<crate::auth::Identity>(),
            ctx.data_opt::<crate::budget::Budgets>(),
        ) {
            use crate::budget::Charge;
            match budgets.charge(who, cost) {
                Charge::Done {
                    remaining,
                    capacity,
                } => {
                    if let Ok(mut slot) = self.budget.lock() {
                        *slot = Some((remaining, capacity));
                    }
                }
                Charge::Refused {
                    retry_after,
                    remaining,
                    capacity,
                } => {
                    if let Ok(mut slot) = self.budget.lock() {
                        *slot = Some((remaining, capacity));
                    }
                    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                    let mut e = coded(
                        ServerError::new(
                            format!(
                                "the budget of this token holds {remaining} of the {cost} this \
                                 operation costs; retry in {seconds} s"
                            ),
                            None,
                        ),
                        "RATE_LIMITED",
                    );
                    if let Some(x) = e.extensions.as_mut() {
                        x.set("retryAfter", seconds);
                    }
                    return Err(e);
                }
            }
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let code = validation_code(&e);
                    coded(e, code)
                })
                .collect()
        })
    }
}

/// Refuses a document nested deeper than the limits, naming the limit.
pub fn check_depth(doc: &ExecutableDocument) -> ServerResult<()> {
    let walker = Walker { doc };
    for (_, op) in doc.operations.iter() {
        let mut path = HashSet::new();
        walker.selections(&op.node.selection_set.node, 0, Mode::Ordinary, &mut path)?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Mode {
    Ordinary,
    /// Inside `__schema` or `__type`, with this many list fields on the path.
    Introspection(usize),
}

const INTROSPECTION_LISTS: &[&str] = &[
    "types",
    "fields",
    "args",
    "inputFields",
    "interfaces",
    "possibleTypes",
    "enumValues",
    "directives",
];

struct Walker<'a> {
    doc: &'a ExecutableDocument,
}

impl<'a> Walker<'a> {
    fn selections(
        &self,
        set: &'a SelectionSet,
        depth: usize,
        mode: Mode,
        fragments: &mut HashSet<&'a str>,
    ) -> ServerResult<()> {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    let name = f.name.node.as_str();
                    let depth = depth + 1;
                    let mode = match mode {
                        Mode::Ordinary if name == "__schema" || name == "__type" => {
                            Mode::Introspection(0)
                        }
                        Mode::Introspection(lists) if INTROSPECTION_LISTS.contains(&name) => {
                            Mode::Introspection(lists + 1)
                        }
                        other => other,
                    };
                    match mode {
                        Mode::Ordinary if depth > MAX_DEPTH => {
                            return Err(too_deep(format!(
                                "the operation nests fields {depth} deep; at most {MAX_DEPTH}"
                            )));
                        }
                        Mode::Introspection(_) if depth > MAX_INTROSPECTION_DEPTH => {
                            return Err(too_deep(format!(
                                "the introspection nests fields {depth} deep; at most \
                                 {MAX_INTROSPECTION_DEPTH}"
                            )));
                        }
                        Mode::Introspection(lists) if lists > MAX_INTROSPECTION_LISTS => {
                            return Err(too_deep(format!(
                                "the introspection nests {lists} lists; at most \
                                 {MAX_INTROSPECTION_LISTS}"
                            )));
                        }
                        _ => {}
                    }
                    self.selections(&f.selection_set.node, depth, mode, fragments)?;
                }
                Selection::InlineFragment(f) => {
                    self.selections(&f.node.selection_set.node, depth, mode, fragments)?;
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    // A cycle of fragments is refused by validation; here it only must not
                    // loop.
                    let Some(fragment) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    if !fragments.insert(name) {
                        continue;
                    }
                    self.selections(&fragment.node.selection_set.node, depth, mode, fragments)?;
                    fragments.remove(name);
                }
            }
        }
        Ok(())
    }
}

fn too_deep(message: String) -> ServerError {
    coded(ServerError::new(message, None), "QUERY_TOO_DEEP")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(q: &str) -> bool {
        check_depth(&async_graphql::parser::parse_query(q).unwrap()).is_ok()
    }

    fn nested(levels: usize) -> String {
        let mut q = String::from("x");
        for _ in 1..levels {
            q = format!("a {{ {q} }}");
        }
        format!("{{ {q} }}")
    }

    #[test]
    fn ordinary_operations_stop_at_the_depth_limit() {
        assert!(depth_ok(&nested(MAX_DEPTH)));
        assert!(!depth_ok(&nested(MAX_DEPTH + 1)));
    }

    #[test]
    fn fragments_count_where_they_are_spread_and_cycles_do_not_loop() {
        let deep = format!("{{ a {{ ...F }} }} fragment F on T {}", nested(MAX_DEPTH));
        assert!(!depth_ok(&deep));
        assert!(depth_ok(
            "{ a { ...F } } fragment F on T { ...G } fragment G on T { ...F }"
        ));
    }

    #[test]
    fn introspection_may_nest_type_refs_but_not_lists_of_lists() {
        let mut type_ref = String::from("name");
        for _ in 0..8 {
            type_ref = format!("kind name ofType {{ {type_ref} }}");
        }
        let standard = format!(
            "{{ __schema {{ types {{ fields {{ args {{ type {{ {type_ref} }} }} }} }} }} }}"
        );
        assert!(depth_ok(&standard));
        assert!(!depth_ok(
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
        ));
    }
}
