//! An account's records as the `Account` type lists them: business figures, purchases and
//! service interactions, each with the sequence number that corrections name.

use async_graphql::SimpleObject;
use dealtrail_domain::Recorded;
use dealtrail_domain::account::AccountEvent;

use crate::scalars::{self, DateTime, UInt64};

/// Revenue and headcount of one period, as recorded.
#[derive(SimpleObject, Clone)]
pub struct BusinessFigure {
    /// The record's sequence number.
    pub seq: UInt64,
    /// `2025`, `2025-Q2` or `2025-06`.
    pub period: String,
    /// Revenue in the period.
    pub revenue: Option<scalars::Money>,
    /// Headcount.
    pub headcount: Option<UInt64>,
    /// Where the figure comes from.
    pub source: Option<String>,
}

/// One purchase.
#[derive(SimpleObject, Clone)]
pub struct Purchase {
    /// The record's sequence number.
    pub seq: UInt64,
    /// The product.
    pub product: String,
    /// How many.
    pub quantity: UInt64,
    /// Of what: licence, server, seat, ...
    pub unit: String,
    /// What it cost.
    pub amount: scalars::Money,
    /// The day of the purchase.
    pub purchased_on: scalars::Date,
    /// The deal it came from, if any.
    pub opportunity_id: Option<String>,
}

/// One service interaction.
#[derive(SimpleObject, Clone)]
pub struct ServiceInteraction {
    /// The record's sequence number.
    pub seq: UInt64,
    /// Business time.
    pub at: DateTime,
    /// Support ticket, satisfaction survey, ...
    pub kind: String,
    /// Satisfaction, 1 to 5, if given.
    pub satisfaction: Option<u8>,
    /// What happened.
    pub summary: String,
}

/// The three lists, read from an account's records.
pub(crate) struct Records {
    pub figures: Vec<BusinessFigure>,
    pub purchases: Vec<Purchase>,
    pub service: Vec<ServiceInteraction>,
}

impl Records {
    pub(crate) fn of(events: &[Recorded<AccountEvent>]) -> Records {
        let mut r = Records {
            figures: Vec::new(),
            purchases: Vec::new(),
            service: Vec::new(),
        };
        for e in events {
            let seq = UInt64(e.seq);
            match &e.event {
                AccountEvent::BusinessIndicatorRecorded(b) => r.figures.push(BusinessFigure {
                    seq,
                    period: b.period.to_string(),
                    revenue: b.revenue.map(scalars::Money::from),
                    headcount: b.headcount.map(UInt64::from),
                    source: b.source.as_ref().map(ToString::to_string),
                }),
                AccountEvent::PurchaseRecorded(p) => r.purchases.push(Purchase {
                    seq,
                    product: p.product.to_string(),
                    quantity: p.quantity.into(),
                    unit: p.unit.as_str().into(),
                    amount: scalars::Money::from(p.amount),
                    purchased_on: scalars::Date(p.purchased_on),
                    opportunity_id: p.opportunity.map(|o| o.to_string()),
                }),
                AccountEvent::ServiceInteractionRecorded(s) => r.service.push(ServiceInteraction {
                    seq,
                    at: DateTime(e.occurred_at),
                    kind: s.kind.as_str().into(),
                    satisfaction: s.satisfaction.map(|x| x.get()),
                    summary: s.summary.to_string(),
                }),
                _ => {}
            }
        }
        r
    }
}
