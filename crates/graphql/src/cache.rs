//! The funnel cache: each question computed at most once at a time.

use std::sync::Arc;

use dealtrail_engine::Engine;
use dealtrail_funnel::FunnelQuery;

use crate::errors::error;
use crate::funnel::{Funnel, funnel_object};

/// Funnel answers by question. A funnel over 100k deals takes tens of milliseconds and
/// dashboards ask the same few questions over and over, so each question is computed at
/// most once at a time: an answer computed since the read model last changed what a funnel
/// reads ([`SalesPipeline::funnel_inputs`]: follow-ups and contacts do not count) is
/// served as is; while a newer one is being computed, askers get the newest finished
/// answer (at most one computation old); otherwise the asker starts the computation and
/// waits for it. On a quiet server every answer is therefore current.
///
/// [`SalesPipeline::funnel_inputs`]: dealtrail_funnel::SalesPipeline::funnel_inputs
#[derive(Default)]
pub struct FunnelCache {
    slots: Arc<std::sync::Mutex<std::collections::HashMap<String, FunnelSlot>>>,
}

pub(crate) type PendingFunnel = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<Arc<Funnel>, String>>,
>;

#[derive(Default)]
pub(crate) struct FunnelSlot {
    /// The newest answer and the count of funnel inputs it reflects (at least).
    latest: Option<(u64, Arc<Funnel>)>,
    /// The computation under way, if any.
    pending: Option<PendingFunnel>,
}

/// Questions kept before the cache starts over (each answer is a few kilobytes).
pub(crate) const FUNNEL_CACHE_LIMIT: usize = 512;

impl FunnelCache {
    pub(crate) async fn get(
        &self,
        engine: &Arc<Engine>,
        query: FunnelQuery,
    ) -> async_graphql::Result<Arc<Funnel>> {
        use futures_util::FutureExt;
        let applied = engine
            .sales()
            .read(|m| m.funnel_inputs)
            .map_err(|_| error("INTERNAL", "internal error"))?;
        let key = format!("{query:?}");
        let pending = {
            let mut slots = self
                .slots
                .lock()
                .map_err(|_| error("INTERNAL", "internal error"))?;
            if slots.len() >= FUNNEL_CACHE_LIMIT && !slots.contains_key(&key) {
                slots.retain(|_, slot| slot.pending.is_some());
            }
            let slot = slots.entry(key.clone()).or_default();
            if let Some((seq, answer)) = &slot.latest
                && (*seq >= applied || slot.pending.is_some())
            {
                return Ok(answer.clone());
            }
            match &slot.pending {
                Some(p) => p.clone(),
                None => {
                    let slots = self.slots.clone();
                    let engine = engine.clone();
                    let currency = query.currency;
                    // A task of its own, so the computation finishes (and the slot is freed)
                    // even if every asker goes away.
                    let task = tokio::spawn(async move {
                        let computed = tokio::task::spawn_blocking(move || {
                            engine.sales().read(|m| m.funnel(&query))
                        })
                        .await;
                        let result = match computed {
                            Ok(Ok(report)) => Ok(Arc::new(funnel_object(report, currency))),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(e) => Err(e.to_string()),
                        };
                        if let Ok(mut slots) = slots.lock()
                            && let Some(slot) = slots.get_mut(&key)
                        {
                            slot.pending = None;
                            if let Ok(answer) = &result
                                && slot.latest.as_ref().is_none_or(|(s, _)| *s <= applied)
                            {
                                slot.latest = Some((applied, answer.clone()));
                            }
                        }
                        result
                    });
                    let pending = async move { task.await.map_err(|e| e.to_string())? }
                        .boxed()
                        .shared();
                    slot.pending = Some(pending.clone());
                    pending
                }
            }
        };
        pending.await.map_err(|e| {
            tracing::error!(error = %e, "funnel failed");
            error("INTERNAL", "internal error")
        })
    }
}
