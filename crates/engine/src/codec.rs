//! Translation between the domain's events and the store's envelopes.

use dealtrail_domain::{DecodeError, Event, Recorded, Timestamp, UserId};
use dealtrail_store::{NewEvent, RecordedEvent, StreamId};
use uuid::Uuid;

use crate::error::EngineError;

/// The store's stream id of a domain stream name.
pub fn stream_id(name: dealtrail_domain::StreamName) -> StreamId {
    StreamId::parse(name.to_string()).expect("domain stream names are valid stream ids")
}

/// Wraps a domain event for the store; the event id is a fresh UUIDv7 (time-ordered).
pub fn new_event(event: &Event, occurred_at: Timestamp) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        occurred_at: dealtrail_store::Timestamp(occurred_at.0),
        payload: event.encode(),
        causation_id: None,
    }
}

/// Decodes a stored envelope into what projections and aggregates read.
pub fn decode(recorded: &RecordedEvent) -> Result<Recorded<Event>, EngineError> {
    let event = Event::decode(
        recorded.stream.as_str(),
        &recorded.event_type,
        recorded.schema_version,
        &recorded.payload,
    )
    .map_err(|source| EngineError::Decode {
        seq: recorded.seq,
        source,
    })?;
    let actor = UserId::parse(&recorded.actor).map_err(|_| EngineError::Decode {
        seq: recorded.seq,
        source: DecodeError::Malformed {
            event_type: recorded.event_type.clone(),
            version: recorded.schema_version,
            detail: format!("actor {:?} is not a valid user id", recorded.actor),
        },
    })?;
    Ok(Recorded {
        seq: recorded.seq,
        recorded_at: Timestamp(recorded.recorded_at.0),
        occurred_at: Timestamp(recorded.occurred_at.0),
        actor,
        event,
    })
}

/// Decodes a borrowed view of a stored event (the fast path of folds).
pub fn decode_view(view: &dealtrail_store::EventView<'_>) -> Result<Recorded<Event>, EngineError> {
    let event = Event::decode(
        view.stream,
        view.event_type,
        view.schema_version,
        view.payload,
    )
    .map_err(|source| EngineError::Decode {
        seq: view.seq,
        source,
    })?;
    let actor = UserId::parse(view.actor).map_err(|_| EngineError::Decode {
        seq: view.seq,
        source: DecodeError::Malformed {
            event_type: view.event_type.to_owned(),
            version: view.schema_version,
            detail: format!("actor {:?} is not a valid user id", view.actor),
        },
    })?;
    Ok(Recorded {
        seq: view.seq,
        recorded_at: Timestamp(view.recorded_at.0),
        occurred_at: Timestamp(view.occurred_at.0),
        actor,
        event,
    })
}
