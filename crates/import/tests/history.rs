//! Importing a stage-history export with activities: the bundled sample, and dirty files.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dealtrail_domain::UserId;
use dealtrail_engine::{Engine, EngineConfig};
use dealtrail_funnel::{Cut, DealSort, FunnelQuery};
use dealtrail_import::{BadActivity, Options, import};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/stage-history/mapping.toml")
}

fn importer() -> UserId {
    UserId::parse("importer").unwrap()
}

/// Open stages of the sample's export in pipeline order, and its outcomes.
const STAGES: [&str; 6] = [
    "Prospecting",
    "Qualification",
    "Solution Design",
    "Demo",
    "Proposal",
    "Negotiation",
];

fn outcome_of(stage: &str) -> Option<&'static str> {
    match stage {
        "Closed Won" => Some("won"),
        "Closed Lost" => Some("lost"),
        "No Decision" => Some("no_decision"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_history_with_activities_becomes_each_deals_timeline() {
    // Straight from the CSV files: each deal's last change, its backward moves, activities.
    let dir = sample().parent().unwrap().to_path_buf();
    let mut last: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut backward_from_proposal = 0;
    for row in csv::Reader::from_path(dir.join("stage_history.csv"))
        .unwrap()
        .records()
    {
        let row = row.unwrap();
        let (id, from, to, at) = (&row[0], &row[4], &row[5], &row[6]);
        let entry = last
            .entry(id.to_owned())
            .or_insert((String::new(), String::new()));
        if at >= entry.0.as_str() {
            *entry = (at.to_owned(), to.to_owned());
        }
        let pos = |s: &str| STAGES.iter().position(|x| *x == s);
        if let (Some(f), Some(t)) = (pos(from), pos(to))
            && t < f
            && from == "Proposal"
        {
            backward_from_proposal += 1;
        }
    }
    let mut activities: HashMap<String, usize> = HashMap::new();
    for row in csv::Reader::from_path(dir.join("activities.csv"))
        .unwrap()
        .records()
    {
        *activities.entry(row.unwrap()[0].to_owned()).or_default() += 1;
    }
    let count = |o: Option<&str>| last.values().filter(|(_, to)| outcome_of(to) == o).count();

    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig::new(data.path())).unwrap();
    let report = import(
        &engine,
        &sample(),
        importer(),
        Default::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.deals_imported, last.len());
    assert_eq!(
        (report.won, report.lost, report.other_outcomes, report.open),
        (
            count(Some("won")),
            count(Some("lost")),
            count(Some("no_decision")),
            count(None)
        )
    );
    assert_eq!(report.accounts_imported, 4);

    // The read model sees the timelines: outcomes, follow-ups, and the move back.
    let deals = engine
        .sales()
        .read(|m| m.list(&Default::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    assert_eq!(deals.len(), last.len());
    let total_follow_ups: usize = deals.iter().map(|d| d.follow_ups).sum();
    assert_eq!(total_follow_ups, activities.values().sum::<usize>());
    let year = |y: i32| dealtrail_domain::Timestamp::parse(&format!("{y}-01-01")).unwrap();
    let funnel = engine
        .sales()
        .read(|m| {
            m.funnel(&FunnelQuery {
                from: year(2025),
                to: year(2026),
                filter: Default::default(),
                currency: dealtrail_domain::Currency::parse("EUR").unwrap(),
                as_occurred_by: None,
                as_recorded_through: None,
            })
        })
        .unwrap();
    let bid = funnel
        .stages
        .iter()
        .find(|s| s.stage.as_str() == "Bid")
        .unwrap();
    assert_eq!(bid.regressions_from, backward_from_proposal);
    assert!(backward_from_proposal > 0, "the sample has a move back");

    let head = engine.store().head().seq;
    let again = import(
        &engine,
        &sample(),
        importer(),
        Default::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((again.deals_imported, again.deals_present), (0, last.len()));
    assert_eq!(engine.store().head().seq, head, "a re-import adds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_history_is_rejected_by_line_and_whole_deals_only() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("export");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("history.csv"),
        "deal,account,amount,from,to,at,by\n\
         A,Acme,100,,prospecting,2025-01-01 09:00,ann\n\
         A,,,PROSPECTING, Qualification ,2025/01/05 10:00,ann\n\
         A,,,Qualification,Won,2025-02-01T12:00:00Z,ann\n\
         B,Acme,50,,Prospecting,2025-01-02,bob\n\
         B,,,Qualification,Won,2025-01-09,bob\n\
         C,Acme,50,,Prospecting,2025-01-03,bob\n\
         C,,,Prospecting,Dreaming,2025-01-04,bob\n\
         D,Acme,-5,,Prospecting,2025-01-03,bob\n\
         E,Acme,5,,Prospecting,yesterday,bob\n\
         F,Nobody,5,,Prospecting,2025-01-03,bob\n\
         G,Acme,7,,Prospecting,2025-01-03,bob\n\
         A,,,Qualification,Won,2025-02-01T12:00:00Z,ann\n",
    )
    .unwrap();
    std::fs::write(
        files.join("activities.csv"),
        "deal,type,at,by\n\
         A,Call,2025-01-03 11:00,ann\n\
         A,visit,2025-01-20,ann\n\
         G,Carrier pigeon,2025-01-05,bob\n\
         Z,Call,2025-01-05,bob\n",
    )
    .unwrap();
    std::fs::write(files.join("accounts.csv"), "name\nAcme\n").unwrap();
    std::fs::write(
        files.join("mapping.toml"),
        r#"source = "dirty"
currency = "USD"
[accounts]
file = "accounts.csv"
name = "name"
[history]
file = "history.csv"
deal = "deal"
from = "from"
to = "to"
at = "at"
by = "by"
account = "account"
amount = "amount"
[activities]
file = "activities.csv"
deal = "deal"
kind = "type"
at = "at"
by = "by"
[stages]
Prospecting = "Lead"
Qualification = "Qualified"
[outcomes]
Won = "won"
"#,
    )
    .unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let whole = Options {
        bad_activity: BadActivity::RefuseDeal,
        ..Default::default()
    };
    let report = import(
        &engine,
        &files.join("mapping.toml"),
        importer(),
        whole,
        |_, _| {},
    )
    .await
    .unwrap();
    let rejected: Vec<(&str, usize, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.file.as_str(), r.line, r.reason.as_str()))
        .collect();
    let expect = [
        ("activities.csv", 4, "is not in the mapping"),
        ("activities.csv", 4, "deal G not imported"),
        ("activities.csv", 5, "unknown deal"),
        ("history.csv", 6, "out of order"),
        ("history.csv", 8, "is not in the mapping"),
        ("history.csv", 9, "negative"),
        ("history.csv", 10, "not a time"),
        ("history.csv", 11, "unknown account"),
    ];
    assert_eq!(rejected.len(), expect.len(), "{rejected:#?}");
    for ((file, line, reason), (ef, el, er)) in rejected.iter().zip(expect) {
        assert!(
            *file == ef && *line == el && reason.contains(er),
            "{file}:{line} {reason} (expected {ef}:{el} ~ {er})"
        );
    }
    // Stage names match ignoring case and spacing, dates in several forms; the repeated
    // row is dropped as a duplicate.
    assert_eq!(report.duplicates, 1);
    assert_eq!((report.deals_imported, report.won), (1, 1));
    // One account and deal A whole (opened, qualified, won, two follow-ups): nothing of
    // the rejected deals was written.
    assert_eq!(engine.store().head().seq, 1 + 5);
    let a = engine
        .sales()
        .read(|m| m.list(&Default::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].follow_ups, a[0].owner.as_str()), (2, "ann"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_naming_both_shapes_or_neither_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(
        &mapping,
        "source = \"x\"\ncurrency = \"USD\"\n[stages]\n[outcomes]\n",
    )
    .unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let err = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("either [deals]"), "{err}");
    std::fs::write(
        &mapping,
        "source = \"x\"\ncurrency = \"USD\"\nsurprise = 1\n[stages]\n[outcomes]\n",
    )
    .unwrap();
    let err = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("surprise"),
        "a typo in the mapping is named: {err}"
    );
    assert_eq!(engine.store().head().seq, 0);
}

/// A deal won at 12:00 with a call before it was created, a call at the closing instant and
/// a call after the close.
fn life_export(dir: &std::path::Path) -> std::path::PathBuf {
    let files = dir.join("export");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("history.csv"),
        "deal,account,amount,from,to,at,by\n\
         A,Acme,100,,Prospecting,2025-01-05 09:00,ann\n\
         A,,,Prospecting,Won,2025-02-01 12:00,ann\n",
    )
    .unwrap();
    std::fs::write(
        files.join("activities.csv"),
        "deal,type,at,by\n\
         A,Call,2025-01-01 10:00,ann\n\
         A,Call,2025-02-01 12:00,ann\n\
         A,Call,2025-03-01 10:00,ann\n",
    )
    .unwrap();
    std::fs::write(
        files.join("mapping.toml"),
        r#"source = "life"
currency = "USD"
[history]
file = "history.csv"
deal = "deal"
from = "from"
to = "to"
at = "at"
by = "by"
account = "account"
amount = "amount"
[activities]
file = "activities.csv"
deal = "deal"
kind = "type"
at = "at"
by = "by"
[stages]
Prospecting = "Lead"
[outcomes]
Won = "won"
"#,
    )
    .unwrap();
    files.join("mapping.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_outside_a_deals_life_are_skipped_by_their_own_line_and_the_deal_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = life_export(dir.path());
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let report = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap();
    let rejected: Vec<(&str, usize, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.file.as_str(), r.line, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    assert_eq!((rejected[0].0, rejected[0].1), ("activities.csv", 2));
    assert!(
        rejected[0].2.contains("before the deal was created"),
        "{rejected:?}"
    );
    assert_eq!((rejected[1].0, rejected[1].1), ("activities.csv", 4));
    assert!(
        rejected[1].2.contains("after the deal was closed"),
        "{rejected:?}"
    );
    assert_eq!((report.deals_imported, report.won), (1, 1));
    // The call at the closing instant counts: it happened before the close.
    let deals = engine
        .sales()
        .read(|m| m.list(&Default::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    assert_eq!(deals[0].follow_ups, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_refuse_deal_a_bad_activity_refuses_its_deal_at_the_activitys_line() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = life_export(dir.path());
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let whole = Options {
        bad_activity: BadActivity::RefuseDeal,
        ..Default::default()
    };
    let report = import(&engine, &mapping, importer(), whole, |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.rejected.len(), 1);
    let r = &report.rejected[0];
    assert_eq!((r.file.as_str(), r.line), ("activities.csv", 2));
    assert!(r.reason.contains("deal A not imported"), "{}", r.reason);
    assert_eq!(report.deals_imported, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_row_brings_its_stated_reason_and_the_winning_competitor() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("export");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("history.csv"),
        "deal,account,from,to,at,by,why,rival\n\
         A,Acme,,Prospecting,2025-01-05 09:00,ann,,\n\
         A,,Prospecting,Lost,2025-02-01 12:00,ann,Price too high,Globex\n",
    )
    .unwrap();
    std::fs::write(
        files.join("mapping.toml"),
        r#"source = "reasons"
currency = "USD"
[history]
file = "history.csv"
deal = "deal"
from = "from"
to = "to"
at = "at"
by = "by"
account = "account"
reason = "why"
competitor = "rival"
[stages]
Prospecting = "Lead"
[outcomes]
Lost = "lost"
"#,
    )
    .unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let report = import(
        &engine,
        &files.join("mapping.toml"),
        importer(),
        Default::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let closed = engine
        .store()
        .iter_from(1)
        .map(|e| {
            dealtrail_engine::decode(&e.unwrap(), engine.store().vault())
                .unwrap()
                .event
        })
        .find_map(|e| match e {
            dealtrail_domain::Event::Opportunity(
                _,
                dealtrail_domain::opportunity::OpportunityEvent::OpportunityClosed(c),
            ) => Some(c),
            _ => None,
        })
        .expect("a close");
    assert_eq!(closed.stated_reason.unwrap().as_str(), "Price too high");
    assert_eq!(closed.winning_competitor.unwrap().as_str(), "Globex");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_registered_on_their_accounts_and_engaged_on_their_deals() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = life_export(dir.path());
    let files = mapping.parent().unwrap().to_owned();
    std::fs::write(
        files.join("contacts.csv"),
        "company,person,buying_role,mail\n\
         Acme,Mei Chen,Decision Maker,mei@acme.test\n\
         Acme,Tom Berg,,\n\
         Acme,Ana Ruiz,Wizard,\n",
    )
    .unwrap();
    std::fs::write(
        files.join("roles.csv"),
        "deal,who,as\n\
         A,mei@acme.test,\n\
         A,Tom Berg,influencer\n\
         A,Nobody Known,\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&mapping).unwrap();
    std::fs::write(
        &mapping,
        text + r#"[contacts]
file = "contacts.csv"
account = "company"
name = "person"
role = "buying_role"
email = "mail"
[contact_roles]
file = "roles.csv"
deal = "deal"
contact = "who"
role = "as"
"#,
    )
    .unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let report = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.contacts_imported, 2);
    let at = |file: &str| {
        report
            .rejected
            .iter()
            .filter(|r| r.file == file)
            .map(|r| (r.line, r.reason.clone()))
            .collect::<Vec<_>>()
    };
    let contacts = at("contacts.csv");
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0].0, 4);
    assert!(contacts[0].1.contains("not a buying role"), "{contacts:?}");
    let roles = at("roles.csv");
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert_eq!(roles[0].0, 4);
    use dealtrail_domain::opportunity::OpportunityEvent;
    let engaged: Vec<dealtrail_domain::BuyingRole> = engine
        .store()
        .iter_from(1)
        .map(|e| {
            dealtrail_engine::decode(&e.unwrap(), engine.store().vault())
                .unwrap()
                .event
        })
        .filter_map(|e| match e {
            dealtrail_domain::Event::Opportunity(_, OpportunityEvent::ContactEngaged(c)) => {
                Some(c.role)
            }
            _ => None,
        })
        .collect();
    use dealtrail_domain::BuyingRole::{DecisionMaker, Influencer};
    assert_eq!(engaged, vec![DecisionMaker, Influencer]);
    // A second run finds everything there.
    let again = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.contacts_imported, again.contacts_present), (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_types_mapped_to_records_become_the_other_functions_records() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = life_export(dir.path());
    let files = mapping.parent().unwrap().to_owned();
    std::fs::write(
        files.join("activities.csv"),
        "deal,type,at,by\n\
         A,Product demo,2025-01-10 10:00,eng\n\
         A,Call,2025-01-11 10:00,ann\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&mapping).unwrap();
    std::fs::write(
        &mapping,
        text + "[activity_records]\n\"Product demo\" = \"demo\"\n",
    )
    .unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let report = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    use dealtrail_domain::opportunity::OpportunityEvent;
    let events: Vec<OpportunityEvent> = engine
        .store()
        .iter_from(1)
        .map(|e| {
            dealtrail_engine::decode(&e.unwrap(), engine.store().vault())
                .unwrap()
                .event
        })
        .filter_map(|e| match e {
            dealtrail_domain::Event::Opportunity(_, e) => Some(e),
            _ => None,
        })
        .collect();
    let records: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            OpportunityEvent::CrossFunctionalRecordAdded(r) => Some((r.function, r.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        records,
        vec![(
            dealtrail_domain::Function::Engineering,
            dealtrail_domain::RecordKind::Demo
        )]
    );
    let follow_ups = events
        .iter()
        .filter(|e| matches!(e, OpportunityEvent::FollowUpLogged(_)))
        .count();
    assert_eq!(follow_ups, 1);
    // A record kind that is not one is refused with the mapping.
    let text = std::fs::read_to_string(&mapping).unwrap();
    std::fs::write(&mapping, text.replace("= \"demo\"", "= \"magic\"")).unwrap();
    let err = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a record kind"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_activity_files_are_read_and_a_typo_in_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = life_export(dir.path());
    let files = mapping.parent().unwrap().to_owned();
    std::fs::write(
        files.join("events.csv"),
        "deal,type,at,by\nA,Meeting,2025-01-20 10:00,ann\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&mapping)
        .unwrap()
        .replace("[activities]", "[[activities]]");
    let two = text.clone()
        + "[[activities]]\nfile = \"events.csv\"\ndeal = \"deal\"\nkind = \"type\"\nat = \"at\"\nby = \"by\"\n";
    std::fs::write(&mapping, &two).unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path().join("data"))).unwrap();
    let report = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap();
    let deals = engine
        .sales()
        .read(|m| m.list(&Default::default(), DealSort::OpenedAt, false, Cut::ALL))
        .unwrap();
    // The closing-instant call of the first file and the meeting of the second.
    assert_eq!(deals[0].follow_ups, 2, "{:?}", report.rejected);
    std::fs::write(
        &mapping,
        two.replace(
            "kind = \"type\"\nat = \"at\"\nby = \"by\"\n",
            "kindd = \"type\"\nat = \"at\"\nby = \"by\"\n",
        ),
    )
    .unwrap();
    let err = import(&engine, &mapping, importer(), Default::default(), |_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("kindd"), "{err}");
}
