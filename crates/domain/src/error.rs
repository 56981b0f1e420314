//! Domain errors: a value that cannot exist, or a command the rules refuse.

use crate::ids::{ContactId, OrgUnitId};
use crate::pipeline::StageName;
use crate::values::{Currency, Timestamp};
use crate::vocab::{Function, Outcome, RecordKind};

/// A value that failed its `parse` constructor.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A required text is empty after trimming.
    #[error("{field} is empty")]
    Empty {
        /// Which kind of text.
        field: &'static str,
    },
    /// A text exceeds its bound.
    #[error("{field} is {len} characters long, more than the {max} allowed")]
    TooLong {
        /// Which kind of text.
        field: &'static str,
        /// The bound.
        max: usize,
        /// The length found.
        len: usize,
    },
    /// A text contains control characters.
    #[error("{field} contains control characters")]
    ControlCharacters {
        /// Which kind of text.
        field: &'static str,
    },
    /// A text contains characters that reorder how it is shown (bidirectional overrides
    /// and isolates), which can make it read as something else.
    #[error("{field} contains bidirectional override characters (U+202A-U+202E, U+2066-U+2069)")]
    BidiControl {
        /// Which kind of text.
        field: &'static str,
    },
    /// A one-line text (a name, a label) contains a line break or tab.
    #[error("{field} must be one line, without tabs")]
    LineBreak {
        /// Which kind of text.
        field: &'static str,
    },
    /// Not a currency code.
    #[error("{value:?} is not a three-letter currency code")]
    Currency {
        /// The input.
        value: String,
    },
    /// Three letters, but not a code of the ISO 4217 table.
    #[error("{value:?} is not an ISO 4217 currency code")]
    UnknownCurrency {
        /// The input.
        value: String,
    },
    /// Not a positive decimal exchange rate of at most 15 digits and 10 decimals.
    #[error(
        "{value:?} is not an exchange rate (a positive decimal, at most 15 digits and 10 decimals)"
    )]
    Rate {
        /// The input.
        value: String,
    },
    /// Not a decimal amount with at most the currency's decimals.
    #[error("{value:?} is not an amount (digits, optionally '.' and at most {decimals} decimals)")]
    Amount {
        /// The input.
        value: String,
        /// Decimals the currency allows.
        decimals: u8,
    },
    /// Amounts are never negative.
    #[error("amount {minor} (minor units) is negative")]
    NegativeAmount {
        /// The amount in minor units.
        minor: i64,
    },
    /// Amounts are bounded.
    #[error("amount {minor} (minor units) is larger than allowed")]
    AmountTooLarge {
        /// The amount in minor units.
        minor: i64,
    },
    /// A date outside the years business dates may have.
    #[error("{value:?} is outside the years {from} to {to}")]
    DateOutOfRange {
        /// The input.
        value: String,
        /// First year allowed.
        from: i32,
        /// Last year allowed.
        to: i32,
    },
    /// Not a `YYYY-MM-DD` date.
    #[error("{value:?} is not a date (YYYY-MM-DD)")]
    Date {
        /// The input.
        value: String,
    },
    /// Not an RFC 3339 timestamp or date.
    #[error(
        "{value:?} is not a timestamp (RFC 3339 such as 2024-03-01T09:30:00Z, or a date \
         YYYY-MM-DD; years 1900 to 2999)"
    )]
    Timestamp {
        /// The input.
        value: String,
    },
    /// Not a period.
    #[error("{value:?} is not a period (2024, 2024-Q2 or 2024-05)")]
    Period {
        /// The input.
        value: String,
    },
    /// A satisfaction score out of range.
    #[error("satisfaction score {score} is not between 1 and 5")]
    Satisfaction {
        /// The score.
        score: u8,
    },
    /// Not a UUID.
    #[error("{value:?} is not a valid {field} (a UUID)")]
    Id {
        /// Which id.
        field: &'static str,
        /// The input.
        value: String,
    },
    /// Not a dealtrail stream name.
    #[error("{value:?} is not a dealtrail stream name")]
    Stream {
        /// The input.
        value: String,
    },
    /// Not a name of a pipeline stage.
    #[error("{value:?} is not a stage name (1 to 64 characters)")]
    Stage {
        /// The input.
        value: String,
    },
    /// Not a kind of evidence a stage gate can ask for.
    #[error(
        "{value:?} is not evidence (engaged:<buying role>, record:<record kind>, bid or follow_up)"
    )]
    Evidence {
        /// The input.
        value: String,
    },
}

/// A command the business rules refuse; nothing is written.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An exchange rate between a currency and itself.
    #[error("an exchange rate needs two different currencies, not {currency} twice")]
    SameCurrency {
        /// The currency given twice.
        currency: String,
    },
    /// The account exists already.
    #[error("the account is already registered")]
    AccountAlreadyRegistered,
    /// The account does not exist.
    #[error("the account is not registered")]
    AccountNotRegistered,
    /// The opportunity exists already.
    #[error("the opportunity is already opened")]
    OpportunityAlreadyOpened,
    /// The opportunity does not exist.
    #[error("the opportunity is not opened")]
    OpportunityNotOpened,
    /// Closed opportunities accept no stage change, follow-up, bid or forecast until reopened.
    #[error("the opportunity is closed ({outcome:?}); reopen it first")]
    OpportunityClosed {
        /// How it was closed.
        outcome: Outcome,
    },
    /// Only a closed opportunity can be reopened.
    #[error("the opportunity is open")]
    OpportunityNotClosed,
    /// An update that changes nothing is refused rather than recorded.
    #[error("nothing would change")]
    NothingChanged,
    /// The contact is not registered on this account.
    #[error("contact {contact} is not registered on this account")]
    UnknownContact {
        /// The contact.
        contact: ContactId,
    },
    /// The contact id is taken.
    #[error("contact {contact} is already registered")]
    ContactAlreadyRegistered {
        /// The contact.
        contact: ContactId,
    },
    /// The contact has left the customer.
    #[error("contact {contact} has left the customer")]
    ContactLeft {
        /// The contact.
        contact: ContactId,
    },
    /// The contact's personal data was erased.
    #[error("contact {contact} was erased")]
    ContactErased {
        /// The contact.
        contact: ContactId,
    },
    /// The org unit is not part of this account.
    #[error("org unit {org_unit} is not part of this account")]
    UnknownOrgUnit {
        /// The org unit.
        org_unit: OrgUnitId,
    },
    /// The org unit id is taken.
    #[error("org unit {org_unit} already exists")]
    OrgUnitAlreadyExists {
        /// The org unit.
        org_unit: OrgUnitId,
    },
    /// No pipeline has been defined.
    #[error("no pipeline is defined")]
    NoPipeline,
    /// The stage is not in the pipeline in force.
    #[error("stage {stage} is not in the pipeline")]
    UnknownStage {
        /// The stage.
        stage: StageName,
    },
    /// A stage change must go somewhere else.
    #[error("the opportunity is already at stage {stage}")]
    SameStage {
        /// The stage.
        stage: StageName,
    },
    /// The outcome is not offered by the pipeline in force.
    #[error("outcome {outcome:?} is not offered by the pipeline")]
    UnknownOutcome {
        /// The outcome.
        outcome: Outcome,
    },
    /// A pipeline definition is unusable.
    #[error("invalid pipeline: {reason}")]
    InvalidPipeline {
        /// What is wrong.
        reason: String,
    },
    /// Amounts on one deal keep one currency.
    #[error("amount in {found}, but the opportunity is in {expected}")]
    CurrencyMismatch {
        /// The opportunity's currency.
        expected: Currency,
        /// The currency given.
        found: Currency,
    },
    /// A business time before the aggregate began.
    #[error("occurred_at {occurred_at} precedes the start at {start}")]
    OccurredBeforeStart {
        /// The time given.
        occurred_at: Timestamp,
        /// When the account was registered or the opportunity opened.
        start: Timestamp,
    },
    /// A business time too far in the future.
    #[error("occurred_at {occurred_at} lies in the future (now is {now})")]
    OccurredInFuture {
        /// The time given.
        occurred_at: Timestamp,
        /// The server's time.
        now: Timestamp,
    },
    /// The record kind belongs to another function.
    #[error("a {kind:?} record comes from {expected:?}, not {found:?}")]
    RecordKindNotForFunction {
        /// The record kind.
        kind: RecordKind,
        /// The function that makes such records.
        expected: Function,
        /// The function given.
        found: Function,
    },
    /// The owner is already the one named.
    #[error("the owner is already {owner}")]
    SameOwner {
        /// The owner.
        owner: String,
    },
    /// The stage's gate asks for evidence the deal does not show (a hard gate).
    #[error("stage {stage} needs evidence the deal does not show: {}", missing.join(", "))]
    GateNotMet {
        /// The stage entered or passed over.
        stage: StageName,
        /// The requirements not met, each as its alternatives joined by `|`.
        missing: Vec<String>,
    },
    /// A follow-up whose parts do not fit together.
    #[error("invalid follow-up: {reason}")]
    InvalidFollowUp {
        /// What is wrong.
        reason: String,
    },
    /// A follow-up needs at least one participant.
    #[error("a follow-up needs at least one contact or unregistered participant")]
    NoParticipants,
    /// A correction names an event not in this stream.
    #[error("event {seq} is not an event of this stream")]
    UnknownEvent {
        /// The sequence number.
        seq: u64,
    },
    /// Only records (not state changes) can be retracted or amended.
    #[error("event {seq} ({event_type}) cannot be corrected; record a new event instead")]
    NotCorrectable {
        /// The sequence number.
        seq: u64,
        /// Its type.
        event_type: &'static str,
    },
    /// The corrected event was already retracted.
    #[error("event {seq} was already retracted")]
    AlreadyRetracted {
        /// The sequence number.
        seq: u64,
    },
    /// An amendment must be an event of the same type as the one it replaces.
    #[error("event {seq} is a {expected}, the amendment is a {found}")]
    AmendmentTypeMismatch {
        /// The sequence number.
        seq: u64,
        /// Type of the corrected event.
        expected: &'static str,
        /// Type of the replacement.
        found: &'static str,
    },
}
