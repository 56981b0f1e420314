//! Contacts and the roles they play on deals: the people the coverage, single-threading and
//! decision-maker analyses count. A contacts file registers people on their accounts; a
//! contact-roles file engages them on deals, at the time the deal was opened.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use dealtrail_domain::account::ContactRegistered;
use dealtrail_domain::{BuyingRole, ContactId, Label, Name, Seniority};
use serde::Deserialize;

use crate::{ImportError, Rejection, Report, Table, first_time, get, key};

/// Columns of the contacts file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// The account's name, as the deals name it.
    pub account: String,
    /// The person's name (the family name, with `first_name`).
    pub name: String,
    /// Optional: a given-name column, put before `name` (Salesforce's FirstName, LastName).
    pub first_name: Option<String>,
    /// Optional: the contact's id in the source, when contact roles name contacts by id.
    pub id: Option<String>,
    /// Optional: the buying role (`decision_maker`, `influencer`, ...; `other` if absent).
    pub role: Option<String>,
    /// Optional: the seniority (`executive`, `director`, `manager`, `staff`).
    pub seniority: Option<String>,
    /// Optional: the job title.
    pub title: Option<String>,
    /// Optional: the e-mail address (a contact-roles file may name the contact by it).
    pub email: Option<String>,
    /// Optional: the phone number.
    pub phone: Option<String>,
    /// Optional: the contact's department or business unit, registered as an org unit of
    /// the account (once per name).
    pub org_unit: Option<String>,
}

/// Columns of the contact-roles file: which contact a deal engaged, in which role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRoleColumns {
    /// File name, relative to the mapping file.
    pub file: String,
    /// The deal's id in the source.
    pub deal: String,
    /// The contact's id, name or e-mail address, as the contacts file has it.
    pub contact: String,
    /// Optional: the role on this deal (the contact's own role if absent).
    pub role: Option<String>,
    /// Optional: the `contact` cell lists several contacts separated by this (HubSpot's
    /// deal export: `Associated Contact IDs` as `101;102`); the file may then be the deals
    /// file itself.
    pub separator: Option<String>,
}

/// The contacts file, read: who to register on which account, and how to find them.
#[derive(Default)]
pub(crate) struct Contacts {
    /// By account key: the contacts to register, with their line.
    pub(crate) by_account: BTreeMap<String, Vec<(usize, ContactRegistered)>>,
    /// By account key: the org units the contacts belong to, to register first.
    pub(crate) units: BTreeMap<String, Vec<(dealtrail_domain::OrgUnitId, Name)>>,
    /// By account key and name or e-mail key: the contact's id and own role.
    lookup: HashMap<(String, String), (ContactId, BuyingRole)>,
    pub(crate) file: String,
}

impl Contacts {
    /// Gives a contact the contacts file left without a role (`other`) the first role a
    /// contact-role row names for them: the analyses read a contact's role from the
    /// contact, and exports like Salesforce's keep roles only on the deal.
    pub(crate) fn adopt_roles(&mut self, roles: &HashMap<String, Vec<RoleRow>>) {
        let mut rows: Vec<&RoleRow> = roles.values().flatten().collect();
        rows.sort_by_key(|r| r.line);
        // The contacts without a role of their own, by name or e-mail key (any account).
        let mut roleless: HashMap<&str, Vec<ContactId>> = HashMap::new();
        for ((_, k), (id, own)) in &self.lookup {
            if *own == BuyingRole::Other {
                roleless.entry(k.as_str()).or_default().push(*id);
            }
        }
        let mut adopted: HashMap<ContactId, BuyingRole> = HashMap::new();
        for row in rows {
            let Some(role) = row.role else { continue };
            for id in roleless
                .get(key(&row.contact).as_str())
                .into_iter()
                .flatten()
            {
                adopted.entry(*id).or_insert(role);
            }
        }
        for (id, role) in self.lookup.values_mut() {
            if let Some(r) = adopted.get(id) {
                *role = *r;
            }
        }
        for (_, contact) in self.by_account.values_mut().flatten() {
            if let Some(r) = adopted.get(&contact.contact) {
                contact.role = *r;
            }
        }
    }

    /// The contact an account knows by this name or e-mail.
    pub(crate) fn find(&self, account: &str, contact: &str) -> Option<(ContactId, BuyingRole)> {
        self.lookup
            .get(&(account.to_owned(), key(contact)))
            .copied()
    }
}

/// One row of the contact-roles file.
pub(crate) struct RoleRow {
    pub(crate) line: usize,
    pub(crate) contact: String,
    pub(crate) role: Option<BuyingRole>,
}

/// A role as the export names it: through `[buying_roles]`, else a buying role's own name.
fn buying_role(text: &str, names: &HashMap<String, BuyingRole>) -> Option<BuyingRole> {
    names
        .get(&key(text))
        .copied()
        .or_else(|| BuyingRole::parse(text))
}

/// The deterministic id of an imported contact, so that a re-import finds it again.
pub(crate) fn contact_id(source: &str, account: &str, name: &str) -> ContactId {
    ContactId(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{source}:contact:{account}:{}", key(name)).as_bytes(),
    ))
}

/// Reads the contacts file; rows that cannot be read are reported and left out.
pub(crate) fn read_contacts(
    source: &str,
    c: &ContactColumns,
    dir: &Path,
    account_ids: &HashMap<String, String>,
    roles: &HashMap<String, BuyingRole>,
    report: &mut Report,
) -> Result<Contacts, ImportError> {
    let table = Table::read(dir.join(&c.file))?;
    let col = |name: &str| table.column(name);
    let opt = |name: &Option<String>| name.as_ref().map(|n| col(n)).transpose();
    let (account_col, name_col) = (col(&c.account)?, col(&c.name)?);
    let (role_col, seniority_col, title_col) = (opt(&c.role)?, opt(&c.seniority)?, opt(&c.title)?);
    let (email_col, phone_col) = (opt(&c.email)?, opt(&c.phone)?);
    let (first_col, id_col) = (opt(&c.first_name)?, opt(&c.id)?);
    let unit_col = opt(&c.org_unit)?;
    let mut contacts = Contacts {
        file: table.file_name(),
        ..Contacts::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (line, row) in &table.rows {
        if !first_time(&mut seen, row, report) {
            continue;
        }
        let read = (|| {
            let account_text = get(row, Some(account_col));
            let account = account_ids
                .get(account_text)
                .cloned()
                .unwrap_or_else(|| key(account_text));
            if account.is_empty() {
                return Err("a contact without an account".to_string());
            }
            let full = match get(row, first_col) {
                "" => get(row, Some(name_col)).to_owned(),
                first => format!("{first} {}", get(row, Some(name_col))),
            };
            let name = Name::parse(full).map_err(|e| format!("name: {e}"))?;
            let role = match get(row, role_col) {
                "" => BuyingRole::Other,
                r => buying_role(r, roles).ok_or_else(|| {
                    format!(
                        "role {r:?} is not a buying role (one of: {})",
                        <BuyingRole as dealtrail_domain::Vocabulary>::names()
                    )
                })?,
            };
            let seniority = match get(row, seniority_col) {
                "" => Seniority::Unknown,
                s => Seniority::parse(s).ok_or_else(|| format!("seniority {s:?} is unknown"))?,
            };
            let label = |what: &str, col: Option<usize>| match get(row, col) {
                "" => Ok(None),
                t => Label::parse(t)
                    .map(Some)
                    .map_err(|e| format!("{what}: {e}")),
            };
            let (title, email, phone) = (
                label("title", title_col)?,
                label("email", email_col)?,
                label("phone", phone_col)?,
            );
            let unit = match get(row, unit_col) {
                "" => None,
                u => Some(Name::parse(u).map_err(|e| format!("org unit: {e}"))?),
            };
            Ok((account, name, role, seniority, title, email, phone, unit))
        })();
        let source_id = get(row, id_col);
        match read {
            Ok((account, name, role, seniority, title, email, phone, unit)) => {
                let id = contact_id(source, &account, name.as_str());
                let org_unit = unit.map(|unit| {
                    let unit_id = dealtrail_domain::OrgUnitId(uuid::Uuid::new_v5(
                        &uuid::Uuid::NAMESPACE_OID,
                        format!("{source}:orgunit:{account}:{}", key(unit.as_str())).as_bytes(),
                    ));
                    let units = contacts.units.entry(account.clone()).or_default();
                    if !units.iter().any(|(u, _)| *u == unit_id) {
                        units.push((unit_id, unit));
                    }
                    unit_id
                });
                let names = [Some(name.as_str()), email.as_ref().map(|e| e.as_str())];
                let by_id = (!source_id.is_empty()).then_some(source_id);
                for k in names.into_iter().chain([by_id]).flatten() {
                    contacts
                        .lookup
                        .insert((account.clone(), key(k)), (id, role));
                }
                contacts.by_account.entry(account).or_default().push((
                    *line,
                    ContactRegistered {
                        contact: id,
                        name,
                        title,
                        org_unit,
                        role,
                        seniority,
                        email,
                        phone,
                    },
                ));
            }
            Err(reason) => report.rejected.push(Rejection {
                file: table.file_name(),
                line: *line,
                reason,
            }),
        }
    }
    Ok(contacts)
}

/// Reads the contact-roles file, by deal id in the source.
pub(crate) fn read_roles(
    c: &ContactRoleColumns,
    dir: &Path,
    names: &HashMap<String, BuyingRole>,
    report: &mut Report,
) -> Result<(String, HashMap<String, Vec<RoleRow>>), ImportError> {
    let table = Table::read(dir.join(&c.file))?;
    let col = |name: &str| table.column(name);
    let (deal_col, contact_col) = (col(&c.deal)?, col(&c.contact)?);
    let role_col = c.role.as_ref().map(|r| col(r)).transpose()?;
    let mut roles: HashMap<String, Vec<RoleRow>> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for (line, row) in &table.rows {
        if !first_time(&mut seen, row, report) {
            continue;
        }
        let role = match get(row, role_col) {
            "" => None,
            r => match buying_role(r, names) {
                Some(role) => Some(role),
                None => {
                    report.rejected.push(Rejection {
                        file: table.file_name(),
                        line: *line,
                        reason: format!("role {r:?} is not a buying role"),
                    });
                    continue;
                }
            },
        };
        let cell = get(row, Some(contact_col));
        let contacts: Vec<&str> = match c.separator.as_deref() {
            Some(sep) if !sep.is_empty() => cell.split(sep).map(str::trim).collect(),
            _ => vec![cell],
        };
        let entry = roles
            .entry(get(row, Some(deal_col)).to_owned())
            .or_default();
        for contact in contacts.into_iter().filter(|c| !c.is_empty()) {
            entry.push(RoleRow {
                line: *line,
                contact: contact.to_owned(),
                role,
            });
        }
    }
    Ok((table.file_name(), roles))
}
