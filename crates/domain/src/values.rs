//! Validated value types: once one exists, it is valid.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A moment in time: microseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds in one day.
    pub const DAY: i64 = 86_400_000_000;

    /// The instant at midnight UTC that starts `date`.
    pub fn start_of(date: Date) -> Timestamp {
        Timestamp(date.0 as i64 * Self::DAY)
    }

    /// The calendar day (UTC) this instant falls on.
    pub fn date(self) -> Date {
        Date(self.0.div_euclid(Self::DAY) as i32)
    }

    /// Whole days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0).div_euclid(Self::DAY)
    }

    /// Parses RFC 3339 (`2024-03-01T09:30:00Z`, `2024-03-01T10:30:00.25+01:00`) or a plain
    /// date (`2024-03-01`, midnight UTC), within the years `Date` accepts.
    pub fn parse(s: &str) -> Result<Timestamp, FieldError> {
        let s = s.trim();
        if let Ok(date) = Date::parse(s) {
            return Ok(Timestamp::start_of(date));
        }
        let bad = || FieldError::Timestamp { value: s.into() };
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| bad())?;
        if !Date::YEARS.contains(&t.to_offset(time::UtcOffset::UTC).year()) {
            return Err(bad());
        }
        let micros = t.unix_timestamp_nanos().div_euclid(1_000);
        i64::try_from(micros).map(Timestamp).map_err(|_| bad())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Instants past what the calendar library represents (the sentinels "before
        // everything" and "after everything") print as its first or last instant.
        let nanos = i128::from(self.0) * 1_000;
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if self.0 < 0 {
            time::PrimitiveDateTime::MIN.assume_utc()
        } else {
            time::PrimitiveDateTime::MAX.assume_utc()
        });
        write!(
            f,
            "{}T{:02}:{:02}:{:02}",
            Date::from_time(t.date()),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        match t.microsecond() {
            0 => f.write_str("Z"),
            frac => write!(f, ".{frac:06}Z"),
        }
    }
}

/// A calendar day: days since 1970-01-01.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Date(pub i32);

/// The Julian day number of 1970-01-01, day 0 of `Date`.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

impl Date {
    /// The years a business date may fall in. Wider would let typing slips (`0202`,
    /// `20255`) pass as dates that every analysis then has to carry.
    pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2999;

    /// The day with this year, month (1-12) and day of month, if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
        let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
        Some(Date::from_time(date))
    }

    fn from_time(date: time::Date) -> Date {
        Date(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY)
    }

    /// The day in the calendar library, clamped to the days it represents.
    fn to_time(self) -> time::Date {
        let julian = self.0.saturating_add(UNIX_EPOCH_JULIAN_DAY);
        time::Date::from_julian_day(julian).unwrap_or(if self.0 < 0 {
            time::Date::MIN
        } else {
            time::Date::MAX
        })
    }

    /// Year, month (1-12) and day of month.
    pub fn ymd(self) -> (i32, u32, u32) {
        let d = self.to_time();
        (d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
    }

    /// Parses `YYYY-MM-DD`, a day that exists in a year of [`Date::YEARS`].
    pub fn parse(s: &str) -> Result<Date, FieldError> {
        let bad = || FieldError::Date { value: s.into() };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let t = s.trim();
        // The library's year also takes a sign and more digits; a business date does not.
        if t.len() != 10 || !t.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad());
        }
        let date = time::Date::parse(t, &format).map_err(|_| bad())?;
        if !Date::YEARS.contains(&date.year()) {
            return Err(FieldError::DateOutOfRange {
                value: s.into(),
                from: *Date::YEARS.start(),
                to: *Date::YEARS.end(),
            });
        }
        Ok(Date::from_time(date))
    }

    /// The day `days` later (or earlier, if negative).
    pub fn plus_days(self, days: i32) -> Date {
        Date(self.0 + days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Whether a character reorders how text around it is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether a character shows nothing on its own (zero-width spaces and joiners, the byte
/// order mark, marks of direction).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}'
    ) || is_bidi_control(c)
}

/// The checks of a text typed in: Unicode NFC, trimmed (invisible characters at either end
/// too), not only invisible characters, no control or bidirectional override characters,
/// one line unless `multiline`.
fn clean_text(
    s: &str,
    field: &'static str,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    use unicode_normalization::UnicodeNormalization;
    let normal: String = s.nfc().collect();
    let t = normal.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
    if t.is_empty() {
        return Err(FieldError::Empty { field });
    }
    if t.chars().any(is_bidi_control) {
        return Err(FieldError::BidiControl { field });
    }
    if !multiline && t.chars().any(|c| matches!(c, '\n' | '\r' | '\t')) {
        return Err(FieldError::LineBreak { field });
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::ControlCharacters { field });
    }
    let chars = t.chars().count();
    if chars > max {
        return Err(FieldError::TooLong {
            field,
            max,
            len: chars,
        });
    }
    Ok(t.to_owned())
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $max:expr, $field:literal, $multiline:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Text as typed in: normalised to Unicode NFC and trimmed; refuses empty (or only
            /// invisible), over-long, control and bidirectional override characters.
            pub fn parse(s: impl AsRef<str>) -> Result<$name, FieldError> {
                clean_text(s.as_ref(), $field, $max, $multiline).map($name)
            }

            /// Text as an event in the log holds it, checked as this type was checked when
            /// it was written (trimmed, bounded, no control characters), so that every
            /// event written before the stricter checks still reads.
            fn stored(s: &str) -> Result<$name, FieldError> {
                let s = s.trim();
                let chars = s.chars().count();
                if chars == 0 {
                    return Err(FieldError::Empty { field: $field });
                }
                if chars > $max {
                    return Err(FieldError::TooLong { field: $field, max: $max, len: chars });
                }
                if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err(FieldError::ControlCharacters { field: $field });
                }
                Ok($name(s.to_owned()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(s: String) -> Result<$name, FieldError> {
                $name::stored(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_text!(
    /// A name of an account, contact, org unit or deal: 1 to 200 characters.
    Name, 200, "name", false
);
bounded_text!(
    /// A short label: industry, region, product line, source, competitor (1 to 100 characters).
    Label, 100, "label", false
);
bounded_text!(
    /// Free text: a summary, a reason, a next step (1 to 4,000 characters).
    Text, 4000, "text", true
);
bounded_text!(
    /// A user of dealtrail (a rep, a presales engineer, an importer): 1 to 128 characters.
    UserId, 128, "user", false
);
bounded_text!(
    /// The id an entity had in the system it was imported from: 1 to 200 characters.
    ExternalId, 200, "external id", false
);

/// An ISO 4217 currency code, upper case, with the number of decimals of its minor unit
/// from the ISO table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollars, the default of imports that state no currency.
    pub const USD: Currency = Currency(*b"USD");

    /// A code of the ISO 4217 table, any case (`usd`, `JPY`); anything else is refused.
    pub fn parse(s: &str) -> Result<Currency, FieldError> {
        let c = Currency::letters(s)?;
        if iso_currency::Currency::from_code(c.as_str()).is_none() {
            return Err(FieldError::UnknownCurrency { value: s.into() });
        }
        Ok(c)
    }

    /// Any three letters: how codes are read back from the log, which may hold codes that
    /// older versions accepted without the ISO table.
    fn letters(s: &str) -> Result<Currency, FieldError> {
        let t = s.trim();
        match <[u8; 3]>::try_from(t.as_bytes()) {
            Ok(b) if b.iter().all(u8::is_ascii_alphabetic) => {
                Ok(Currency(b.map(|c| c.to_ascii_uppercase())))
            }
            _ => Err(FieldError::Currency { value: s.into() }),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// `minor` units of this currency as a decimal in its major unit (`-0.05`, `1200`,
    /// `1.250`), exact for any i64: also for sums past what one amount may be.
    pub fn decimal(&self, minor: i64) -> String {
        let digits = u32::from(self.minor_digits());
        if digits == 0 {
            return minor.to_string();
        }
        let scale = 10i128.pow(digits);
        let m = i128::from(minor);
        let sign = if m < 0 { "-" } else { "" };
        let m = m.abs();
        format!(
            "{sign}{}.{:0width$}",
            m / scale,
            m % scale,
            width = digits as usize
        )
    }

    /// Decimals of the minor unit: 2 for USD, 0 for JPY, 3 for KWD; 0 for codes without a
    /// minor unit (XAU); 2 for codes outside the table (read from old logs).
    pub fn minor_digits(&self) -> u8 {
        match iso_currency::Currency::from_code(self.as_str()) {
            Some(c) => c.exponent().map_or(0, |e| e.min(6) as u8),
            None => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Currency, FieldError> {
        Currency::letters(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-negative amount of money in minor units (cents) with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "MoneyRepr")]
pub struct Money {
    minor: i64,
    currency: Currency,
}

#[derive(Serialize, Deserialize)]
struct MoneyRepr {
    minor: i64,
    currency: Currency,
}

impl TryFrom<MoneyRepr> for Money {
    type Error = FieldError;
    fn try_from(r: MoneyRepr) -> Result<Money, FieldError> {
        Money::from_minor(r.minor, r.currency)
    }
}

impl From<Money> for MoneyRepr {
    fn from(m: Money) -> MoneyRepr {
        MoneyRepr {
            minor: m.minor,
            currency: m.currency,
        }
    }
}

impl Money {
    /// Largest accepted amount in minor units (10^15 cents: ten trillion).
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    /// An amount in minor units; refuses negative and absurdly large amounts.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, FieldError> {
        if minor < 0 {
            return Err(FieldError::NegativeAmount { minor });
        }
        if minor > Self::MAX_MINOR {
            return Err(FieldError::AmountTooLarge { minor });
        }
        Ok(Money { minor, currency })
    }

    /// Parses a decimal amount in the currency's major unit: digits, then optionally `.` and
    /// at most as many digits as the currency has decimals (`1234.5` USD, `1200` JPY,
    /// `1.250` KWD). Nothing else: no sign, no exponent, no grouping separators.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, FieldError> {
        let bad = || FieldError::Amount {
            value: amount.into(),
            decimals: currency.minor_digits(),
        };
        if let Some(positive) = amount.strip_prefix('-') {
            let minor = Money::parse(positive, currency).map_or(-1, |m| -m.minor);
            return Err(FieldError::NegativeAmount { minor });
        }
        let digits = usize::from(currency.minor_digits());
        let (whole, frac) = match amount.split_once('.') {
            Some((w, f)) if !f.is_empty() => (w, f),
            Some(_) => return Err(bad()),
            None => (amount, ""),
        };
        if whole.is_empty()
            || frac.len() > digits
            || !whole.bytes().all(|c| c.is_ascii_digit())
            || !frac.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let scale = 10i64.pow(digits as u32);
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let frac: i64 = if digits == 0 {
            0
        } else {
            format!("{frac:0<digits$}").parse().map_err(|_| bad())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(bad)?;
        Money::from_minor(minor, currency)
    }

    /// Like `parse`, but also takes `,` as a thousands separator (`1,234.50`) and spaces
    /// around the number, as spreadsheets export amounts.
    pub fn parse_grouped(amount: &str, currency: Currency) -> Result<Money, FieldError> {
        let plain: String = amount.trim().chars().filter(|c| *c != ',').collect();
        Money::parse(&plain, currency).map_err(|e| match e {
            FieldError::Amount { decimals, .. } => FieldError::Amount {
                value: amount.into(),
                decimals,
            },
            other => other,
        })
    }

    /// The amount as a decimal in the major unit, without the currency (`1250.50`).
    pub fn decimal(&self) -> String {
        self.currency.decimal(self.minor)
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

/// A period a business indicator describes: a year, a quarter or a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Period {
    /// A calendar year.
    Year(i32),
    /// A quarter (1-4) of a year.
    Quarter(i32, u8),
    /// A month (1-12) of a year.
    Month(i32, u8),
}

impl Period {
    /// Parses `2024`, `2024-Q2` or `2024-05`.
    pub fn parse(s: &str) -> Result<Period, FieldError> {
        let bad = || FieldError::Period { value: s.into() };
        let t = s.trim();
        let (year, rest) = match t.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (t, None),
        };
        if year.len() != 4 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        match rest {
            None => Ok(Period::Year(year)),
            Some(r) if r.starts_with(['Q', 'q']) => match r[1..].parse::<u8>() {
                Ok(q @ 1..=4) => Ok(Period::Quarter(year, q)),
                _ => Err(bad()),
            },
            Some(r) if r.len() == 2 => match r.parse::<u8>() {
                Ok(m @ 1..=12) => Ok(Period::Month(year, m)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// The first day of the period.
    pub fn start(&self) -> Date {
        let (y, m) = match *self {
            Period::Year(y) => (y, 1),
            Period::Quarter(y, q) => (y, (q as u32 - 1) * 3 + 1),
            Period::Month(y, m) => (y, m as u32),
        };
        Date::from_ymd(y, m, 1).unwrap_or_default()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Year(y) => write!(f, "{y:04}"),
            Period::Quarter(y, q) => write!(f, "{y:04}-Q{q}"),
            Period::Month(y, m) => write!(f, "{y:04}-{m:02}"),
        }
    }
}

/// A satisfaction score from 1 (very unhappy) to 5 (very happy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Satisfaction(u8);

impl Satisfaction {
    /// 1 to 5.
    pub fn parse(score: u8) -> Result<Satisfaction, FieldError> {
        if (1..=5).contains(&score) {
            Ok(Satisfaction(score))
        } else {
            Err(FieldError::Satisfaction { score })
        }
    }

    /// The score.
    pub fn get(&self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Satisfaction {
    type Error = FieldError;
    fn try_from(v: u8) -> Result<Satisfaction, FieldError> {
        Satisfaction::parse(v)
    }
}

impl From<Satisfaction> for u8 {
    fn from(s: Satisfaction) -> u8 {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_civil_calendar() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2016, 10, 20), (1969, 12, 31)] {
            let date = Date::from_ymd(y, m, d).unwrap();
            assert_eq!(date.ymd(), (y, m, d));
            assert_eq!(Date::parse(&date.to_string()).unwrap(), date);
        }
        assert_eq!(Date::from_ymd(1970, 1, 2), Some(Date(1)));
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert!(Date::parse("2023-13-01").is_err());
        assert!(Date::parse("23-01-01").is_err());
    }

    #[test]
    fn timestamps_parse_rfc3339_with_offsets() {
        let t = Timestamp::parse("2024-03-01T10:30:00+02:00").unwrap();
        assert_eq!(t.to_string(), "2024-03-01T08:30:00Z");
        let t = Timestamp::parse("2024-03-01T08:30:00.25Z").unwrap();
        assert_eq!(t.to_string(), "2024-03-01T08:30:00.250000Z");
        assert_eq!(
            Timestamp::parse("2024-03-01").unwrap(),
            Timestamp::start_of(Date::parse("2024-03-01").unwrap())
        );
        assert!(Timestamp::parse("2024-03-01T25:00:00Z").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn money_parses_decimals_and_refuses_negatives() {
        let usd = Currency::parse("usd").unwrap();
        assert_eq!(usd, Currency::USD);
        assert_eq!(Money::parse("1234.5", usd).unwrap().minor(), 123_450);
        assert_eq!(
            Money::parse_grouped(" 1,234.5 ", usd).unwrap().minor(),
            123_450
        );
        assert_eq!(Money::parse("0.07", usd).unwrap().minor(), 7);
        for bad in ["1,000.00", "1.", ".5", "1e3", "+1", " 1", ""] {
            assert!(Money::parse(bad, usd).is_err(), "{bad}");
        }
        assert_eq!(
            Money::parse("-5", usd),
            Err(FieldError::NegativeAmount { minor: -500 })
        );
        assert!(Money::parse("1.234", usd).is_err());
        assert!(Money::parse("abc", usd).is_err());
        assert!(Currency::parse("US").is_err());
    }

    #[test]
    fn currencies_come_from_the_iso_table_with_their_minor_units() {
        assert_eq!(
            Currency::parse("XYZ"),
            Err(FieldError::UnknownCurrency {
                value: "XYZ".into()
            })
        );
        let jpy = Currency::parse("jpy").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!((jpy.minor_digits(), kwd.minor_digits()), (0, 3));
        assert_eq!(Money::parse("1200", jpy).unwrap().minor(), 1200);
        assert!(Money::parse("1200.5", jpy).is_err());
        assert_eq!(Money::parse("1.25", kwd).unwrap().minor(), 1250);
        assert_eq!(Money::parse("1.25", kwd).unwrap().to_string(), "1.250 KWD");
        let legacy: Currency = rmp_serde::from_slice(&rmp_serde::to_vec("XYZ").unwrap()).unwrap();
        assert_eq!(legacy.minor_digits(), 2, "old logs keep decoding");
    }

    #[test]
    fn typed_text_is_normalised_and_refuses_what_would_mislead_a_reader() {
        assert_eq!(
            Name::parse("Cafe\u{301} Noir").unwrap().as_str(),
            "Caf\u{e9} Noir"
        );
        assert_eq!(
            Name::parse("\u{200B}\u{200D}\u{FEFF}"),
            Err(FieldError::Empty { field: "name" })
        );
        assert_eq!(
            Name::parse("\u{200B}Acme\u{200B}").unwrap().as_str(),
            "Acme"
        );
        assert_eq!(
            Name::parse("Acme \u{202E}gnp.exe"),
            Err(FieldError::BidiControl { field: "name" })
        );
        assert_eq!(
            Label::parse("retail\u{2066}x"),
            Err(FieldError::BidiControl { field: "label" })
        );
        assert_eq!(
            Name::parse("Acme\nCorp"),
            Err(FieldError::LineBreak { field: "name" })
        );
        assert_eq!(
            Text::parse("Met IT.\nNext: the CFO.").unwrap().as_str(),
            "Met IT.\nNext: the CFO."
        );
        assert_eq!(
            Text::parse("a \u{202D}b"),
            Err(FieldError::BidiControl { field: "text" })
        );
        // Events written before these checks still read as they were written.
        let old: Name =
            rmp_serde::from_slice(&rmp_serde::to_vec("Acme \u{202E}x").unwrap()).unwrap();
        assert_eq!(old.as_str(), "Acme \u{202E}x");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert_eq!(Name::parse("   "), Err(FieldError::Empty { field: "name" }));
        assert!(matches!(
            Label::parse("x".repeat(101)),
            Err(FieldError::TooLong { max: 100, .. })
        ));
    }

    #[test]
    fn periods_parse_and_order() {
        assert_eq!(Period::parse("2024-Q2").unwrap(), Period::Quarter(2024, 2));
        assert_eq!(Period::parse("2024-05").unwrap().to_string(), "2024-05");
        assert!(Period::parse("2024-Q5").is_err());
        assert_eq!(
            Period::parse("2024-Q3").unwrap().start(),
            Date::parse("2024-07-01").unwrap()
        );
    }
}
