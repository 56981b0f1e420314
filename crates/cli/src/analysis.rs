//! The analyses as tables, now or as of a moment: `replay` prints them, `export` writes them
//! as CSV or JSON. The read models are folded straight from the log (no server needed).

use std::io::Write;

use anyhow::{Context, bail};
use clap::ValueEnum;
use dealtrail_domain::Timestamp;
use dealtrail_engine::{Restored, catch_up};
use dealtrail_funnel::SalesPipeline;
use dealtrail_profile::Profiles;
use dealtrail_winloss::WinLoss;
use serde_json::{Value, json};

/// An analysis the command line can compute.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Analysis {
    /// The funnel of the window: per stage entered, reached, conversion, time in stage.
    Funnel,
    /// Win rates overall and per dimension (owner, follow-ups, coverage, ...).
    Winloss,
    /// Lost deals by stated reason, and how many show each evidence signal.
    Reasons,
    /// Open deals whose stage lacks the other functions' evidence.
    Findings,
    /// Who each open deal reaches on the customer's side.
    Coverage,
    /// The eight data-health questions: how many accounts can answer each.
    Health,
    /// Upsell, cross-sell and churn-risk signals per account.
    Signals,
    /// Follow-up alerts on open deals (rules from --alerts FILE).
    Alerts,
    /// Each account's segment by business outcome: trend, value, relationship.
    Segments,
    /// The pipeline flow between --from and --to: each deal's move, in buckets.
    Flow,
    /// Every deal as the pipeline shows it.
    Deals,
}

/// Which clock an "as of" moment is on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    /// What had been recorded by then.
    Recorded,
    /// What had happened by then, as known now.
    Occurred,
}

/// Output formats of `export <analysis>`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// An array of objects, one per row.
    Json,
}

/// Rows under named columns; cells are JSON values so that JSON output keeps numbers.
pub struct Table {
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Value>>,
}

/// The three read models as they stood at the moment asked (or now).
pub struct Models {
    sales: SalesPipeline,
    winloss: WinLoss,
    profiles: Profiles,
    /// The moment the analyses look from.
    pub at: Timestamp,
    /// The rules of `export alerts`.
    pub alert_rules: dealtrail_funnel::AlertRules,
    /// The period of `export flow`: its two cuts and its last day.
    pub flow: Option<(
        dealtrail_funnel::Cut,
        dealtrail_funnel::Cut,
        dealtrail_domain::Date,
    )>,
}

/// The two cuts of a flow from `from` to `to` (now without it) on `clock`, and its last day.
pub fn flow_period(
    data: &std::path::Path,
    from: &str,
    to: Option<&str>,
    clock: Clock,
) -> anyhow::Result<(
    dealtrail_funnel::Cut,
    dealtrail_funnel::Cut,
    dealtrail_domain::Date,
)> {
    let parse =
        |name: &str, s: &str| Timestamp::parse(s).map_err(|e| anyhow::anyhow!("{name}: {e}"));
    let from = parse("--from", from)?;
    let to = match to {
        Some(t) => parse("--to", t)?,
        None => dealtrail_engine::now(),
    };
    if to <= from {
        bail!("--to: must be after --from");
    }
    let cut = |t: Timestamp| -> anyhow::Result<dealtrail_funnel::Cut> {
        Ok(match clock {
            Clock::Occurred => dealtrail_funnel::Cut::occurred_by(t),
            Clock::Recorded => dealtrail_funnel::Cut {
                occurred_by: t,
                recorded_through: open_existing(data)?
                    .seq_recorded_by(dealtrail_store::Timestamp(t.0))
                    .context("reading the log")?,
            },
        })
    };
    Ok((cut(from)?, cut(to)?, to.date()))
}

/// Reads alert rules (TOML, docs/operations.md) from `path`, or the defaults without one.
pub fn alert_rules(path: Option<&std::path::Path>) -> anyhow::Result<dealtrail_funnel::AlertRules> {
    let Some(path) = path else {
        return Ok(dealtrail_funnel::AlertRules::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read alert rules {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("alert rules {}: {e}", path.display()))
}

/// Folds the read models from the log of `data`: now (from their snapshots), or as of
/// `as_of` on `clock`.
pub fn fold(data: &std::path::Path, as_of: Option<&str>, clock: Clock) -> anyhow::Result<Models> {
    let store = open_existing(data)?;
    let (mut sales, mut winloss, mut profiles, until, occurred_by, at) = match as_of {
        None => (
            Restored::<SalesPipeline>::load(&store)?,
            Restored::<WinLoss>::load(&store)?,
            Restored::<Profiles>::load(&store)?,
            u64::MAX,
            None,
            dealtrail_engine::now(),
        ),
        Some(as_of) => {
            let at = Timestamp::parse(as_of).map_err(|e| anyhow::anyhow!("--as-of: {e}"))?;
            let (until, occurred_by) = match clock {
                Clock::Recorded => (
                    store
                        .seq_recorded_by(dealtrail_store::Timestamp(at.0))
                        .context("reading the log")?,
                    None,
                ),
                Clock::Occurred => (u64::MAX, Some(at)),
            };
            (
                Restored::empty(),
                Restored::empty(),
                Restored::empty(),
                until,
                occurred_by,
                at,
            )
        }
    };
    fold_with_progress(
        &store,
        until,
        occurred_by,
        (&mut sales, &mut winloss, &mut profiles),
    )?;
    Ok(Models {
        sales: sales.state,
        winloss: winloss.state,
        profiles: profiles.state,
        at,
        alert_rules: Default::default(),
        flow: None,
    })
}

/// Opens a data folder that must already hold a log: commands that only read never create
/// an empty one by mistake.
pub fn open_existing(data: &std::path::Path) -> anyhow::Result<dealtrail_store::Store> {
    let config = crate::store_config(data);
    // A replica's folder is filled from the database on first use.
    if config.upstream_url().is_none() && !data.join("log").is_dir() {
        bail!(
            "no dealtrail data folder at {} (pass --data)",
            data.display()
        );
    }
    dealtrail_store::Store::open(config).map_err(|e| crate::folder_error(e, data))
}

/// A CSV error as the I/O error it wraps, if it is one (so a closed pipe is recognised).
fn csv_error(e: csv::Error) -> anyhow::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => anyhow::anyhow!("writing CSV: {other:?}"),
    }
}

/// A progress bar on standard error (drawn only on a terminal): "`doing` [bar] n/len
/// `unit` eta".
pub fn progress_bar(len: u64, doing: &str, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{doing} {{bar:40}} {{pos}}/{{len}} {unit} {{eta}}");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Events folded between two updates of the progress bar.
const CHUNK: u64 = 50_000;

/// Folds the three models up to `until` (and `occurred_by`), in chunks, with a progress bar
/// on standard error (drawn only on a terminal).
pub fn fold_with_progress(
    store: &dealtrail_store::Store,
    until: u64,
    occurred_by: Option<Timestamp>,
    models: (
        &mut Restored<SalesPipeline>,
        &mut Restored<WinLoss>,
        &mut Restored<Profiles>,
    ),
) -> anyhow::Result<()> {
    let (a, b, c) = models;
    let until = until.min(store.head().seq);
    let mut done = a.seq.min(b.seq).min(c.seq);
    let bar = progress_bar(until.saturating_sub(done), "folding the log", "events");
    let start = done;
    while done < until {
        let next = (done + CHUNK).min(until);
        catch_up(store, next, occurred_by, (&mut *a, &mut *b, &mut *c))
            .context("folding the log")?;
        done = next;
        bar.set_position(done - start);
    }
    bar.finish_and_clear();
    Ok(())
}

fn share(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |v| json!((v * 1000.0).round() / 1000.0))
}

fn time(t: Timestamp) -> Value {
    Value::String(t.to_string())
}

impl Models {
    /// One analysis as a table; `window_days` is the length of the window ending at the
    /// moment, for the funnel and win/loss.
    pub fn table(
        &self,
        analysis: Analysis,
        window_days: i64,
        currency: dealtrail_domain::Currency,
    ) -> Table {
        let to = Timestamp(self.at.0 + 1);
        let from = Timestamp(self.at.0 - window_days * Timestamp::DAY);
        match analysis {
            Analysis::Funnel => {
                let report = self.sales.funnel(&dealtrail_funnel::FunnelQuery {
                    from,
                    to,
                    filter: Default::default(),
                    currency,
                    as_occurred_by: None,
                    as_recorded_through: None,
                });
                Table {
                    columns: vec![
                        "stage",
                        "entered",
                        "entries",
                        "reached",
                        "reached_amount_minor",
                        "next_conversion",
                        "cumulative_conversion",
                        "median_days",
                        "p90_days",
                        "regressions_from",
                        "skips_from",
                    ],
                    rows: report
                        .stages
                        .iter()
                        .map(|r| {
                            vec![
                                json!(r.stage.as_str()),
                                json!(r.entered),
                                json!(r.entries),
                                json!(r.reached),
                                json!(r.reached_amount_minor),
                                share(r.next_conversion),
                                share(r.cumulative_conversion),
                                share(r.time_in_stage.median_days),
                                share(r.time_in_stage.p90_days),
                                json!(r.regressions_from),
                                json!(r.skips_from),
                            ]
                        })
                        .collect(),
                }
            }
            Analysis::Winloss => {
                let report = self.winloss.report(from, to, &Default::default());
                let row = |d: &str, v: &str, r: &dealtrail_winloss::Rate| {
                    vec![
                        json!(d),
                        json!(v),
                        json!(r.won),
                        json!(r.lost),
                        json!(r.no_decision),
                        json!(r.withdrawn),
                        share(r.win_rate()),
                    ]
                };
                let mut rows = vec![row("overall", "all", &report.overall)];
                rows.extend(report.by.iter().map(|((d, v), r)| row(d, v, r)));
                Table {
                    columns: vec![
                        "dimension",
                        "value",
                        "won",
                        "lost",
                        "no_decision",
                        "withdrawn",
                        "win_rate",
                    ],
                    rows,
                }
            }
            Analysis::Reasons => {
                let report = self.winloss.report(from, to, &Default::default());
                let mut rows = Vec::new();
                for (reason, (deals, signals)) in &report.stated_vs_evidence {
                    let reason = if reason.is_empty() { "(none)" } else { reason };
                    if signals.is_empty() {
                        rows.push(vec![json!(reason), json!(deals), Value::Null, json!(0)]);
                    }
                    for (signal, n) in signals {
                        rows.push(vec![
                            json!(reason),
                            json!(deals),
                            json!(format!("{signal:?}")),
                            json!(n),
                        ]);
                    }
                }
                Table {
                    columns: vec!["stated_reason", "lost_deals", "signal", "deals_showing"],
                    rows,
                }
            }
            Analysis::Findings => Table {
                columns: vec!["opportunity", "owner", "rule", "stage", "since", "missing"],
                rows: self
                    .winloss
                    .findings(&dealtrail_winloss::default_rules())
                    .into_iter()
                    .map(|f| {
                        vec![
                            json!(f.deal.to_string()),
                            json!(f.owner),
                            json!(f.rule),
                            json!(f.stage.as_str()),
                            time(f.since),
                            json!(f.missing),
                        ]
                    })
                    .collect(),
            },
            Analysis::Coverage => Table {
                columns: vec![
                    "opportunity",
                    "owner",
                    "decision_maker",
                    "single_threaded",
                    "contacts_by_role",
                    "unregistered_participants",
                    "org_units_reached",
                ],
                rows: self
                    .winloss
                    .coverage()
                    .into_iter()
                    .map(|c| {
                        let roles: Vec<String> =
                            c.by_role.iter().map(|(r, n)| format!("{r}:{n}")).collect();
                        vec![
                            json!(c.deal.to_string()),
                            json!(c.owner),
                            json!(c.decision_maker),
                            json!(c.single_threaded),
                            json!(roles.join(" ")),
                            json!(c.unregistered_participants),
                            json!(c.org_units_reached),
                        ]
                    })
                    .collect(),
            },
            Analysis::Health => {
                let accounts = self.profiles.accounts.len();
                let mut rows: Vec<(u8, &'static str, usize)> = Vec::new();
                for p in self.profiles.accounts.values() {
                    for a in p.health() {
                        match rows.iter_mut().find(|r| r.0 == a.number) {
                            Some(r) => r.2 += usize::from(a.answered),
                            None => rows.push((a.number, a.question, usize::from(a.answered))),
                        }
                    }
                }
                rows.sort_by_key(|r| r.0);
                Table {
                    columns: vec![
                        "number",
                        "question",
                        "accounts_answering",
                        "accounts",
                        "share",
                    ],
                    rows: rows
                        .into_iter()
                        .map(|(n, q, answered)| {
                            vec![
                                json!(n),
                                json!(q),
                                json!(answered),
                                json!(accounts),
                                share((accounts > 0).then(|| answered as f64 / accounts as f64)),
                            ]
                        })
                        .collect(),
                }
            }
            Analysis::Signals => {
                let config = dealtrail_profile::SignalConfig::default();
                let mut rows = Vec::new();
                for (id, p) in &self.profiles.accounts {
                    for s in p.signals(&config, self.at) {
                        rows.push(vec![
                            json!(id.to_string()),
                            json!(p.name),
                            json!(s.kind),
                            json!(s.reason),
                        ]);
                    }
                }
                Table {
                    columns: vec!["account", "name", "kind", "reason"],
                    rows,
                }
            }
            Analysis::Alerts => Table {
                columns: vec![
                    "opportunity",
                    "title",
                    "account",
                    "owner",
                    "stage",
                    "kind",
                    "since",
                    "detail",
                ],
                rows: self
                    .sales
                    .alerts(self.at, &self.alert_rules)
                    .into_iter()
                    .map(|a| {
                        vec![
                            json!(a.deal.to_string()),
                            json!(a.title),
                            json!(a.account.to_string()),
                            json!(a.owner),
                            json!(a.stage),
                            json!(a.kind.as_str()),
                            time(a.since),
                            json!(a.detail),
                        ]
                    })
                    .collect(),
            },
            Analysis::Segments => {
                let config = dealtrail_profile::SegmentConfig::default();
                let rows = self
                    .profiles
                    .accounts
                    .iter()
                    .filter(|(_, p)| !p.name.is_empty())
                    .map(|(id, p)| {
                        let s = p.segment(&self.profiles.names, &config, self.at);
                        vec![
                            json!(id.to_string()),
                            json!(p.name),
                            json!(s.trend.as_str()),
                            s.compared
                                .map_or(Value::Null, |c| json!(format!("{} to {}", c.0, c.1))),
                            share(s.compared.map(|c| c.2)),
                            json!(s.value.as_str()),
                            json!(s.purchases_minor),
                            json!(s.relationship.as_str()),
                            json!(s.roles),
                            share(s.top_share),
                            s.last_follow_up.map_or(Value::Null, time),
                        ]
                    })
                    .collect();
                Table {
                    columns: vec![
                        "account",
                        "name",
                        "business_trend",
                        "compared",
                        "change",
                        "customer_value",
                        "purchases_last_year_minor",
                        "relationship",
                        "roles_covered",
                        "top_rep_share",
                        "last_follow_up",
                    ],
                    rows,
                }
            }
            Analysis::Flow => {
                let Some((start, end, due_by)) = self.flow else {
                    return Table {
                        columns: vec![],
                        rows: vec![],
                    };
                };
                let report = self.sales.flow(&dealtrail_funnel::FlowQuery {
                    start,
                    end,
                    due_by,
                    currency,
                    filter: Default::default(),
                });
                let money = |m: i64| json!(currency.decimal(m));
                eprintln!(
                    "pipeline due by {due_by}: {} deals ({} {currency}) at the start, {} ({} {currency}) at the end",
                    report.start.0,
                    currency.decimal(report.start.1),
                    report.end.0,
                    currency.decimal(report.end.1),
                );
                Table {
                    columns: vec![
                        "bucket",
                        "opportunity",
                        "title",
                        "account",
                        "owner",
                        "start_amount",
                        "end_amount",
                        "change",
                        "currency",
                    ],
                    rows: report
                        .moves
                        .iter()
                        .map(|m| {
                            vec![
                                json!(m.bucket.as_str()),
                                json!(m.deal.to_string()),
                                json!(m.title),
                                json!(m.account.to_string()),
                                json!(m.owner),
                                m.start_minor.map_or(Value::Null, money),
                                m.end_minor.map_or(Value::Null, money),
                                money(m.change_minor),
                                json!(currency.to_string()),
                            ]
                        })
                        .collect(),
                }
            }
            Analysis::Deals => Table {
                columns: vec![
                    "opportunity",
                    "account",
                    "account_name",
                    "title",
                    "owner",
                    "stage",
                    "days_in_stage",
                    "amount_minor",
                    "currency",
                    "expected_close",
                    "follow_ups",
                    "contacts_engaged",
                    "last_activity",
                    "outcome",
                ],
                rows: self
                    .sales
                    .list(
                        &Default::default(),
                        dealtrail_funnel::DealSort::OpenedAt,
                        false,
                        dealtrail_funnel::Cut::occurred_by(self.at),
                    )
                    .into_iter()
                    .map(|d| {
                        vec![
                            json!(d.id.to_string()),
                            json!(d.account.to_string()),
                            json!(d.account_name),
                            json!(d.title),
                            json!(d.owner),
                            json!(d.stage),
                            json!(d.days_in_stage),
                            json!(d.amount_minor),
                            json!(d.currency.to_string()),
                            d.expected_close
                                .map_or(Value::Null, |e| json!(e.to_string())),
                            json!(d.follow_ups),
                            json!(d.contacts_engaged),
                            d.last_activity.map_or(Value::Null, time),
                            d.outcome.map_or(Value::Null, |o| json!(o.to_string())),
                        ]
                    })
                    .collect(),
            },
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Table {
    /// Writes the table as CSV with a header row, or as a JSON array of objects.
    pub fn write(&self, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
        match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(&self.columns).map_err(csv_error)?;
                for row in &self.rows {
                    w.write_record(row.iter().map(plain)).map_err(csv_error)?;
                }
                w.flush()?;
            }
            Format::Json => {
                let rows: Vec<Value> = self
                    .rows
                    .iter()
                    .map(|row| {
                        Value::Object(
                            self.columns
                                .iter()
                                .zip(row)
                                .map(|(c, v)| ((*c).to_owned(), v.clone()))
                                .collect(),
                        )
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &rows)?;
                writeln!(out)?;
            }
        }
        Ok(())
    }

    /// Prints the table for a terminal: columns padded, numbers right-aligned, long text
    /// cut at 60 characters.
    pub fn print(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let cell = |v: &Value| {
            let s = match v {
                Value::Null => "-".to_owned(),
                Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
                other => plain(other),
            };
            if s.chars().count() > 60 {
                format!("{}…", s.chars().take(59).collect::<String>())
            } else {
                s
            }
        };
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| cell(&r[i]).chars().count())
                    .chain([self.columns[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<(String, bool)>| {
            cells
                .iter()
                .zip(&widths)
                .map(|((s, right), w)| {
                    if *right {
                        format!("{s:>w$}")
                    } else {
                        format!("{s:<w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        writeln!(
            out,
            "{}",
            line(
                self.columns
                    .iter()
                    .map(|c| (c.to_string(), false))
                    .collect()
            )
        )?;
        for row in &self.rows {
            writeln!(
                out,
                "{}",
                line(row.iter().map(|v| (cell(v), v.is_number())).collect())
            )?;
        }
        if self.rows.is_empty() {
            writeln!(out, "(nothing)")?;
        }
        Ok(())
    }
}

/// Checks the arguments every analysis takes: a window of at least a day, a currency.
pub fn check_args(days: i64, currency: &str) -> anyhow::Result<dealtrail_domain::Currency> {
    if days <= 0 {
        bail!("--window-days: must be at least 1");
    }
    dealtrail_domain::Currency::parse(currency).map_err(|e| anyhow::anyhow!("--currency: {e}"))
}
