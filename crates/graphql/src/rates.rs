//! Exchange rates over GraphQL: `exchangeRates` lists what was recorded, `recordExchangeRate`
//! records one; the funnel and the pipeline flow convert with them.

use async_graphql::{Context, Object, SimpleObject};
use dealtrail_domain::{Currency, ExchangeRate, Label, Rate};
use dealtrail_engine::{Command, Engine};

use crate::access::{EVERYONE_BUT_AUDITORS, require};
use crate::asof::model_at;
use crate::auth::Role;
use crate::errors::field;
use crate::scalars::{self, DateTime, UInt64};
use crate::write::{CommandResult, WriteOptions, run};

/// One recorded exchange rate.
#[derive(SimpleObject)]
pub struct ExchangeRateRow {
    /// The currency priced.
    pub from: String,
    /// The currency it is priced in.
    pub to: String,
    /// Units of `to` for one unit of `from`, as recorded.
    pub rate: String,
    /// The day it applies from.
    pub date: scalars::Date,
    /// Who published it.
    pub source: String,
    /// Its log position.
    pub seq: UInt64,
    /// Business time of the record.
    pub recorded_for: DateTime,
}

/// A rate an answer converted amounts of one currency with.
#[derive(SimpleObject)]
pub struct RateUsed {
    /// The currency converted from.
    pub currency: String,
    /// The rate as recorded.
    pub rate: String,
    /// The recorded pair is the other way round (the rate was inverted).
    pub inverse: bool,
    /// The rate's date.
    pub date: scalars::Date,
}

impl RateUsed {
    /// The rows of a converter's rates.
    pub(crate) fn rows(used: &[(Currency, Rate, bool, dealtrail_domain::Date)]) -> Vec<RateUsed> {
        used.iter()
            .map(|(c, r, inverse, date)| RateUsed {
                currency: c.to_string(),
                rate: r.to_string(),
                inverse: *inverse,
                date: scalars::Date(*date),
            })
            .collect()
    }
}

/// The exchange rates recorded.
#[derive(Default)]
pub struct RatesQuery;

#[Object]
impl RatesQuery {
    /// Every exchange rate recorded, in log order (a later record for the same pair and day
    /// replaces an earlier one). Everyone but auditors.
    async fn exchange_rates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only rates involving this currency")] currency: Option<String>,
    ) -> async_graphql::Result<Vec<ExchangeRateRow>> {
        require(ctx, EVERYONE_BUT_AUDITORS)?;
        let only = currency
            .map(|c| field("currency", Currency::parse(&c)))
            .transpose()?;
        model_at(ctx, None, Engine::sales, move |m| {
            m.rates
                .0
                .iter()
                .filter(|r| only.is_none_or(|c| r.rate.from == c || r.rate.to == c))
                .map(|r| ExchangeRateRow {
                    from: r.rate.from.to_string(),
                    to: r.rate.to.to_string(),
                    rate: r.rate.rate.to_string(),
                    date: scalars::Date(r.rate.date),
                    source: r.rate.source.to_string(),
                    seq: r.seq.into(),
                    recorded_for: DateTime(r.at),
                })
                .collect()
        })
        .await
    }
}

/// A rate to record: on `date` one `from` bought `rate` units of `to`.
#[derive(async_graphql::InputObject)]
pub struct ExchangeRateInput {
    /// The currency priced (ISO 4217).
    pub from: String,
    /// The currency it is priced in (ISO 4217).
    pub to: String,
    /// A positive decimal: at most 15 digits and 10 decimals.
    pub rate: String,
    /// The day it applies from.
    pub date: scalars::Date,
    /// Who published it.
    pub source: String,
}

/// Recording exchange rates.
#[derive(Default)]
pub struct RatesMutation;

#[Object]
impl RatesMutation {
    /// Records an exchange rate as `source` published it; a different rate for the same
    /// pair and day replaces it from then on. Admins and managers.
    async fn record_exchange_rate(
        &self,
        ctx: &Context<'_>,
        input: ExchangeRateInput,
        options: Option<WriteOptions>,
    ) -> async_graphql::Result<CommandResult> {
        let who = require(ctx, &[Role::Admin, Role::Manager])?;
        let command = Command::RecordExchangeRate(ExchangeRate {
            from: field("input.from", Currency::parse(&input.from))?,
            to: field("input.to", Currency::parse(&input.to))?,
            rate: field("input.rate", Rate::parse(&input.rate))?,
            date: input.date.0,
            source: field("input.source", Label::parse(input.source))?,
        });
        run(ctx, who, options, command).await
    }
}
