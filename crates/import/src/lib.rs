//! Imports CRM exports into dealtrail: CSV files read through a TOML mapping that names the
//! columns and maps stage names, every deal checked whole, then written through the
//! engine's command path (decide, then append) as one unit. Re-importing the same files
//! adds nothing: every account and deal is written with an idempotency key derived from
//! its id in the source system.
//!
//! Two shapes of export are read: one row per deal (`[deals]`, its current stage or
//! outcome), or the deals' stage history (`[history]`, one row per change) with optional
//! activities (`[activities]`). The accounts file is optional with either; without it
//! accounts are registered by name alone. `docs/import.md` is the mapping reference.

mod contacts;
mod history;

pub use contacts::{ContactColumns, ContactRoleColumns};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use dealtrail_domain::account::AccountRegistered;
use dealtrail_domain::opportunity::OpportunityOpened;
use dealtrail_domain::{
    AccountCommand, AccountId, Currency, Date, ExternalId, Label, Money, Name, OpportunityCommand,
    OpportunityId, Outcome, Pipeline, StageName, Text, Timestamp, UserId,
};
use dealtrail_engine::{Command, Engine, EngineError, Issued};
use serde::Deserialize;

/// The mapping file: where the files are and which columns mean what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Name of the source system; part of every idempotency key.
    pub source: String,
    /// Currency of the amounts.
    pub currency: String,
    /// The accounts file; without it, accounts are registered by name alone.
    pub accounts: Option<AccountColumns>,
    /// The products file (list prices estimate open deals' amounts), if any.
    pub products: Option<ProductColumns>,
    /// The deals file, one row per deal (or `history` instead).
    pub deals: Option<DealColumns>,
    /// The stage-history file, one row per stage change (or `deals` instead).
    pub history: Option<history::HistoryColumns>,
    /// The activities file, or files (`[[activities]]`), with `history` only: one row per
    /// visit, call, email...
    pub activities: Option<OneOrMore<history::ActivityColumns>>,
    /// The export's names of contact roles mapped to buying roles (`"Economic Buyer" =
    /// "decision_maker"`); names that already are buying roles need no entry.
    #[serde(default)]
    pub buying_roles: BTreeMap<String, String>,
    /// With `history`: a file of one row per deal for what the history rows lack.
    pub deal_details: Option<history::DealDetailColumns>,
    /// Contacts, registered on their accounts.
    pub contacts: Option<ContactColumns>,
    /// Which contacts each deal engaged, in which role.
    pub contact_roles: Option<ContactRoleColumns>,
    /// Export activity types mapped to follow-up channels (visit, call, message, email,
    /// meeting); types that already are channel names need no entry.
    #[serde(default)]
    pub activity_kinds: BTreeMap<String, String>,
    /// Activity types that are another function's record (`"Demo" = "demo"`,
    /// `"Solution design" = "solution_design"`), recorded as that function's record
    /// instead of a follow-up.
    #[serde(default)]
    pub activity_records: BTreeMap<String, String>,
    /// Export stage names mapped to open stages of the pipeline.
    pub stages: BTreeMap<String, String>,
    /// Export stage names mapped to outcomes (won, lost, no_decision, withdrawn).
    pub outcomes: BTreeMap<String, String>,
    /// Product names of the deals file that differ from the products file.
    #[serde(default)]
    pub product_aliases: BTreeMap<String, String>,
}

/// Columns of the accounts file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// Account name (also its id in the source, unless `id` is given).
    pub name: String,
    /// Optional: the account's id in the source, when deals and contacts name accounts by
    /// id (Salesforce's `AccountId`) rather than by name.
    pub id: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Headcount.
    pub employees: Option<String>,
    /// Annual revenue.
    pub revenue: Option<String>,
    /// What the revenue column is multiplied by (e.g. 1000000 for millions).
    #[serde(default = "one")]
    pub revenue_multiplier: f64,
    /// Region.
    pub region: Option<String>,
}

/// A table given once (`[x]`) or as an array of tables (`[[x]]`).
#[derive(Debug, Clone)]
pub enum OneOrMore<T> {
    /// `[x]`.
    One(T),
    /// `[[x]]`.
    More(Vec<T>),
}

// By hand rather than `untagged`, so that a misspelt key inside is named in the error
// instead of "did not match any variant".
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMore<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|item| T::deserialize(item).map_err(D::Error::custom))
                .collect::<Result<Vec<T>, _>>()
                .map(OneOrMore::More),
            one => T::deserialize(one)
                .map(OneOrMore::One)
                .map_err(D::Error::custom),
        }
    }
}

impl Mapping {
    /// Every activities file the mapping names.
    pub(crate) fn activity_files(&self) -> Vec<&history::ActivityColumns> {
        match &self.activities {
            None => Vec::new(),
            Some(OneOrMore::One(a)) => vec![a],
            Some(OneOrMore::More(all)) => all.iter().collect(),
        }
    }
}

fn one() -> f64 {
    1.0
}

/// Columns of the products file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// Product name.
    pub name: String,
    /// List price.
    pub price: String,
}

/// Columns of the deals file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// The deal's id in the source.
    pub id: String,
    /// The rep who owns it.
    pub owner: String,
    /// Product.
    pub product: Option<String>,
    /// Account name.
    pub account: String,
    /// Stage or outcome.
    pub stage: String,
    /// When the deal was opened (engaged).
    pub opened: String,
    /// Optional: a date column to use when `opened` is empty (a created date, say), before
    /// `--undated-open` decides.
    pub opened_fallback: Option<String>,
    /// When it closed.
    pub closed: String,
    /// Amount (the final amount of a closed deal).
    pub amount: String,
    /// Optional: the stated reason of a closed deal (loss reason, say).
    pub reason: Option<String>,
    /// Optional: who won a lost deal instead.
    pub competitor: Option<String>,
}

/// The stated reason and winning competitor a closed deal's row gives, read from optional
/// columns; empty cells are absent.
pub(crate) fn close_details(
    row: &csv::StringRecord,
    reason: Option<usize>,
    competitor: Option<usize>,
) -> Result<(Option<Text>, Option<Label>), String> {
    let reason = match reason.map(|c| get(row, Some(c))) {
        None | Some("") => None,
        Some(t) => Some(Text::parse(t).map_err(|e| format!("reason: {e}"))?),
    };
    let competitor = match competitor.map(|c| get(row, Some(c))) {
        None | Some("") => None,
        Some(t) => Some(Label::parse(t).map_err(|e| format!("competitor: {e}"))?),
    };
    Ok((reason, competitor))
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The file.
    pub file: String,
    /// The line (1 is the header).
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Accounts written.
    pub accounts_imported: usize,
    /// Accounts already imported earlier.
    pub accounts_present: usize,
    /// Deals written.
    pub deals_imported: usize,
    /// Deals already imported earlier.
    pub deals_present: usize,
    /// Of the deals written or present: won, lost, still open.
    pub won: usize,
    /// Lost.
    pub lost: usize,
    /// Other outcomes.
    pub other_outcomes: usize,
    /// Open.
    pub open: usize,
    /// Exact duplicate rows skipped.
    pub duplicates: usize,
    /// Rows not imported.
    pub rejected: Vec<Rejection>,
    /// Things imported with an assumption, by kind, with a count.
    pub notes: BTreeMap<String, usize>,
    /// Contacts registered.
    pub contacts_imported: usize,
    /// Contacts already imported earlier.
    pub contacts_present: usize,
}

/// A failure that stops the import (as opposed to a rejected row).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The mapping file cannot be read or understood.
    #[error("mapping {path}: {detail}")]
    Mapping {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A data file cannot be read.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The engine failed (not a rule: rules reject rows).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Matching key of a name: case and spacing do not matter.
pub(crate) fn key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Parses the unambiguous date forms: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, and a
/// timestamp whose date part is one of them.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let day = s.split(['T', ' ']).next()?;
    Date::parse(&day.replace(['/', '.'], "-")).ok()
}

/// Parses a moment: RFC 3339, a date alone (midnight UTC), or a date and time without a
/// zone (UTC), the date in any form [`parse_date`] reads.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = Timestamp::parse(s) {
        return Some(t);
    }
    let (date, clock) = match s.split_once(['T', ' ']) {
        Some((d, c)) => (parse_date(d)?, c.trim()),
        None => return parse_date(s).map(Timestamp::start_of),
    };
    let zoned = clock.ends_with(['Z', 'z']) || clock.contains(['+']) || clock.rfind('-').is_some();
    let text = if zoned {
        format!("{date}T{clock}")
    } else {
        format!("{date}T{clock}Z")
    };
    if let Ok(t) = Timestamp::parse(&text) {
        return Some(t);
    }
    // Spreadsheets often leave out the seconds (`2025-01-08 10:00`), which RFC 3339 needs.
    let minutes = "YYYY-MM-DDTHH:MM".len();
    match text.get(..minutes) {
        Some(head) if text.as_bytes().get(minutes) != Some(&b':') => {
            Timestamp::parse(&format!("{head}:00{}", &text[minutes..])).ok()
        }
        _ => None,
    }
}

pub(crate) struct Table {
    path: PathBuf,
    headers: HashMap<String, usize>,
    rows: Vec<(usize, csv::StringRecord)>,
}

impl Table {
    pub(crate) fn read(path: PathBuf) -> Result<Table, ImportError> {
        let bad = |detail: String| ImportError::File {
            path: path.clone(),
            detail,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&path)
            .map_err(|e| bad(e.to_string()))?;
        let headers = reader
            .headers()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_owned(), i))
            .collect();
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            rows.push((i + 2, record.map_err(|e| bad(e.to_string()))?));
        }
        Ok(Table {
            path,
            headers,
            rows,
        })
    }

    pub(crate) fn column(&self, name: &str) -> Result<usize, ImportError> {
        self.headers
            .get(name)
            .copied()
            .ok_or_else(|| ImportError::File {
                path: self.path.clone(),
                detail: format!("no column {name:?}"),
            })
    }

    pub(crate) fn file_name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}

pub(crate) fn get(row: &csv::StringRecord, column: Option<usize>) -> &str {
    column.and_then(|c| row.get(c)).unwrap_or("").trim()
}

/// A deal checked whole, ready to be written.
pub(crate) struct Planned {
    /// Matching key of the account's name.
    pub(crate) account: String,
    /// The account's name as the export spells it.
    pub(crate) account_name: String,
    pub(crate) steps: Vec<(Option<Timestamp>, Command)>,
    pub(crate) outcome: Option<Outcome>,
    /// Where a rejection by the rules is reported.
    pub(crate) file: String,
    pub(crate) line: usize,
}

/// What the deal readers share: names mapped, prices, and where to report.
pub(crate) struct Context<'a> {
    pub(crate) mapping: &'a Mapping,
    pub(crate) currency: Currency,
    pub(crate) pipeline: Pipeline,
    pub(crate) stages: HashMap<String, StageName>,
    pub(crate) outcomes: HashMap<String, Outcome>,
    pub(crate) prices: HashMap<String, Money>,
    pub(crate) aliases: HashMap<String, String>,
    /// Accounts of the accounts file by matching key; `None` without an accounts file.
    pub(crate) known_accounts: Option<HashSet<String>>,
    pub(crate) now: Timestamp,
    pub(crate) bad_activity: BadActivity,
    pub(crate) undated_open: UndatedOpen,
    pub(crate) contacts: contacts::Contacts,
    /// Account name keys by the account's id in the source (`[accounts] id`).
    pub(crate) account_ids: HashMap<String, String>,
    /// Account names as the accounts file spells them, by matching key.
    pub(crate) account_names: HashMap<String, String>,
    /// Contact roles by deal id in the source, and the file they came from.
    pub(crate) roles: (String, HashMap<String, Vec<contacts::RoleRow>>),
}

/// What to do with an open deal of the one-row-per-deal shape that has no engage date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UndatedOpen {
    /// Open it at the time of the import (and say how many in the report's notes): it then
    /// counts as a lead of the import's month.
    #[default]
    ImportTime,
    /// Leave it out, reported by line.
    Skip,
}

/// What to do with an activity that cannot be read or falls outside its deal's life (before
/// the deal was created, after it was closed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BadActivity {
    /// Leave the activity out, report it by file and line, keep the deal.
    #[default]
    Skip,
    /// Leave the whole deal out, reported at the activity's file and line.
    RefuseDeal,
}

/// Choices of an import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// See [`BadActivity`].
    pub bad_activity: BadActivity,
    /// See [`UndatedOpen`].
    pub undated_open: UndatedOpen,
}

/// Where an export's stage name leads: an open stage or an outcome.
pub(crate) enum Target {
    Stage(StageName),
    Outcome(Outcome),
}

impl Context<'_> {
    /// The stage or outcome an export's stage name maps to (case and spacing ignored).
    pub(crate) fn target(&self, text: &str) -> Result<Target, String> {
        match (self.stages.get(&key(text)), self.outcomes.get(&key(text))) {
            (Some(s), _) => Ok(Target::Stage(s.clone())),
            (None, Some(o)) => Ok(Target::Outcome(*o)),
            (None, None) => Err(format!("stage {text:?} is not in the mapping")),
        }
    }

    /// The account a deal names, checked against the accounts file when there is one.
    pub(crate) fn account(&self, name: &str) -> Result<String, String> {
        if name.is_empty() {
            return Err("no account".into());
        }
        if let Some(k) = self.account_ids.get(name) {
            return Ok(k.clone());
        }
        let k = key(name);
        match &self.known_accounts {
            Some(known) if !known.contains(&k) => Err(format!("unknown account {name:?}")),
            _ => Ok(k),
        }
    }

    /// The account's name as the accounts file spells it, else as the deal named it.
    pub(crate) fn display_name(&self, account: &str, named: &str) -> String {
        self.account_names
            .get(account)
            .cloned()
            .unwrap_or_else(|| named.to_owned())
    }

    /// The product as the products file names it.
    pub(crate) fn product<'p>(&'p self, product: &'p str) -> &'p str {
        self.aliases
            .get(&key(product))
            .map_or(product, String::as_str)
    }

    /// The contacts deal `external` (of account `account`, a matching key) engaged, as
    /// commands; a role naming a contact the account does not have is reported and left
    /// out.
    pub(crate) fn engagements(
        &self,
        external: &str,
        id: OpportunityId,
        account: &str,
        rejected: &mut Vec<Rejection>,
    ) -> Vec<Command> {
        let Some(rows) = self.roles.1.get(external) else {
            return Vec::new();
        };
        let mut commands = Vec::new();
        for row in rows {
            match self.contacts.find(account, &row.contact) {
                Some((contact, own)) => commands.push(Command::Opportunity(
                    id,
                    OpportunityCommand::EngageContact(
                        dealtrail_domain::opportunity::ContactEngaged {
                            contact,
                            role: row.role.unwrap_or(own),
                        },
                    ),
                )),
                None => rejected.push(Rejection {
                    file: self.roles.0.clone(),
                    line: row.line,
                    reason: format!(
                        "contact {:?} is not a contact of the deal's account",
                        row.contact
                    ),
                }),
            }
        }
        commands
    }

    /// The deterministic id of a deal of the source system.
    pub(crate) fn deal_id(&self, external: &str) -> OpportunityId {
        OpportunityId(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{}:deal:{external}", self.mapping.source).as_bytes(),
        ))
    }

    /// The command that opens a deal of the export.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        &self,
        id: OpportunityId,
        external: &str,
        account_name: &str,
        owner: UserId,
        product: &str,
        amount: Money,
        expected_close: Date,
    ) -> Result<Command, String> {
        Ok(Command::Opportunity(
            id,
            OpportunityCommand::Open(OpportunityOpened {
                account: account_id(
                    &self.mapping.source,
                    &Name::parse(account_name).map_err(|e| format!("account: {e}"))?,
                ),
                title: Name::parse(format!("{product} for {account_name}"))
                    .or_else(|_| Name::parse(external))
                    .map_err(|e| format!("title: {e}"))?,
                owner,
                product_line: (!product.is_empty())
                    .then(|| Label::parse(product))
                    .transpose()
                    .map_err(|e| format!("product: {e}"))?,
                org_unit: None,
                amount,
                expected_close,
                source: Some(Label::parse(&self.mapping.source).map_err(|e| e.to_string())?),
                stage: self.pipeline.first_stage().clone(),
                external_id: Some(ExternalId::parse(external).map_err(|e| e.to_string())?),
            }),
        ))
    }
}

/// Reads the mapping at `mapping_path` and imports its files through `engine`, calling
/// `progress(done, total)` as deals are written.
pub async fn import(
    engine: &Engine,
    mapping_path: &Path,
    actor: UserId,
    options: Options,
    progress: impl Fn(usize, usize),
) -> Result<Report, ImportError> {
    let text = std::fs::read_to_string(mapping_path).map_err(|e| ImportError::Mapping {
        path: mapping_path.into(),
        detail: e.to_string(),
    })?;
    let mapping: Mapping = toml::from_str(&text).map_err(|e| ImportError::Mapping {
        path: mapping_path.into(),
        detail: e.to_string(),
    })?;
    let mapping_error = |detail: String| ImportError::Mapping {
        path: mapping_path.into(),
        detail,
    };
    match (&mapping.deals, &mapping.history) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(mapping_error(
                "name either [deals] (one row per deal) or [history] (one row per stage change)"
                    .into(),
            ));
        }
        (Some(_), None) if mapping.activities.is_some() => {
            return Err(mapping_error(
                "[activities] go with [history]: a file of one row per deal has no timeline to \
                 place them on"
                    .into(),
            ));
        }
        _ => {}
    }
    let currency = Currency::parse(&mapping.currency).map_err(|e| mapping_error(e.to_string()))?;
    let pipeline = Pipeline::default_b2b();
    let mut stages: HashMap<String, StageName> = HashMap::new();
    for (from, to) in &mapping.stages {
        let stage = pipeline
            .find(to)
            .ok_or_else(|| mapping_error(format!("stage {to:?} is not in the pipeline")))?;
        stages.insert(key(from), stage.clone());
    }
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    for (from, to) in &mapping.outcomes {
        let outcome =
            Outcome::parse(to).ok_or_else(|| mapping_error(format!("unknown outcome {to:?}")))?;
        outcomes.insert(key(from), outcome);
    }
    for (from, to) in &mapping.activity_kinds {
        if dealtrail_domain::Channel::parse(to).is_none() {
            return Err(mapping_error(format!(
                "activity kind {from:?} maps to {to:?}, not a channel (visit, call, message, \
                 email, meeting)"
            )));
        }
    }
    for (from, to) in &mapping.activity_records {
        if dealtrail_domain::RecordKind::parse(to).is_none() {
            return Err(mapping_error(format!(
                "activity type {from:?} maps to {to:?}, not a record kind (one of: {})",
                <dealtrail_domain::RecordKind as dealtrail_domain::Vocabulary>::names()
            )));
        }
    }
    let mut buying_roles: HashMap<String, dealtrail_domain::BuyingRole> = HashMap::new();
    for (from, to) in &mapping.buying_roles {
        let role = dealtrail_domain::BuyingRole::parse(to).ok_or_else(|| {
            mapping_error(format!(
                "role {from:?} maps to {to:?}, not a buying role (one of: {})",
                <dealtrail_domain::BuyingRole as dealtrail_domain::Vocabulary>::names()
            ))
        })?;
        buying_roles.insert(key(from), role);
    }
    let dir = mapping_path.parent().unwrap_or(Path::new("."));
    let mut report = Report::default();

    // Products: list prices for open deals' estimates.
    let mut prices: HashMap<String, Money> = HashMap::new();
    if let Some(p) = &mapping.products {
        let table = Table::read(dir.join(&p.file))?;
        let (name, price) = (table.column(&p.name)?, table.column(&p.price)?);
        for (line, row) in &table.rows {
            match Money::parse_grouped(get(row, Some(price)), currency) {
                Ok(m) => {
                    prices.insert(key(get(row, Some(name))), m);
                }
                Err(e) => report.rejected.push(Rejection {
                    file: table.file_name(),
                    line: *line,
                    reason: format!("price: {e}"),
                }),
            }
        }
    }
    let mut account_ids: HashMap<String, String> = HashMap::new();
    let accounts = match &mapping.accounts {
        Some(a) => Some(read_accounts(
            a,
            &dir.join(&a.file),
            currency,
            &mut report,
            &mut account_ids,
        )?),
        None => None,
    };
    let mut ctx = Context {
        mapping: &mapping,
        currency,
        pipeline,
        stages,
        outcomes,
        prices,
        aliases: mapping
            .product_aliases
            .iter()
            .map(|(k, v)| (key(k), v.clone()))
            .collect(),
        known_accounts: accounts.as_ref().map(|a| a.keys().cloned().collect()),
        now: dealtrail_engine::now(),
        bad_activity: options.bad_activity,
        undated_open: options.undated_open,
        contacts: match &mapping.contacts {
            Some(c) => contacts::read_contacts(
                &mapping.source,
                c,
                dir,
                &account_ids,
                &buying_roles,
                &mut report,
            )?,
            None => contacts::Contacts::default(),
        },
        account_ids,
        account_names: accounts
            .iter()
            .flatten()
            .map(|(k, a)| (k.clone(), a.name.as_str().to_owned()))
            .collect(),
        roles: match &mapping.contact_roles {
            Some(c) => contacts::read_roles(c, dir, &buying_roles, &mut report)?,
            None => (String::new(), HashMap::new()),
        },
    };
    ctx.contacts.adopt_roles(&ctx.roles.1);
    let planned = match (&mapping.deals, &mapping.history) {
        (Some(d), _) => plan_deals(&ctx, d, &dir.join(&d.file), &mut report)?,
        (None, Some(h)) => history::plan(&ctx, h, dir, &mut report)?,
        (None, None) => Vec::new(),
    };
    write(
        engine,
        &ctx,
        accounts,
        planned,
        actor,
        &mut report,
        progress,
    )
    .await?;
    report
        .rejected
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(report)
}

/// Drops a row identical to one seen before, counting it; true when the row is new.
pub(crate) fn first_time(
    seen: &mut HashSet<String>,
    row: &csv::StringRecord,
    report: &mut Report,
) -> bool {
    if seen.insert(row.iter().collect::<Vec<_>>().join("\u{1f}")) {
        true
    } else {
        report.duplicates += 1;
        false
    }
}

fn read_accounts(
    a: &AccountColumns,
    path: &Path,
    currency: Currency,
    report: &mut Report,
    ids: &mut HashMap<String, String>,
) -> Result<BTreeMap<String, AccountRegistered>, ImportError> {
    let table = Table::read(path.to_path_buf())?;
    let col = |c: &Option<String>| c.as_ref().map(|c| table.column(c)).transpose();
    let id_col = col(&a.id)?;
    let (name_col, industry, employees, revenue, region) = (
        table.column(&a.name)?,
        col(&a.industry)?,
        col(&a.employees)?,
        col(&a.revenue)?,
        col(&a.region)?,
    );
    let mut accounts: BTreeMap<String, AccountRegistered> = BTreeMap::new();
    let mut seen_rows = HashSet::new();
    for (line, row) in &table.rows {
        if !first_time(&mut seen_rows, row, report) {
            continue;
        }
        let name = get(row, Some(name_col));
        let parsed = (|| {
            let employees = match get(row, employees) {
                "" => None,
                e => Some(
                    e.parse::<u32>()
                        .map_err(|_| format!("employees {e:?} is not a count"))?,
                ),
            };
            let annual_revenue = match get(row, revenue) {
                "" => None,
                r => {
                    let value: f64 = r
                        .parse()
                        .map_err(|_| format!("revenue {r:?} is not a number"))?;
                    let amount = format!("{:.2}", value * a.revenue_multiplier);
                    Some(
                        Money::parse_grouped(&amount, currency)
                            .map_err(|e| format!("revenue: {e}"))?,
                    )
                }
            };
            let label = |v: &str| (!v.is_empty()).then(|| Label::parse(v)).transpose();
            Ok::<_, String>(AccountRegistered {
                name: Name::parse(name).map_err(|e| format!("name: {e}"))?,
                industry: label(get(row, industry)).map_err(|e| format!("industry: {e}"))?,
                employees,
                annual_revenue,
                region: label(get(row, region)).map_err(|e| format!("region: {e}"))?,
                parent: None,
                external_id: Some(ExternalId::parse(name).map_err(|e| format!("name: {e}"))?),
            })
        })();
        match parsed {
            Ok(r) => {
                if id_col.is_some() {
                    ids.insert(get(row, id_col).to_owned(), key(name));
                }
                accounts.insert(key(name), r);
            }
            Err(reason) => report.rejected.push(Rejection {
                file: table.file_name(),
                line: *line,
                reason,
            }),
        }
    }
    Ok(accounts)
}

/// Deals of a file with one row per deal, every row checked whole.
fn plan_deals(
    ctx: &Context<'_>,
    d: &DealColumns,
    path: &Path,
    report: &mut Report,
) -> Result<Vec<Planned>, ImportError> {
    let table = Table::read(path.to_path_buf())?;
    let c = |name: &str| table.column(name);
    let (id_col, owner_col, account_col, stage_col) =
        (c(&d.id)?, c(&d.owner)?, c(&d.account)?, c(&d.stage)?);
    let (opened_col, closed_col, amount_col) = (c(&d.opened)?, c(&d.closed)?, c(&d.amount)?);
    let product_col = d.product.as_ref().map(|p| c(p)).transpose()?;
    let reason_col = d.reason.as_ref().map(|r| c(r)).transpose()?;
    let fallback_col = d.opened_fallback.as_ref().map(|f| c(f)).transpose()?;
    let competitor_col = d.competitor.as_ref().map(|r| c(r)).transpose()?;
    let first_stage = ctx.pipeline.first_stage().clone();
    let mut planned: Vec<Planned> = Vec::new();
    let mut seen_rows = HashSet::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    for (line, row) in &table.rows {
        if !first_time(&mut seen_rows, row, report) {
            continue;
        }
        let mut role_rejects = Vec::new();
        let mut note = |kind: &str| *report.notes.entry(kind.to_owned()).or_default() += 1;
        let plan = (|| {
            let external = get(row, Some(id_col));
            if external.is_empty() {
                return Err("no deal id".to_string());
            }
            if !seen_ids.insert(external.to_owned()) {
                return Err(format!(
                    "deal {external} appears twice with different content"
                ));
            }
            let named = get(row, Some(account_col));
            let account = ctx.account(named)?;
            let account_name = ctx.display_name(&account, named);
            let account_name = account_name.as_str();
            let (stage, outcome) = match ctx.target(get(row, Some(stage_col)))? {
                Target::Stage(s) => (s, None),
                Target::Outcome(o) => (first_stage.clone(), Some(o)),
            };
            let opened_text = match get(row, Some(opened_col)) {
                "" => {
                    let fallback = get(row, fallback_col);
                    if !fallback.is_empty() {
                        note("deals without an engage date, opened at their fallback date");
                    }
                    fallback
                }
                t => t,
            };
            let opened = match opened_text {
                "" if outcome.is_none() && stage == first_stage => match ctx.undated_open {
                    UndatedOpen::ImportTime => {
                        note("open deals without an engage date, opened at import time");
                        None
                    }
                    UndatedOpen::Skip => {
                        return Err(
                            "an open deal without an engage date (skipped: --undated-open skip)"
                                .into(),
                        );
                    }
                },
                "" => return Err("no engage date".into()),
                t => Some(parse_date(t).ok_or_else(|| format!("engage date {t:?} is not a date"))?),
            };
            let closed = match (outcome, get(row, Some(closed_col))) {
                (None, _) => None,
                (Some(_), "") => return Err("a closed deal without a close date".into()),
                (Some(_), t) => {
                    Some(parse_date(t).ok_or_else(|| format!("close date {t:?} is not a date"))?)
                }
            };
            if let (Some(o), Some(c)) = (opened, closed)
                && c < o
            {
                return Err(format!(
                    "history out of order: closed {c} before it was engaged {o}"
                ));
            }
            let product = ctx.product(product_col.map(|p| get(row, Some(p))).unwrap_or(""));
            let (reason, competitor) = close_details(row, reason_col, competitor_col)?;
            let final_amount = match get(row, Some(amount_col)) {
                "" => None,
                t => Some(
                    Money::parse_grouped(t, ctx.currency).map_err(|e| format!("amount: {e}"))?,
                ),
            };
            if outcome.is_some() && final_amount.is_none() {
                note(if ctx.prices.contains_key(&key(product)) {
                    "closed deals without an amount, given their product's list price"
                } else {
                    "closed deals without an amount, given an amount of zero"
                });
            }
            // An open deal's own amount is its estimate (HubSpot's exports have one); else
            // its product's list price.
            let estimate = final_amount
                .or_else(|| ctx.prices.get(&key(product)).copied())
                .unwrap_or(Money::zero(ctx.currency));
            if outcome.is_none()
                && final_amount.is_none()
                && !ctx.prices.contains_key(&key(product))
            {
                note("open deals without an amount or a list price, estimated at zero");
            }
            let owner =
                UserId::parse(get(row, Some(owner_col))).map_err(|e| format!("owner: {e}"))?;
            let id = ctx.deal_id(external);
            let opened_at = opened.map(Timestamp::start_of);
            // An open deal's close date, when the export has one, is when it is expected.
            let planned_close = match (outcome, get(row, Some(closed_col))) {
                (None, t) if !t.is_empty() => parse_date(t),
                _ => None,
            };
            let expected_close = closed
                .or(planned_close)
                .or_else(|| opened.map(|o| o.plus_days(90)))
                .unwrap_or_else(|| ctx.now.date().plus_days(90));
            let mut steps = vec![(
                opened_at,
                ctx.open(
                    id,
                    external,
                    account_name,
                    owner,
                    product,
                    estimate,
                    expected_close,
                )?,
            )];
            for engaged in ctx.engagements(external, id, &account, &mut role_rejects) {
                steps.push((opened_at, engaged));
            }
            if outcome.is_none() && stage != first_stage {
                steps.push((
                    opened_at,
                    Command::Opportunity(id, OpportunityCommand::ChangeStage { to: stage }),
                ));
            }
            if let Some(outcome) = outcome {
                steps.push((
                    closed.map(Timestamp::start_of),
                    Command::Opportunity(
                        id,
                        OpportunityCommand::Close {
                            outcome,
                            final_amount: final_amount.filter(|_| outcome == Outcome::Won),
                            winning_competitor: competitor.clone(),
                            reason: reason.clone(),
                        },
                    ),
                ));
            }
            Ok(Planned {
                account,
                account_name: account_name.to_owned(),
                steps,
                outcome,
                file: table.file_name(),
                line: *line,
            })
        })();
        match plan {
            Ok(p) => planned.push(p),
            Err(reason) => report.rejected.push(Rejection {
                file: table.file_name(),
                line: *line,
                reason,
            }),
        }
        report.rejected.append(&mut role_rejects);
    }
    Ok(planned)
}

/// Writes the accounts (each registered at the business time of its earliest deal), then
/// each deal as one unit.
async fn write(
    engine: &Engine,
    ctx: &Context<'_>,
    accounts: Option<BTreeMap<String, AccountRegistered>>,
    planned: Vec<Planned>,
    actor: UserId,
    report: &mut Report,
    progress: impl Fn(usize, usize),
) -> Result<(), ImportError> {
    let source = &ctx.mapping.source;
    let mut first_deal: HashMap<&str, Timestamp> = HashMap::new();
    for p in &planned {
        let at = p.steps[0].0.unwrap_or(ctx.now);
        let entry = first_deal.entry(p.account.as_str()).or_insert(at);
        *entry = (*entry).min(at);
    }
    let accounts = match accounts {
        Some(a) => a,
        // No accounts file: every account a deal names, by its name alone.
        None => {
            let mut by_name = BTreeMap::new();
            for p in &planned {
                if by_name.contains_key(&p.account) {
                    continue;
                }
                let Ok(name) = Name::parse(&p.account_name) else {
                    continue;
                };
                by_name.insert(
                    p.account.clone(),
                    AccountRegistered {
                        name,
                        industry: None,
                        employees: None,
                        annual_revenue: None,
                        region: None,
                        parent: None,
                        external_id: ExternalId::parse(&p.account_name).ok(),
                    },
                );
            }
            if !by_name.is_empty() {
                report.notes.insert(
                    "accounts registered by name alone (no accounts file)".into(),
                    by_name.len(),
                );
            }
            by_name
        }
    };
    for (k, registered) in &accounts {
        let id = account_id(source, &registered.name);
        let issued = Issued {
            occurred_at: Some(first_deal.get(k.as_str()).copied().unwrap_or(ctx.now)),
            idempotency_key: Some(format!("import:{source}:account:{}", registered.name)),
            ..Issued::by(actor.clone())
        };
        let done = engine
            .execute(
                issued,
                Command::Account(id, AccountCommand::Register(registered.clone())),
            )
            .await?;
        if done.replayed {
            report.accounts_present += 1;
        } else {
            report.accounts_imported += 1;
        }
        for (unit, name) in ctx.contacts.units.get(k.as_str()).into_iter().flatten() {
            let issued = Issued {
                occurred_at: Some(first_deal.get(k.as_str()).copied().unwrap_or(ctx.now)),
                idempotency_key: Some(format!("import:{source}:orgunit:{}", unit.0)),
                ..Issued::by(actor.clone())
            };
            let added = dealtrail_domain::account::OrgUnitAdded {
                org_unit: *unit,
                name: name.clone(),
                parent: None,
                needs: None,
            };
            let command = Command::Account(id, AccountCommand::AddOrgUnit(added));
            match engine.execute(issued, command).await {
                Ok(_) => {}
                Err(EngineError::Rejected(rule)) => report.rejected.push(Rejection {
                    file: ctx.contacts.file.clone(),
                    line: 0,
                    reason: format!("org unit {name}: {rule}"),
                }),
                Err(other) => return Err(other.into()),
            }
        }
        for (line, contact) in ctx
            .contacts
            .by_account
            .get(k.as_str())
            .into_iter()
            .flatten()
        {
            let issued = Issued {
                occurred_at: Some(first_deal.get(k.as_str()).copied().unwrap_or(ctx.now)),
                idempotency_key: Some(format!("import:{source}:contact:{}", contact.contact.0)),
                ..Issued::by(actor.clone())
            };
            let command = Command::Account(id, AccountCommand::RegisterContact(contact.clone()));
            match engine.execute(issued, command).await {
                Ok(done) if done.replayed => report.contacts_present += 1,
                Ok(_) => report.contacts_imported += 1,
                Err(EngineError::Rejected(rule)) => report.rejected.push(Rejection {
                    file: ctx.contacts.file.clone(),
                    line: *line,
                    reason: rule.to_string(),
                }),
                Err(other) => return Err(other.into()),
            }
        }
    }
    for (k, rows) in &ctx.contacts.by_account {
        if !accounts.contains_key(k) {
            for (line, _) in rows {
                report.rejected.push(Rejection {
                    file: ctx.contacts.file.clone(),
                    line: *line,
                    reason: "the contact's account is not imported".into(),
                });
            }
        }
    }

    // Deals go to the engine many at a time (its bulk path: each deal still decided whole
    // by the rules and written all or nothing, under its own idempotency key).
    let total = planned.len();
    let mut planned = planned.into_iter().peekable();
    while planned.peek().is_some() {
        let chunk: Vec<_> = planned
            .by_ref()
            .take(DEALS_PER_CALL)
            .filter(|p| matches!(p.steps.first(), Some((_, Command::Opportunity(..)))))
            .collect();
        let units = chunk
            .iter()
            .map(|p| {
                let id = match p.steps.first() {
                    Some((_, Command::Opportunity(id, _))) => id.to_string(),
                    _ => String::new(),
                };
                let issued = Issued {
                    idempotency_key: Some(format!("import:{source}:deal:{id}")),
                    ..Issued::by(actor.clone())
                };
                (issued, p.steps.clone())
            })
            .collect();
        let answers = engine.execute_many(units).await;
        for (p, answer) in chunk.into_iter().zip(answers) {
            match answer {
                Ok(committed) => {
                    if committed.replayed {
                        report.deals_present += 1;
                    } else {
                        report.deals_imported += 1;
                    }
                    match p.outcome {
                        Some(Outcome::Won) => report.won += 1,
                        Some(Outcome::Lost) => report.lost += 1,
                        Some(_) => report.other_outcomes += 1,
                        None => report.open += 1,
                    }
                }
                Err(EngineError::Rejected(rule)) => report.rejected.push(Rejection {
                    file: p.file,
                    line: p.line,
                    reason: rule.to_string(),
                }),
                Err(other) => return Err(other.into()),
            }
        }
        progress(total - planned.len(), total);
    }
    Ok(())
}

/// Deals handed to the engine in one call.
const DEALS_PER_CALL: usize = 64;

/// The deterministic id of an imported account, so that a re-import finds it again.
fn account_id(source: &str, name: &Name) -> AccountId {
    AccountId(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{source}:account:{}", key(name.as_str())).as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_without_seconds_or_zone_read_as_utc() {
        let want = Timestamp::parse("2025-01-08T10:00:00Z").unwrap();
        for text in [
            "2025-01-08 10:00",
            "2025-01-08T10:00",
            "2025-01-08T10:00Z",
            "2025-01-08 10:00:00",
        ] {
            assert_eq!(parse_time(text), Some(want), "{text}");
        }
        assert_eq!(
            parse_time("2025-01-08 11:00+01:00"),
            Some(want),
            "an offset is honoured"
        );
        assert_eq!(parse_time("17 Feb 2025"), None);
    }
}
