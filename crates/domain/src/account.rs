//! The Account aggregate: a customer enterprise, its people, structure, health and purchases.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::command::Context;
use crate::error::DomainError;
use crate::event::{Correction, Recorded};
use crate::ids::{AccountId, ContactId, OpportunityId, OrgUnitId};
use crate::values::{
    Date, ExternalId, Label, Money, Name, Period, Satisfaction, Text, Timestamp, UserId,
};
use crate::vocab::{BuyingRole, Seniority, ServiceKind, Unit};

/// A customer enterprise was registered with the company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRegistered {
    /// Company name.
    pub name: Name,
    /// Industry or sector.
    pub industry: Option<Label>,
    /// Headcount.
    pub employees: Option<u32>,
    /// Annual revenue.
    pub annual_revenue: Option<Money>,
    /// Region or country of the main office.
    pub region: Option<Label>,
    /// The group this company belongs to.
    pub parent: Option<AccountId>,
    /// The id the account had in the system it was imported from.
    pub external_id: Option<ExternalId>,
}

/// Profile fields that changed; `None` means unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountProfileUpdated {
    /// New company name.
    pub name: Option<Name>,
    /// New industry.
    pub industry: Option<Label>,
    /// New headcount.
    pub employees: Option<u32>,
    /// New annual revenue.
    pub annual_revenue: Option<Money>,
    /// New region.
    pub region: Option<Label>,
    /// New parent account.
    pub parent: Option<AccountId>,
}

/// A department or business unit of the customer became known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUnitAdded {
    /// The unit.
    pub org_unit: OrgUnitId,
    /// Its name.
    pub name: Name,
    /// The unit it reports to.
    pub parent: Option<OrgUnitId>,
    /// What it needs from us, as far as known.
    pub needs: Option<Text>,
}

/// The customer's business health for a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessIndicatorRecorded {
    /// The period described.
    pub period: Period,
    /// Revenue in the period.
    pub revenue: Option<Money>,
    /// Headcount at the end of the period.
    pub headcount: Option<u32>,
    /// Remarks.
    pub note: Option<Text>,
    /// Where the figures come from (annual report, the customer, press).
    pub source: Option<Label>,
}

/// A person at the customer was registered with the company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRegistered {
    /// The contact.
    pub contact: ContactId,
    /// Full name.
    pub name: Name,
    /// Job title.
    pub title: Option<Label>,
    /// The unit the person works in.
    pub org_unit: Option<OrgUnitId>,
    /// Their part in buying.
    pub role: BuyingRole,
    /// How senior they are.
    pub seniority: Seniority,
    /// Email address.
    pub email: Option<Label>,
    /// Phone number.
    pub phone: Option<Label>,
}

/// Contact fields that changed; `None` means unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactUpdated {
    /// The contact.
    pub contact: ContactId,
    /// New title.
    pub title: Option<Label>,
    /// New org unit.
    pub org_unit: Option<OrgUnitId>,
    /// New buying role.
    pub role: Option<BuyingRole>,
    /// New seniority.
    pub seniority: Option<Seniority>,
    /// New email.
    pub email: Option<Label>,
    /// New phone.
    pub phone: Option<Label>,
}

/// A contact left the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLeft {
    /// The contact.
    pub contact: ContactId,
    /// Why or where to, if known.
    pub reason: Option<Text>,
}

/// A contact's personal data was erased at their request: their key is destroyed, so the
/// name, e-mail and phone in every earlier event can no longer be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactErased {
    /// The contact.
    pub contact: ContactId,
    /// Why (a request's reference, say); never personal data.
    pub reason: Option<Text>,
}

/// The rep responsible for the account changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOwnerAssigned {
    /// The new owner.
    pub owner: UserId,
    /// The owner before, if any.
    pub previous: Option<UserId>,
}

/// The customer bought something: consumption history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseRecorded {
    /// Product name.
    pub product: Label,
    /// How many units.
    pub quantity: u32,
    /// What a unit is.
    pub unit: Unit,
    /// Total amount paid.
    pub amount: Money,
    /// Day of purchase.
    pub purchased_on: Date,
    /// The deal it came from.
    pub opportunity: Option<OpportunityId>,
}

/// Customer service recorded an interaction with the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInteractionRecorded {
    /// What kind of interaction.
    pub kind: ServiceKind,
    /// Satisfaction score, where one was given.
    pub satisfaction: Option<Satisfaction>,
    /// What happened.
    pub summary: Text,
}

/// Everything that can happen to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// See [`AccountRegistered`].
    AccountRegistered(AccountRegistered),
    /// See [`AccountProfileUpdated`].
    AccountProfileUpdated(AccountProfileUpdated),
    /// See [`OrgUnitAdded`].
    OrgUnitAdded(OrgUnitAdded),
    /// See [`BusinessIndicatorRecorded`].
    BusinessIndicatorRecorded(BusinessIndicatorRecorded),
    /// See [`ContactRegistered`].
    ContactRegistered(ContactRegistered),
    /// See [`ContactUpdated`].
    ContactUpdated(ContactUpdated),
    /// See [`ContactLeft`].
    ContactLeft(ContactLeft),
    /// See [`AccountOwnerAssigned`].
    AccountOwnerAssigned(AccountOwnerAssigned),
    /// See [`PurchaseRecorded`].
    PurchaseRecorded(PurchaseRecorded),
    /// See [`ServiceInteractionRecorded`].
    ServiceInteractionRecorded(ServiceInteractionRecorded),
    /// An earlier record of this account is retracted or amended.
    AccountEventCorrected(Correction<AccountEvent>),
    /// See [`ContactErased`].
    ContactErased(ContactErased),
}

impl AccountEvent {
    /// Whether this kind of event is a record that a correction may retract or amend.
    /// State changes (registration, owners, contacts, org units) are corrected by new events.
    pub fn is_correctable(&self) -> bool {
        matches!(
            self,
            AccountEvent::BusinessIndicatorRecorded(_)
                | AccountEvent::PurchaseRecorded(_)
                | AccountEvent::ServiceInteractionRecorded(_)
        )
    }
}

/// What a command wants to happen to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    /// Register a new customer enterprise.
    Register(AccountRegistered),
    /// Change profile fields; fields equal to the current value are dropped.
    UpdateProfile(AccountProfileUpdated),
    /// Add a department or business unit.
    AddOrgUnit(OrgUnitAdded),
    /// Record business figures for a period.
    RecordBusinessIndicator(BusinessIndicatorRecorded),
    /// Register a person at the customer.
    RegisterContact(ContactRegistered),
    /// Change a contact's details.
    UpdateContact(ContactUpdated),
    /// Record that a contact left.
    RecordContactLeft(ContactLeft),
    /// Make a rep responsible for the account.
    AssignOwner {
        /// The new owner.
        owner: UserId,
    },
    /// Record a purchase.
    RecordPurchase(PurchaseRecorded),
    /// Record a customer-service interaction.
    RecordServiceInteraction(ServiceInteractionRecorded),
    /// Retract or amend an earlier record of this account.
    Correct(Correction<AccountEvent>),
    /// Erase a contact's personal data.
    EraseContact(ContactErased),
}

/// What the account knows about one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactState {
    /// The contact's current details.
    pub details: ContactRegistered,
    /// Whether the person has left the customer.
    pub left: bool,
    /// Whether the person's personal data was erased.
    pub erased: bool,
}

/// The state an account's rules need, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    /// The current profile; `None` until registered.
    pub profile: Option<AccountRegistered>,
    /// Business time of the registration.
    pub registered_at: Timestamp,
    /// Org units by id.
    pub org_units: BTreeSet<OrgUnitId>,
    /// Contacts by id.
    pub contacts: BTreeMap<ContactId, ContactState>,
    /// The rep responsible now.
    pub owner: Option<UserId>,
    /// Correctable records by sequence number, with whether they were retracted.
    pub records: BTreeMap<u64, (&'static str, bool)>,
    /// Events applied.
    pub version: u64,
}

impl Account {
    /// Folds events into a fresh account.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a Recorded<AccountEvent>>,
    ) -> Account {
        let mut account = Account::default();
        for e in events {
            account.apply(e);
        }
        account
    }

    /// Whether the account has been registered.
    pub fn is_registered(&self) -> bool {
        self.profile.is_some()
    }

    /// Whether `contact` is registered here (left or not).
    pub fn has_contact(&self, contact: ContactId) -> bool {
        self.contacts.contains_key(&contact)
    }

    /// Changes state; never fails and never checks a rule.
    pub fn apply(&mut self, recorded: &Recorded<AccountEvent>) {
        self.version += 1;
        let event = &recorded.event;
        if event.is_correctable() {
            self.records.insert(
                recorded.seq,
                (crate::event::type_name_of_account(event), false),
            );
        }
        match event {
            AccountEvent::AccountRegistered(e) => {
                self.profile = Some(e.clone());
                self.registered_at = recorded.occurred_at;
            }
            AccountEvent::AccountProfileUpdated(e) => {
                if let Some(p) = &mut self.profile {
                    if let Some(v) = &e.name {
                        p.name = v.clone();
                    }
                    if let Some(v) = &e.industry {
                        p.industry = Some(v.clone());
                    }
                    if let Some(v) = e.employees {
                        p.employees = Some(v);
                    }
                    if let Some(v) = e.annual_revenue {
                        p.annual_revenue = Some(v);
                    }
                    if let Some(v) = &e.region {
                        p.region = Some(v.clone());
                    }
                    if let Some(v) = e.parent {
                        p.parent = Some(v);
                    }
                }
            }
            AccountEvent::OrgUnitAdded(e) => {
                self.org_units.insert(e.org_unit);
            }
            AccountEvent::ContactRegistered(e) => {
                self.contacts.insert(
                    e.contact,
                    ContactState {
                        details: e.clone(),
                        left: false,
                        erased: false,
                    },
                );
            }
            AccountEvent::ContactUpdated(e) => {
                if let Some(c) = self.contacts.get_mut(&e.contact) {
                    let d = &mut c.details;
                    if let Some(v) = &e.title {
                        d.title = Some(v.clone());
                    }
                    if let Some(v) = e.org_unit {
                        d.org_unit = Some(v);
                    }
                    if let Some(v) = e.role {
                        d.role = v;
                    }
                    if let Some(v) = e.seniority {
                        d.seniority = v;
                    }
                    if let Some(v) = &e.email {
                        d.email = Some(v.clone());
                    }
                    if let Some(v) = &e.phone {
                        d.phone = Some(v.clone());
                    }
                }
            }
            AccountEvent::ContactLeft(e) => {
                if let Some(c) = self.contacts.get_mut(&e.contact) {
                    c.left = true;
                }
            }
            AccountEvent::ContactErased(e) => {
                if let Some(c) = self.contacts.get_mut(&e.contact) {
                    c.erased = true;
                    c.details.name = Name::parse(crate::personal::ERASED).expect("a valid name");
                    c.details.email = None;
                    c.details.phone = None;
                }
            }
            AccountEvent::AccountOwnerAssigned(e) => self.owner = Some(e.owner.clone()),
            AccountEvent::AccountEventCorrected(c) => {
                if c.replacement.is_none()
                    && let Some(record) = self.records.get_mut(&c.target_seq)
                {
                    record.1 = true;
                }
            }
            AccountEvent::BusinessIndicatorRecorded(_)
            | AccountEvent::PurchaseRecorded(_)
            | AccountEvent::ServiceInteractionRecorded(_) => {}
        }
    }

    /// Applies the rules to a command and says which events it produces.
    pub fn decide(
        &self,
        ctx: &Context,
        command: AccountCommand,
    ) -> Result<Vec<AccountEvent>, DomainError> {
        ctx.check_not_future()?;
        if let AccountCommand::Register(e) = command {
            if self.is_registered() {
                return Err(DomainError::AccountAlreadyRegistered);
            }
            return Ok(vec![AccountEvent::AccountRegistered(e)]);
        }
        let Some(profile) = &self.profile else {
            return Err(DomainError::AccountNotRegistered);
        };
        ctx.check_not_before(self.registered_at)?;
        let event = match command {
            AccountCommand::Register(_) => unreachable!("handled above"),
            AccountCommand::UpdateProfile(u) => {
                let changed = AccountProfileUpdated {
                    name: u.name.filter(|v| *v != profile.name),
                    industry: u.industry.filter(|v| Some(v) != profile.industry.as_ref()),
                    employees: u.employees.filter(|v| Some(*v) != profile.employees),
                    annual_revenue: u
                        .annual_revenue
                        .filter(|v| Some(*v) != profile.annual_revenue),
                    region: u.region.filter(|v| Some(v) != profile.region.as_ref()),
                    parent: u.parent.filter(|v| Some(*v) != profile.parent),
                };
                if changed == AccountProfileUpdated::default() {
                    return Err(DomainError::NothingChanged);
                }
                AccountEvent::AccountProfileUpdated(changed)
            }
            AccountCommand::AddOrgUnit(e) => {
                if self.org_units.contains(&e.org_unit) {
                    return Err(DomainError::OrgUnitAlreadyExists {
                        org_unit: e.org_unit,
                    });
                }
                self.check_org_unit(e.parent)?;
                AccountEvent::OrgUnitAdded(e)
            }
            AccountCommand::RecordBusinessIndicator(e) => {
                if e.revenue.is_none() && e.headcount.is_none() && e.note.is_none() {
                    return Err(DomainError::NothingChanged);
                }
                AccountEvent::BusinessIndicatorRecorded(e)
            }
            AccountCommand::RegisterContact(e) => {
                if self.has_contact(e.contact) {
                    return Err(DomainError::ContactAlreadyRegistered { contact: e.contact });
                }
                self.check_org_unit(e.org_unit)?;
                AccountEvent::ContactRegistered(e)
            }
            AccountCommand::UpdateContact(u) => {
                let current = self.current_contact(u.contact)?;
                if current.erased {
                    return Err(DomainError::ContactErased { contact: u.contact });
                }
                self.check_org_unit(u.org_unit)?;
                let d = &current.details;
                let changed = ContactUpdated {
                    contact: u.contact,
                    title: u.title.filter(|v| Some(v) != d.title.as_ref()),
                    org_unit: u.org_unit.filter(|v| Some(*v) != d.org_unit),
                    role: u.role.filter(|v| *v != d.role),
                    seniority: u.seniority.filter(|v| *v != d.seniority),
                    email: u.email.filter(|v| Some(v) != d.email.as_ref()),
                    phone: u.phone.filter(|v| Some(v) != d.phone.as_ref()),
                };
                if changed.title.is_none()
                    && changed.org_unit.is_none()
                    && changed.role.is_none()
                    && changed.seniority.is_none()
                    && changed.email.is_none()
                    && changed.phone.is_none()
                {
                    return Err(DomainError::NothingChanged);
                }
                AccountEvent::ContactUpdated(changed)
            }
            AccountCommand::RecordContactLeft(e) => {
                self.current_contact(e.contact)?;
                AccountEvent::ContactLeft(e)
            }
            AccountCommand::AssignOwner { owner } => {
                if self.owner.as_ref() == Some(&owner) {
                    return Err(DomainError::SameOwner {
                        owner: owner.to_string(),
                    });
                }
                AccountEvent::AccountOwnerAssigned(AccountOwnerAssigned {
                    owner,
                    previous: self.owner.clone(),
                })
            }
            AccountCommand::RecordPurchase(e) => AccountEvent::PurchaseRecorded(e),
            AccountCommand::RecordServiceInteraction(e) => {
                AccountEvent::ServiceInteractionRecorded(e)
            }
            AccountCommand::EraseContact(e) => {
                match self.contacts.get(&e.contact) {
                    None => return Err(DomainError::UnknownContact { contact: e.contact }),
                    Some(c) if c.erased => {
                        return Err(DomainError::ContactErased { contact: e.contact });
                    }
                    Some(_) => {}
                }
                AccountEvent::ContactErased(e)
            }
            AccountCommand::Correct(c) => {
                crate::event::check_correction(&self.records, &c, |r| {
                    (r.is_correctable(), crate::event::type_name_of_account(r))
                })?;
                AccountEvent::AccountEventCorrected(c)
            }
        };
        Ok(vec![event])
    }

    fn check_org_unit(&self, unit: Option<OrgUnitId>) -> Result<(), DomainError> {
        match unit {
            Some(u) if !self.org_units.contains(&u) => {
                Err(DomainError::UnknownOrgUnit { org_unit: u })
            }
            _ => Ok(()),
        }
    }

    fn current_contact(&self, contact: ContactId) -> Result<&ContactState, DomainError> {
        match self.contacts.get(&contact) {
            None => Err(DomainError::UnknownContact { contact }),
            Some(c) if c.left => Err(DomainError::ContactLeft { contact }),
            Some(c) => Ok(c),
        }
    }
}
