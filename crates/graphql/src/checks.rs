//! Checks every operation passes before it runs, over HTTP and WebSocket alike: the depth
//! limit (which treats the schema's own introspection apart so that standard tools can load
//! the schema), the cost limit and the caller's budget; and a stable `extensions.code` on
//! parse and validation errors, with the cost and budget reported in every answer.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, Response, ServerError, ServerResult};

use crate::auth::Identity;
use crate::budget::{Budgets, Charge};
use crate::schema::DealtrailSchema;
use crate::scope::Scope;

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

/// What the checks found out about a request, reported in its answer.
#[derive(Debug, Clone, Copy, Default)]
struct Report {
    cost: Option<u64>,
    /// What it cost once it ran (pages as long as they came back).
    actual: Option<u64>,
    budget: Option<(u64, u64)>,
}

/// The checks before a request runs: it parses, it is not nested too deep, it does not
/// cost too much, and the caller's budget pays for it. The parsed document stays in the
/// request, so the schema does not parse it again. Done around the schema rather than
/// inside it because async-graphql sends every field through the extension chain once any
/// extension is installed.
fn precheck(
    request: &mut Request,
    who: Option<&Identity>,
    budgets: &Budgets,
) -> Result<Report, Box<Response>> {
    let mut report = Report::default();
    let variables = request.variables.clone();
    let doc = match request.parsed_query() {
        Ok(doc) => doc,
        Err(e) => return Err(refused(coded(e, "GRAPHQL_PARSE_FAILED"), report)),
    };
    if let Err(e) = check_depth(doc) {
        return Err(refused(e, report));
    }
    let cost = crate::cost::cost(doc, None, &variables);
    report.cost = Some(cost);
    if cost > crate::cost::MAX_COST {
        let e = ServerError::new(
            format!(
                "the operation would cost {cost}; at most {} (see docs/api.md, Limits)",
                crate::cost::MAX_COST
            ),
            None,
        );
        return Err(refused(coded(e, "QUERY_TOO_COSTLY"), report));
    }
    let Some(who) = who else {
        return Ok(report);
    };
    match budgets.charge(who, cost) {
        Charge::Done {
            remaining,
            capacity,
        } => {
            report.budget = Some((remaining, capacity));
            Ok(report)
        }
        Charge::Refused {
            retry_after,
            remaining,
            capacity,
        } => {
            report.budget = Some((remaining, capacity));
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
            Err(refused(e, report))
        }
    }
}

fn refused(e: ServerError, report: Report) -> Box<Response> {
    Box::new(finish(Response::from_errors(vec![e]), report))
}

/// The answer with a code on every error the schema left without one, and the report.
fn finish(mut response: Response, report: Report) -> Response {
    let before_execution = response.data == async_graphql::Value::Null;
    for e in &mut response.errors {
        let code = if e.message.starts_with("Failed to parse \"") {
            "BAD_USER_INPUT"
        } else if before_execution && e.path.is_empty() {
            validation_code(e)
        } else {
            continue;
        };
        *e = coded(std::mem::replace(e, ServerError::new("", None)), code);
    }
    if let Some(cost) = report.cost {
        let mut object = async_graphql::indexmap::IndexMap::new();
        object.insert(async_graphql::Name::new("requested"), cost.into());
        if let Some(actual) = report.actual {
            object.insert(async_graphql::Name::new("actual"), actual.into());
        }
        object.insert(
            async_graphql::Name::new("limit"),
            crate::cost::MAX_COST.into(),
        );
        response
            .extensions
            .insert("cost".to_owned(), async_graphql::Value::Object(object));
    }
    if let Some((remaining, capacity)) = report.budget {
        let mut object = async_graphql::indexmap::IndexMap::new();
        object.insert(async_graphql::Name::new("remaining"), remaining.into());
        object.insert(async_graphql::Name::new("capacity"), capacity.into());
        response
            .extensions
            .insert("budget".to_owned(), async_graphql::Value::Object(object));
    }
    response
}

/// Runs a query or mutation with the checks around it. If the returned future is dropped
/// before it finishes (the request timed out, the client went away), the folds it started
/// on the blocking pool stop at their next look at the request's [`Scope`] flag.
pub async fn execute(
    schema: &DealtrailSchema,
    budgets: &Budgets,
    who: Option<&Identity>,
    mut request: Request,
) -> Response {
    let mut report = match precheck(&mut request, who, budgets) {
        Ok(report) => report,
        Err(refusal) => return *refusal,
    };
    let doc = request.parsed_query().ok().cloned();
    let variables = request.variables.clone();
    let operation = request.operation_name.clone();
    let scope = Scope::default();
    let guard = scope.cancel.on_drop();
    let response = schema.execute(request.data(scope)).await;
    guard.disarm();
    if let (Some(doc), Some(requested)) = (doc, report.cost) {
        let actual = crate::cost::actual(&doc, operation.as_deref(), &variables, &response.data)
            .min(requested);
        report.actual = Some(actual);
        if let (Some(who), Some(_)) = (who, report.budget)
            && let Some(remaining) = budgets.refund(who, requested - actual)
        {
            report.budget = report.budget.map(|(_, capacity)| (remaining, capacity));
        }
    }
    finish(response, report)
}

/// The schema with the checks around it, as the WebSocket protocol runs operations: the
/// socket's identity is set once its `connection_init` is accepted.
#[derive(Clone)]
pub struct Checked {
    /// The schema.
    pub schema: DealtrailSchema,
    /// The budgets operations spend from.
    pub budgets: Arc<Budgets>,
    /// Who the socket belongs to, once known.
    pub who: Arc<std::sync::Mutex<Option<Identity>>>,
}

impl async_graphql::Executor for Checked {
    async fn execute(&self, request: Request) -> Response {
        let who = self.who.lock().ok().and_then(|w| w.clone());
        execute(&self.schema, &self.budgets, who.as_ref(), request).await
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, Response> {
        use futures_util::StreamExt;
        let who = self.who.lock().ok().and_then(|w| w.clone());
        match precheck(&mut request, who.as_ref(), &self.budgets) {
            Ok(report) => self
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(move |r| finish(r, report))
                .boxed(),
            Err(refusal) => futures_util::stream::once(async move { *refusal }).boxed(),
        }
    }
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
