//! What the resolvers of one request share: the flag that stops its folds once the request
//! is abandoned, and the analyses it has already computed, so that the same analysis with
//! the same arguments runs once however many aliases ask for it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::Context;
use dealtrail_engine::Cancel;
use tokio::sync::OnceCell;

type Computed = Result<Arc<dyn Any + Send + Sync>, async_graphql::Error>;

/// One request's shared state, put into the request's data by the checks.
#[derive(Default)]
pub struct Scope {
    /// Set when the request is abandoned; folds on the blocking pool read it.
    pub cancel: Cancel,
    computed: Mutex<HashMap<String, Arc<OnceCell<Computed>>>>,
}

/// The flag of the request `ctx` belongs to (a fresh one outside a checked request).
pub(crate) fn cancel(ctx: &Context<'_>) -> Cancel {
    ctx.data_opt::<Scope>()
        .map(|s| s.cancel.clone())
        .unwrap_or_default()
}

/// Runs `compute` for the root field `ctx` resolves, unless the request already computed
/// the same field with the same arguments: then all askers share that one answer (or that
/// one error). Only for root fields: the key does not include the parent.
pub(crate) async fn once<T, F>(ctx: &Context<'_>, compute: F) -> async_graphql::Result<Arc<T>>
where
    T: Send + Sync + 'static,
    F: Future<Output = async_graphql::Result<T>>,
{
    let Some(scope) = ctx.data_opt::<Scope>() else {
        return compute.await.map(Arc::new);
    };
    let field = ctx.field();
    let mut args = field.arguments()?;
    args.sort_by(|a, b| a.0.cmp(&b.0));
    let key = format!("{}{args:?}", field.name());
    let cell = {
        let mut computed = scope
            .computed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        computed.entry(key).or_default().clone()
    };
    let answer = cell
        .get_or_init(|| async {
            compute
                .await
                .map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>)
        })
        .await
        .clone()?;
    answer
        .downcast::<T>()
        .map_err(|_| crate::errors::error("INTERNAL", "internal error"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Root;

    #[Object]
    impl Root {
        async fn costly(&self, ctx: &Context<'_>, n: i32) -> async_graphql::Result<Arc<i32>> {
            once(ctx, async move {
                ctx.data_unchecked::<Arc<AtomicUsize>>()
                    .fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(n * 2)
            })
            .await
        }
    }

    #[tokio::test]
    async fn the_same_field_with_the_same_arguments_runs_once_per_request() {
        let schema = Schema::new(Root, EmptyMutation, EmptySubscription);
        let ran = Arc::new(AtomicUsize::new(0));
        let query =
            "query($n: Int!) { a: costly(n: 1) b: costly(n: 1) c: costly(n: $n) d: costly(n: 2) }";
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(
                serde_json::json!({ "n": 1 }),
            ))
            .data(Scope::default())
            .data(ran.clone());
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(
            response.data.into_json().unwrap(),
            serde_json::json!({ "a": 2, "b": 2, "c": 2, "d": 4 })
        );
        assert_eq!(ran.load(Ordering::SeqCst), 2, "n: 1 once, n: 2 once");
        // A new request computes afresh.
        let again = schema
            .execute(
                async_graphql::Request::new("{ costly(n: 1) }")
                    .data(Scope::default())
                    .data(ran.clone()),
            )
            .await;
        assert!(again.errors.is_empty());
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    }
}
