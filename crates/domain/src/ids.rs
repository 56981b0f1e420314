//! Entity ids and the stream each aggregate lives in.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldError;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses the hyphenated UUID form.
            pub fn parse(s: &str) -> Result<$name, FieldError> {
                Uuid::parse_str(s.trim())
                    .map($name)
                    .map_err(|_| FieldError::Id { field: $field, value: s.into() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

entity_id!(
    /// A customer enterprise.
    AccountId, "account id"
);
entity_id!(
    /// A deal.
    OpportunityId, "opportunity id"
);
entity_id!(
    /// A person at a customer.
    ContactId, "contact id"
);
entity_id!(
    /// A department or business unit of a customer.
    OrgUnitId, "org unit id"
);

/// The stream an event belongs to, named after its aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamName {
    /// `account-<uuid>`
    Account(AccountId),
    /// `opportunity-<uuid>`
    Opportunity(OpportunityId),
    /// `pipeline`: the pipeline definitions.
    Pipeline,
    /// `exchange-rates`: the exchange rates, apart from the pipeline so that the command
    /// path, which reads the pipeline for every deal command, does not read every rate.
    Rates,
}

impl StreamName {
    /// Parses a stream id written by [`StreamName`]'s `Display`.
    pub fn parse(s: &str) -> Result<StreamName, FieldError> {
        let bad = || FieldError::Stream { value: s.into() };
        if s == "pipeline" {
            return Ok(StreamName::Pipeline);
        }
        if s == "exchange-rates" {
            return Ok(StreamName::Rates);
        }
        if let Some(id) = s.strip_prefix("account-") {
            return Uuid::parse_str(id)
                .map(|u| StreamName::Account(AccountId(u)))
                .map_err(|_| bad());
        }
        if let Some(id) = s.strip_prefix("opportunity-") {
            return Uuid::parse_str(id)
                .map(|u| StreamName::Opportunity(OpportunityId(u)))
                .map_err(|_| bad());
        }
        Err(bad())
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamName::Account(id) => write!(f, "account-{id}"),
            StreamName::Opportunity(id) => write!(f, "opportunity-{id}"),
            StreamName::Pipeline => f.write_str("pipeline"),
            StreamName::Rates => f.write_str("exchange-rates"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_round_trip() {
        let id = AccountId(Uuid::from_u128(5));
        for name in [
            StreamName::Account(id),
            StreamName::Opportunity(OpportunityId(Uuid::from_u128(6))),
            StreamName::Pipeline,
            StreamName::Rates,
        ] {
            assert_eq!(StreamName::parse(&name.to_string()).unwrap(), name);
        }
        assert!(StreamName::parse("account-nope").is_err());
        assert!(StreamName::parse("deal-1").is_err());
    }
}
