//! The API's own scalars, so that no value a client reads or sends can overflow GraphQL's
//! 32-bit `Int` or lose precision in a JavaScript number: 64-bit counters as decimal
//! strings, money as a decimal string with its currency, instants and dates as text.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};
use dealtrail_domain::Timestamp;

/// A non-negative 64-bit integer (sequence numbers, versions, counts), sent as a decimal
/// string because GraphQL's `Int` is 32-bit and JavaScript numbers are exact only to 2^53.
/// Accepted as a string of digits, or as an `Int` literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UInt64(pub u64);

#[Scalar(name = "UInt64")]
impl ScalarType for UInt64 {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse()
                .map(UInt64)
                .map_err(|_| InputValueError::custom(format!("{s} is over 2^64 - 1"))),
            Value::Number(n) => n.as_u64().map(UInt64).ok_or_else(|| {
                InputValueError::custom(format!("{n} is not a non-negative integer"))
            }),
            _ => Err(InputValueError::custom(
                "a non-negative integer as a string of digits, e.g. \"5000000000\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<u64> for UInt64 {
    fn from(n: u64) -> Self {
        UInt64(n)
    }
}

impl From<usize> for UInt64 {
    fn from(n: usize) -> Self {
        UInt64(n as u64)
    }
}

impl From<u32> for UInt64 {
    fn from(n: u32) -> Self {
        UInt64(u64::from(n))
    }
}

impl UInt64 {
    /// The value as a `u32`, or a VALIDATION error naming the field.
    pub fn to_u32(self, name: &str) -> async_graphql::Result<u32> {
        u32::try_from(self.0).map_err(|_| {
            crate::errors::error("VALIDATION", format!("{name}: at most {}", u32::MAX))
        })
    }
}

/// An instant, as RFC 3339 text in UTC (`2026-11-30T09:15:00Z`, with microseconds when
/// there are any: `2026-11-30T09:15:00.250000Z`). Accepted as RFC 3339 with any offset, or
/// as a date (`2026-11-30`), meaning its first instant in UTC; years 1900 to 2999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub Timestamp);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => Timestamp::parse(s)
                .map(DateTime)
                .map_err(|e| InputValueError::custom(e.to_string())),
            _ => Err(InputValueError::custom("an RFC 3339 instant as a string")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A calendar date, `YYYY-MM-DD`, in the years 1900 to 2999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub dealtrail_domain::Date);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => dealtrail_domain::Date::parse(s)
                .map(Date)
                .map_err(|e| InputValueError::custom(e.to_string())),
            _ => Err(InputValueError::custom("a date as a string, YYYY-MM-DD")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An exact decimal number as a string (`"50000000.00"`, `"-3.5"`): digits, at most one
/// `.`, an optional leading `-`; no exponent, no grouping separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if is_decimal(s) => Ok(Decimal(s.clone())),
            Value::String(s) => Err(InputValueError::custom(format!(
                "{s:?} is not a decimal number (digits with an optional '.' and leading '-')"
            ))),
            _ => Err(InputValueError::custom(
                "a decimal number as a string, e.g. \"1250.50\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// An amount of money: an exact decimal in a currency.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// The amount, in the currency's major unit (`"50000000.00"` USD).
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

/// An amount of money to record: a decimal in the currency's major unit and an ISO 4217
/// code.
#[derive(async_graphql::InputObject, Debug, Clone)]
pub struct MoneyInput {
    /// The amount, with at most the currency's decimals (`"1250.50"` USD, `"1200"` JPY).
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
}

impl MoneyInput {
    /// The amount checked, or a VALIDATION error naming the field `name`.
    pub fn parse(&self, name: &str) -> async_graphql::Result<dealtrail_domain::Money> {
        let currency = crate::errors::field(
            &format!("{name}.currency"),
            dealtrail_domain::Currency::parse(&self.currency),
        )?;
        crate::errors::field(
            &format!("{name}.amount"),
            dealtrail_domain::Money::parse(&self.amount.0, currency),
        )
    }
}

impl From<dealtrail_domain::Money> for Money {
    fn from(m: dealtrail_domain::Money) -> Self {
        Money {
            amount: Decimal(m.decimal()),
            currency: m.currency().to_string(),
        }
    }
}

impl Money {
    /// An amount given in minor units of a currency (sums of amounts included, which may
    /// pass the largest single amount).
    pub fn minor(minor: i64, currency: dealtrail_domain::Currency) -> Money {
        Money {
            amount: Decimal(currency.decimal(minor)),
            currency: currency.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint64_reads_digits_and_int_literals_and_writes_strings() {
        let big = UInt64::parse(Value::String("7916164688053882".into())).unwrap();
        assert_eq!(big, UInt64(7_916_164_688_053_882));
        assert_eq!(big.to_value(), Value::String("7916164688053882".into()));
        assert_eq!(UInt64::parse(Value::from(12)).unwrap(), UInt64(12));
        for bad in ["", "-1", "1e3", "18446744073709551616", " 1"] {
            assert!(UInt64::parse(Value::String(bad.into())).is_err(), "{bad}");
        }
        assert!(UInt64::parse(Value::from(-1)).is_err());
    }

    #[test]
    fn decimals_follow_the_grammar() {
        for ok in ["0", "1250.50", "-3.5", "50000000.00"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "", "1,000.00", "1.", ".5", "1e3", "+1", "1.2.3", "--1", " 1",
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn sums_past_the_maximum_still_print_exactly() {
        let usd = dealtrail_domain::Currency::USD;
        let huge = dealtrail_domain::Money::MAX_MINOR * 3 + 7;
        assert_eq!(Money::minor(huge, usd).amount.0, "30000000000000.07");
        assert_eq!(Money::minor(-5, usd).amount.0, "-0.05");
    }
}
