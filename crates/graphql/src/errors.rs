//! Errors with stable codes: the helpers every resolver uses to refuse input, and the
//! mapping of engine errors to `extensions.code`.

use async_graphql::ErrorExtensions;
use dealtrail_engine::EngineError;

/// A typed GraphQL error with a stable `extensions.code`.
pub(crate) fn error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

pub(crate) fn engine_error(e: EngineError) -> async_graphql::Error {
    use dealtrail_domain::DomainError;
    match e {
        // The stream the command is addressed to does not exist (yet).
        EngineError::Rejected(
            d @ (DomainError::AccountNotRegistered
            | DomainError::OpportunityNotOpened
            | DomainError::UnknownEvent { .. }),
        ) => error("NOT_FOUND", d.to_string()),
        EngineError::Rejected(d @ DomainError::GateNotMet { .. }) => {
            let DomainError::GateNotMet { stage, missing } = &d else {
                unreachable!("matched above")
            };
            let (stage, missing) = (stage.to_string(), missing.clone());
            async_graphql::Error::new(d.to_string()).extend_with(move |_, e| {
                e.set("code", "GATE_NOT_MET");
                e.set("stage", stage.clone());
                e.set("missing", missing.clone());
            })
        }
        EngineError::Rejected(d) => error("VALIDATION", d.to_string()),
        EngineError::Invalid(i) => error("VALIDATION", i.to_string()),
        e @ EngineError::ErasureImpossible { .. } => error("ERASURE_IMPOSSIBLE", e.to_string()),
        e @ EngineError::UnknownPerson { .. } => error("NOT_FOUND", e.to_string()),
        EngineError::Store(e @ dealtrail_store::StoreError::Erased { .. }) => {
            error("VALIDATION", e.to_string())
        }
        e @ EngineError::Conflict { .. } => error("CONFLICT", e.to_string()),
        e @ (EngineError::IdempotencyKeyReused { .. }
        | EngineError::IdempotencyKeyMismatch { .. }) => {
            error("IDEMPOTENCY_KEY_REUSED", e.to_string())
        }
        EngineError::Store(dealtrail_store::StoreError::Invalid(i)) => {
            error("VALIDATION", i.to_string())
        }
        EngineError::Store(
            e @ (dealtrail_store::StoreError::WriterFailed(_)
            | dealtrail_store::StoreError::Sled(_)
            | dealtrail_store::StoreError::Io { .. }
            | dealtrail_store::StoreError::Upstream(_)
            | dealtrail_store::StoreError::Diverged(_)),
        ) => {
            tracing::error!(error = %e, "the store cannot write");
            error(
                "STORAGE_UNAVAILABLE",
                "the store cannot write now (disk full or failing); nothing of this request was \
                 written unless it is retried and found done",
            )
        }
        EngineError::Store(e @ dealtrail_store::StoreError::UpstreamUnknown(_)) => {
            tracing::error!(error = %e, "a commit's outcome is unknown");
            error(
                "OUTCOME_UNKNOWN",
                "the database did not answer the commit of this request: it may or may not be \
                 done; retry it with the same idempotency key to find out",
            )
        }
        EngineError::Cancelled => error(
            "TIMEOUT",
            "the request was abandoned before its analysis finished",
        ),
        other => {
            tracing::error!(error = %other, "internal error");
            error("INTERNAL", "internal error")
        }
    }
}

pub(crate) fn field<T, E: std::fmt::Display>(
    name: &str,
    r: Result<T, E>,
) -> async_graphql::Result<T> {
    r.map_err(|e| error("VALIDATION", format!("{name}: {e}")))
}

/// One of a closed vocabulary (a channel, a buying role, ...), or a VALIDATION error naming
/// the field and the values it takes.
pub(crate) fn choice<T: dealtrail_domain::Vocabulary>(
    name: &str,
    value: &str,
) -> async_graphql::Result<T> {
    T::parse(value).ok_or_else(|| {
        error(
            "VALIDATION",
            format!("{name}: unknown value {value:?} (one of: {})", T::names()),
        )
    })
}

/// An optional input parsed by `parse`, or a VALIDATION error naming the field.
pub(crate) fn optional<V, T, E: std::fmt::Display>(
    name: &str,
    value: Option<V>,
    parse: impl Fn(V) -> Result<T, E>,
) -> async_graphql::Result<Option<T>> {
    value.map(|v| field(name, parse(v))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: &async_graphql::Error) -> Option<async_graphql::Value> {
        e.extensions.as_ref().and_then(|x| x.get("code")).cloned()
    }

    #[test]
    fn internal_errors_say_nothing_of_the_internals() {
        let e = engine_error(EngineError::Store(dealtrail_store::StoreError::Corrupt {
            location: "/srv/secret/log".into(),
            detail: "checksum of page 7".into(),
        }));
        assert_eq!(code(&e), Some("INTERNAL".into()));
        assert_eq!(e.message, "internal error");
    }

    #[test]
    fn rule_violations_are_validation_and_missing_streams_not_found() {
        let rejected = engine_error(EngineError::Rejected(
            dealtrail_domain::DomainError::NothingChanged,
        ));
        assert_eq!(code(&rejected), Some("VALIDATION".into()));
        let missing = engine_error(EngineError::Rejected(
            dealtrail_domain::DomainError::OpportunityNotOpened,
        ));
        assert_eq!(code(&missing), Some("NOT_FOUND".into()));
    }
}
