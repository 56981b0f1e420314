//! "As of" a moment: which clock, a past read model or a cut of the live one.

use async_graphql::{Context, Enum};
use dealtrail_domain::Timestamp;
use dealtrail_engine::Engine;
use dealtrail_funnel::Cut;

use crate::access::engine;
use crate::errors::{engine_error, error};
use crate::scalars::DateTime;

/// Which clock an "as of" moment is on.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// What had been recorded by then ("what we knew").
    Recorded,
    /// What had happened by then, as known now.
    Occurred,
}

/// Runs `f` on a read model now, or on the model as it stood at a past moment, off the
/// async threads: an analysis takes milliseconds to seconds, a past model replays part or
/// all of the log (and stops when the request is abandoned).
pub(crate) async fn model_at<P, R>(
    ctx: &Context<'_>,
    when: Option<Past>,
    host: fn(&Engine) -> &dealtrail_engine::ProjectionHost<P>,
    f: impl FnOnce(&P) -> R + Send + 'static,
) -> async_graphql::Result<R>
where
    P: dealtrail_domain::Projection + Sync + 'static,
    R: Send + 'static,
{
    let engine = engine(ctx).clone();
    let cancel = crate::scope::cancel(ctx);
    tokio::task::spawn_blocking(move || {
        let model = match when {
            None => return host(&engine).read(f),
            Some(Past::Recorded(t)) => host(&engine).as_recorded_by_or_cancel(t, &cancel),
            Some(Past::Occurred(t)) => host(&engine).as_occurred_by_or_cancel(t, &cancel),
        }?;
        Ok(f(&model))
    })
    .await
    .map_err(|_| error("INTERNAL", "internal error"))?
    .map_err(engine_error)
}

/// The moment a question is asked from: the past moment, or now.
pub(crate) fn moment(when: Option<Past>) -> Timestamp {
    match when {
        None => dealtrail_engine::now(),
        Some(Past::Recorded(t) | Past::Occurred(t)) => t,
    }
}

/// A past moment on one of the clocks.
#[derive(Clone, Copy)]
pub(crate) enum Past {
    Recorded(Timestamp),
    Occurred(Timestamp),
}

pub(crate) fn past(
    _ctx: &Context<'_>,
    as_of: Option<DateTime>,
    clock: Option<Clock>,
) -> async_graphql::Result<Option<Past>> {
    let Some(DateTime(t)) = as_of else {
        return Ok(None);
    };
    Ok(Some(match clock.unwrap_or(Clock::Recorded) {
        Clock::Recorded => Past::Recorded(t),
        Clock::Occurred => Past::Occurred(t),
    }))
}

/// Turns an "as of" argument into a cut of the live model.
pub(crate) fn cut(
    ctx: &Context<'_>,
    as_of: Option<DateTime>,
    clock: Option<Clock>,
) -> async_graphql::Result<Cut> {
    let now = dealtrail_engine::now();
    let Some(DateTime(t)) = as_of else {
        return Ok(Cut::occurred_by(now));
    };
    match clock.unwrap_or(Clock::Recorded) {
        Clock::Occurred => Ok(Cut::occurred_by(t)),
        Clock::Recorded => {
            let seq = engine(ctx)
                .store()
                .seq_recorded_by(dealtrail_store::Timestamp(t.0))
                .map_err(|e| engine_error(e.into()))?;
            Ok(Cut {
                occurred_by: t,
                recorded_through: seq,
            })
        }
    }
}
