//! Exchange rates as the log recorded them, and the conversion a sum over deals in several
//! currencies uses: each amount at the rate of its pair in force on one day, as known at
//! one cut (docs/analytics.md, "Currencies").

use std::collections::BTreeMap;

use dealtrail_domain::{Conversion, Currency, Date, ExchangeRate, Money, Rate, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::Cut;

/// One recorded rate with its log position and business time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRecord {
    /// Log position.
    pub seq: u64,
    /// Business time of the record.
    pub at: Timestamp,
    /// The rate.
    pub rate: ExchangeRate,
}

/// Every rate recorded, in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates(pub Vec<RateRecord>);

impl Rates {
    /// Keeps a recorded rate.
    pub fn record(&mut self, seq: u64, at: Timestamp, rate: &ExchangeRate) {
        self.0.push(RateRecord {
            seq,
            at,
            rate: rate.clone(),
        });
    }

    /// How to bring amounts into `to` with the rates in force on `day` that `cut` admits.
    pub fn converter(&self, to: Currency, day: Date, cut: Cut) -> Converter {
        // Per currency: the newest rate dated by `day` of the pair in either direction;
        // among rates of one date, the later record wins (it corrects the earlier one).
        let mut best: BTreeMap<Currency, (Date, u64, Rate, bool)> = BTreeMap::new();
        for r in self
            .0
            .iter()
            .filter(|r| cut.admits(r.seq, r.at) && r.rate.date <= day)
        {
            let (other, inverse) = if r.rate.to == to {
                (r.rate.from, false)
            } else if r.rate.from == to {
                (r.rate.to, true)
            } else {
                continue;
            };
            let candidate = (r.rate.date, r.seq, r.rate.rate, inverse);
            let entry = best.entry(other).or_insert(candidate);
            if (candidate.0, candidate.1) > (entry.0, entry.1) {
                *entry = candidate;
            }
        }
        Converter {
            to,
            rates: best
                .into_iter()
                .map(|(c, (date, _, rate, inverse))| {
                    let conversion = if inverse {
                        rate.backward(to, c)
                    } else {
                        rate.forward(c, to)
                    };
                    (c, (rate, inverse, date, conversion))
                })
                .collect(),
        }
    }
}

/// The rates one answer converts with, chosen once for the whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converter {
    to: Currency,
    /// Per currency: the rate, whether it is the pair's inverse, its date, and the
    /// conversion it makes (`None` when it overflows).
    rates: BTreeMap<Currency, (Rate, bool, Date, Option<Conversion>)>,
}

impl Converter {
    /// Converts nothing: only amounts already in `to` count.
    pub fn none(to: Currency) -> Converter {
        Converter {
            to,
            rates: BTreeMap::new(),
        }
    }

    /// The currency amounts are brought into.
    pub fn currency(&self) -> Currency {
        self.to
    }

    /// `m` in minor units of the target currency, or `None` without a rate for its pair.
    pub fn minor(&self, m: &Money) -> Option<i64> {
        if m.currency() == self.to {
            return Some(m.minor());
        }
        let (_, _, _, conversion) = self.rates.get(&m.currency())?;
        conversion.as_ref()?.apply(m.minor())
    }

    /// The rates used, per currency: the rate as recorded, whether it is the pair's
    /// inverse, and its date.
    pub fn used(&self) -> impl Iterator<Item = (Currency, Rate, bool, Date)> + '_ {
        self.rates.iter().map(|(c, (r, i, d, _))| (*c, *r, *i, *d))
    }
}
