//! The closed vocabularies of B2B selling: buying roles, channels, functions, outcomes.

use serde::{Deserialize, Serialize};

/// A closed vocabulary: parsed from its stable names, which an error can list.
pub trait Vocabulary: Sized + Copy {
    /// Parses a stable name (ignoring case, spaces, hyphens and underscores).
    fn parse(s: &str) -> Option<Self>;
    /// Every stable name, comma-separated, for messages that say what is allowed.
    fn names() -> String;
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable lower-case name used in files and APIs.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// Parses the stable name, ignoring case, spaces, hyphens and underscores.
            pub fn parse(s: &str) -> Option<$name> {
                let key: String = s
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '_' | '-'))
                    .flat_map(char::to_lowercase)
                    .collect();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().replace('_', "") == key)
            }
        }

        impl Vocabulary for $name {
            fn parse(s: &str) -> Option<$name> {
                $name::parse(s)
            }

            fn names() -> String {
                $name::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// The part a person plays in the customer's buying process.
    BuyingRole {
        /// Signs off the purchase.
        DecisionMaker = "decision_maker",
        /// Shapes the decision without owning it.
        Influencer = "influencer",
        /// Runs the formal purchase (tender, contract).
        Procurement = "procurement",
        /// Assesses the solution technically.
        TechnicalEvaluator = "technical_evaluator",
        /// Will use what is bought.
        User = "user",
        /// Anything else.
        Other = "other",
    }
);

vocabulary!(
    /// How senior a contact is.
    Seniority {
        /// C-level and owners.
        Executive = "executive",
        /// Heads of departments.
        Director = "director",
        /// Team leads.
        Manager = "manager",
        /// Individual contributors.
        Staff = "staff",
        /// Not known.
        Unknown = "unknown",
    }
);

vocabulary!(
    /// How a follow-up reached the customer.
    Channel {
        /// In person, at the customer.
        Visit = "visit",
        /// By phone.
        Call = "call",
        /// Chat or text message.
        Message = "message",
        /// By email.
        Email = "email",
        /// A scheduled (possibly remote) meeting.
        Meeting = "meeting",
    }
);

vocabulary!(
    /// A function of the selling company; the non-sales ones cross-check the rep.
    Function {
        /// The account rep.
        Sales = "sales",
        /// Solution design and technical review.
        Presales = "presales",
        /// Demos and proofs of concept.
        Engineering = "engineering",
        /// Customer service.
        Support = "support",
        /// Sales management.
        Management = "management",
    }
);

vocabulary!(
    /// What a cross-functional record documents.
    RecordKind {
        /// Presales designed the solution.
        SolutionDesign = "solution_design",
        /// Presales reviewed the customer's technical situation.
        TechnicalReview = "technical_review",
        /// Engineering gave a demo.
        Demo = "demo",
        /// Engineering ran a proof of concept.
        ProofOfConcept = "proof_of_concept",
        /// Support measured satisfaction.
        SatisfactionCheck = "satisfaction_check",
        /// Management reviewed the deal.
        ManagementReview = "management_review",
    }
);

impl RecordKind {
    /// The function whose records these are.
    pub fn function(self) -> Function {
        match self {
            RecordKind::SolutionDesign | RecordKind::TechnicalReview => Function::Presales,
            RecordKind::Demo | RecordKind::ProofOfConcept => Function::Engineering,
            RecordKind::SatisfactionCheck => Function::Support,
            RecordKind::ManagementReview => Function::Management,
        }
    }
}

vocabulary!(
    /// A function's own judgement of the deal.
    Assessment {
        /// Likely to go our way.
        Positive = "positive",
        /// No clear signal.
        Neutral = "neutral",
        /// Trouble ahead.
        Negative = "negative",
    }
);

vocabulary!(
    /// What a support record documents on the account.
    ServiceKind {
        /// A support ticket.
        Ticket = "ticket",
        /// A satisfaction survey or call.
        SatisfactionCheck = "satisfaction_check",
        /// Training given.
        Training = "training",
        /// Anything else.
        Other = "other",
    }
);

vocabulary!(
    /// The unit a purchase is counted in.
    Unit {
        /// Software licences.
        Licence = "licence",
        /// Servers.
        Server = "server",
        /// User seats.
        Seat = "seat",
        /// Subscriptions.
        Subscription = "subscription",
        /// Individual items.
        Item = "item",
    }
);

vocabulary!(
    /// How a deal ended.
    Outcome {
        /// We won.
        Won = "won",
        /// A competitor won, or the customer chose against us.
        Lost = "lost",
        /// The customer decided not to buy at all.
        NoDecision = "no_decision",
        /// We withdrew.
        Withdrawn = "withdrawn",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_loosely_and_print_stably() {
        assert_eq!(
            BuyingRole::parse("Decision Maker"),
            Some(BuyingRole::DecisionMaker)
        );
        assert_eq!(
            BuyingRole::parse("decision-maker"),
            Some(BuyingRole::DecisionMaker)
        );
        assert_eq!(Outcome::parse("NO_DECISION"), Some(Outcome::NoDecision));
        assert_eq!(Outcome::parse("maybe"), None);
        for role in BuyingRole::ALL {
            assert_eq!(BuyingRole::parse(role.as_str()), Some(*role));
        }
    }
}
