//! Quick capture: what a rep has in hand after a visit (a deal or just the account, people
//! by name or e-mail, a summary, a next step) turned into one follow-up. `quickLog` and the
//! inbound webhooks share it.

use std::collections::BTreeMap;

use dealtrail_domain::account::ContactState;
use dealtrail_domain::opportunity::FollowUpLogged;
use dealtrail_domain::{
    AccountId, Channel, ContactId, Date, Function, Label, OpportunityCommand, OpportunityId, Text,
    Timestamp,
};
use dealtrail_engine::{Command, Engine};

/// What was captured, parsed but not yet matched.
pub(crate) struct Capture {
    /// The deal, when the sender knows it.
    pub deal: Option<OpportunityId>,
    /// The account, when the sender knows only that: its one open deal is taken.
    pub account: Option<AccountId>,
    /// Participants as written: a name, an e-mail, or `Name <e-mail>`.
    pub participants: Vec<String>,
    /// How the customer was reached.
    pub channel: Channel,
    /// What happened.
    pub summary: Text,
    /// The agreed next step.
    pub next_step: Option<Text>,
    /// When it is due.
    pub next_step_due: Option<Date>,
}

/// The follow-up a capture becomes, and how its participants were matched.
pub(crate) struct Captured {
    /// The deal it is written to.
    pub deal: OpportunityId,
    /// The command to run.
    pub command: Command,
    /// Participants matched to registered contacts: as written, the contact, its name.
    pub matched: Vec<(String, ContactId, String)>,
    /// Participants matched to no contact (or to several), as written.
    pub unmatched: Vec<String>,
}

/// Why a capture cannot become a follow-up: a stable code and a message.
#[derive(Debug)]
pub(crate) struct CaptureError {
    /// `NOT_FOUND`, `AMBIGUOUS_DEAL` or `VALIDATION`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> CaptureError {
    CaptureError {
        code,
        message: message.into(),
    }
}

/// Turns a capture into the follow-up command, recorded under `function`. With
/// `owned_by`, only deals that user owns are picked or accepted (sales reps).
pub(crate) fn resolve(
    engine: &Engine,
    capture: Capture,
    function: Function,
    owned_by: Option<&str>,
) -> Result<Captured, CaptureError> {
    let internal = |e: dealtrail_engine::EngineError| refuse("INTERNAL", e.to_string());
    let (deal, account) = engine
        .sales()
        .read(|m| pick_deal(m, capture.deal, capture.account, owned_by))
        .map_err(internal)??;
    let contacts = engine
        .account_at(account, u64::MAX, Timestamp(i64::MAX))
        .map_err(internal)?
        .map(|a| a.contacts)
        .unwrap_or_default();
    if capture.participants.is_empty() {
        return Err(refuse(
            "VALIDATION",
            "participants: name at least one person met",
        ));
    }
    let mut matched: Vec<(String, ContactId, String)> = Vec::new();
    let mut unmatched = Vec::new();
    for written in capture.participants {
        let written = written.trim().to_owned();
        match find_contact(&written, &contacts) {
            Some(id) => {
                if !matched.iter().any(|m| m.1 == id) {
                    let name = contacts[&id].details.name.to_string();
                    matched.push((written, id, name));
                }
            }
            None => unmatched.push(written),
        }
    }
    let names = unmatched
        .iter()
        .map(|n| {
            Label::parse(n.clone()).map_err(|e| refuse("VALIDATION", format!("participants: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = u16::try_from(names.len())
        .map_err(|_| refuse("VALIDATION", "participants: at most 65,535"))?;
    let follow_up = FollowUpLogged {
        channel: capture.channel,
        contacts: matched.iter().map(|m| m.1).collect(),
        unregistered_participants: count,
        function,
        summary: capture.summary,
        next_step: capture.next_step,
        next_step_due: capture.next_step_due,
        unregistered_names: names,
    };
    Ok(Captured {
        deal,
        command: Command::Opportunity(deal, OpportunityCommand::LogFollowUp(follow_up)),
        matched,
        unmatched,
    })
}

/// The deal named, or the account's one open deal (among those `owned_by` owns).
fn pick_deal(
    m: &dealtrail_funnel::SalesPipeline,
    deal: Option<OpportunityId>,
    account: Option<AccountId>,
    owned_by: Option<&str>,
) -> Result<(OpportunityId, AccountId), CaptureError> {
    let owner_of = |d: &dealtrail_funnel::Deal| d.owners.current().map(|o| m.names.get(*o));
    match (deal, account) {
        (Some(id), account) => {
            let d = m
                .deals
                .get(&id)
                .ok_or_else(|| refuse("NOT_FOUND", format!("no deal {id}")))?;
            if account.is_some_and(|a| a != d.account) {
                return Err(refuse(
                    "VALIDATION",
                    format!("deal {id} is not a deal of account {}", d.account),
                ));
            }
            if owned_by.is_some_and(|u| owner_of(d) != Some(u)) {
                return Err(refuse(
                    "FORBIDDEN",
                    "a sales rep may only change the deals he owns",
                ));
            }
            Ok((id, d.account))
        }
        (None, Some(account)) => {
            let open: Vec<OpportunityId> = m
                .open_now
                .iter()
                .filter_map(|id| m.deals.get(id))
                .filter(|d| d.account == account)
                .filter(|d| owned_by.is_none_or(|u| owner_of(d) == Some(u)))
                .map(|d| d.id)
                .collect();
            match open.as_slice() {
                [one] => Ok((*one, account)),
                [] => Err(refuse(
                    "NOT_FOUND",
                    format!("account {account} has no open deal to log on; name the deal"),
                )),
                many => Err(refuse(
                    "AMBIGUOUS_DEAL",
                    format!(
                        "account {account} has {} open deals ({}); name the deal",
                        many.len(),
                        many.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        (None, None) => Err(refuse(
            "VALIDATION",
            "name the deal (opportunityId) or the account (accountId)",
        )),
    }
}

/// Case, width of spacing and surrounding spaces do not tell two names apart.
fn fold(s: &str) -> String {
    s.split_whitespace()
        .flat_map(|w| w.chars().flat_map(char::to_lowercase))
        .collect()
}

/// The one contact a participant names: by e-mail when one is written (`a@b`, or
/// `Name <a@b>`), else by name. Contacts still at the customer are preferred to those who
/// left; two contacts of the same name match neither.
pub(crate) fn find_contact(
    written: &str,
    contacts: &BTreeMap<ContactId, ContactState>,
) -> Option<ContactId> {
    let (name, email) = match (written.find('<'), written.rfind('>')) {
        (Some(l), Some(r)) if l < r => (written[..l].trim(), Some(written[l + 1..r].trim())),
        _ if written.contains('@') => ("", Some(written)),
        _ => (written, None),
    };
    let unique = |hits: Vec<(&ContactId, &ContactState)>| -> Option<ContactId> {
        let present: Vec<_> = hits.iter().filter(|(_, c)| !c.left).collect();
        match (present.as_slice(), hits.as_slice()) {
            ([one], _) => Some(*one.0),
            ([], [one]) => Some(*one.0),
            _ => None,
        }
    };
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        let key = email.to_lowercase();
        let hits = contacts
            .iter()
            .filter(|(_, c)| {
                c.details
                    .email
                    .as_ref()
                    .is_some_and(|e| e.as_str().to_lowercase() == key)
            })
            .collect();
        if let Some(id) = unique(hits) {
            return Some(id);
        }
    }
    if name.is_empty() {
        return None;
    }
    let key = fold(name);
    unique(
        contacts
            .iter()
            .filter(|(_, c)| fold(c.details.name.as_str()) == key)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use dealtrail_domain::account::ContactRegistered;
    use dealtrail_domain::{BuyingRole, Name, Seniority};

    use super::*;

    fn contact(n: u128, name: &str, email: Option<&str>, left: bool) -> (ContactId, ContactState) {
        let id = ContactId(uuid::Uuid::from_u128(n));
        let details = ContactRegistered {
            contact: id,
            name: Name::parse(name).unwrap(),
            title: None,
            org_unit: None,
            role: BuyingRole::User,
            seniority: Seniority::Staff,
            email: email.map(|e| Label::parse(e).unwrap()),
            phone: None,
        };
        (
            id,
            ContactState {
                details,
                left,
                erased: false,
            },
        )
    }

    #[test]
    fn participants_match_by_email_then_by_name() {
        let contacts: BTreeMap<_, _> = [
            contact(1, "Anna Berg", Some("anna@acme.example"), false),
            contact(2, "王芳", None, false),
            contact(3, "Li Wei", None, false),
            contact(4, "Li Wei", Some("wei.li@acme.example"), false),
            contact(5, "Old Timer", None, true),
        ]
        .into_iter()
        .collect();
        let id = |n: u128| Some(ContactId(uuid::Uuid::from_u128(n)));
        assert_eq!(find_contact("ANNA@acme.example", &contacts), id(1));
        assert_eq!(find_contact("  anna   berg ", &contacts), id(1));
        assert_eq!(find_contact("王 芳", &contacts), id(2));
        // Two contacts are called Li Wei: the name alone matches neither, the e-mail one.
        assert_eq!(find_contact("Li Wei", &contacts), None);
        assert_eq!(
            find_contact("Li Wei <wei.li@acme.example>", &contacts),
            id(4)
        );
        // Someone who left still matches when nobody present has the name.
        assert_eq!(find_contact("old timer", &contacts), id(5));
        assert_eq!(find_contact("nobody@acme.example", &contacts), None);
        assert_eq!(find_contact("Jan Novak", &contacts), None);
    }
}
