//! Exchange rates: recorded as events of the `exchange-rates` stream, so that a sum over
//! deals in several currencies can convert each amount with the rate known at the time.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::values::{Currency, Date, Label};

/// A positive exchange rate as an exact decimal: `units / 10^scale`. At most 15 significant
/// digits and 10 decimals, so that converting any amount dealtrail accepts stays exact in
/// 128-bit integers before the final rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate {
    units: u64,
    scale: u8,
}

impl Rate {
    /// Most decimals a rate may have.
    pub const MAX_DECIMALS: usize = 10;
    /// Most significant digits a rate may have.
    pub const MAX_DIGITS: usize = 15;

    /// Parses `7.1234`, `0.000153`, `150`: digits with an optional `.` and fraction; no
    /// sign, exponent or grouping; greater than zero.
    pub fn parse(s: &str) -> Result<Rate, FieldError> {
        let bad = || FieldError::Rate { value: s.into() };
        let t = s.trim();
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) if !f.is_empty() => (w, f),
            Some(_) => return Err(bad()),
            None => (t, ""),
        };
        if whole.is_empty()
            || frac.len() > Self::MAX_DECIMALS
            || !whole.bytes().all(|c| c.is_ascii_digit())
            || !frac.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let digits = format!("{whole}{frac}");
        let significant = digits.trim_start_matches('0');
        if significant.is_empty() || significant.len() > Self::MAX_DIGITS {
            return Err(bad());
        }
        let units: u64 = significant.parse().map_err(|_| bad())?;
        Ok(Rate {
            units,
            scale: frac.len() as u8,
        })
    }

    /// `minor` units of `from` in minor units of `to` at this rate (one `from` buys `rate`
    /// `to`), rounded half away from zero to `to`'s minor unit; `None` on overflow.
    pub fn convert(&self, minor: i64, from: Currency, to: Currency) -> Option<i64> {
        self.forward(from, to)?.apply(minor)
    }

    /// `minor` units of `to` back in minor units of `from` (the inverse rate), rounded the
    /// same way; `None` on overflow.
    pub fn convert_back(&self, minor: i64, from: Currency, to: Currency) -> Option<i64> {
        self.backward(from, to)?.apply(minor)
    }

    /// [`Rate::convert`] for one pair, worked out once for many amounts.
    pub fn forward(&self, from: Currency, to: Currency) -> Option<Conversion> {
        Conversion::new(
            i128::from(self.units).checked_mul(10i128.pow(u32::from(to.minor_digits())))?,
            10i128.checked_pow(u32::from(self.scale) + u32::from(from.minor_digits()))?,
        )
    }

    /// [`Rate::convert_back`] for one pair, worked out once for many amounts.
    pub fn backward(&self, from: Currency, to: Currency) -> Option<Conversion> {
        Conversion::new(
            10i128
                .pow(u32::from(self.scale))
                .checked_mul(10i128.pow(u32::from(from.minor_digits())))?,
            i128::from(self.units).checked_mul(10i128.pow(u32::from(to.minor_digits())))?,
        )
    }
}

/// A rate applied to one pair of currencies: `minor × num / den`, rounded half away from
/// zero. Looking up the currencies' minor units once instead of per amount is what makes
/// a sum over thousands of deals cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    num: i128,
    den: i128,
}

impl Conversion {
    fn new(num: i128, den: i128) -> Option<Conversion> {
        (den > 0).then_some(Conversion { num, den })
    }

    /// `minor` converted; `None` on overflow.
    pub fn apply(&self, minor: i64) -> Option<i64> {
        divide_rounded(i128::from(minor).checked_mul(self.num)?, self.den)
    }
}

fn divide_rounded(num: i128, den: i128) -> Option<i64> {
    let (q, r) = (num / den, num % den);
    let q = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    i64::try_from(q).ok()
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = usize::from(self.scale);
        let digits = format!("{:0>width$}", self.units, width = scale + 1);
        let (whole, frac) = digits.split_at(digits.len() - scale);
        if frac.is_empty() {
            f.write_str(whole)
        } else {
            write!(f, "{whole}.{frac}")
        }
    }
}

impl TryFrom<String> for Rate {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Rate, FieldError> {
        Rate::parse(&s)
    }
}

impl From<Rate> for String {
    fn from(r: Rate) -> String {
        r.to_string()
    }
}

/// A recorded rate: on `date`, one unit of `from` bought `rate` units of `to`, as `source`
/// published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRate {
    /// The currency priced.
    pub from: Currency,
    /// The currency it is priced in.
    pub to: Currency,
    /// Units of `to` for one unit of `from`.
    pub rate: Rate,
    /// The day the rate applies from (until a later one of the same pair).
    pub date: Date,
    /// Who published it (a central bank, the finance team).
    pub source: Label,
}
