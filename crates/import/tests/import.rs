//! Importing the bundled "CRM Sales Opportunities" export, and dirty files.

use std::path::{Path, PathBuf};

use dealtrail_domain::UserId;
use dealtrail_engine::{Engine, EngineConfig};
use dealtrail_import::import;

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/maven-crm/mapping.toml")
}

fn importer() -> UserId {
    UserId::parse("import:maven-crm").unwrap()
}

/// Counts computed straight from the CSV, independently of the importer.
fn expected() -> (usize, usize, usize, usize) {
    let dir = bundled().parent().unwrap().to_path_buf();
    let accounts: std::collections::HashSet<String> =
        csv::Reader::from_path(dir.join("accounts.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap()[0].to_string())
            .collect();
    let (mut deals, mut won, mut lost, mut no_account) = (0, 0, 0, 0);
    for row in csv::Reader::from_path(dir.join("sales_pipeline.csv"))
        .unwrap()
        .records()
    {
        let row = row.unwrap();
        if row[3].is_empty() || !accounts.contains(&row[3]) {
            no_account += 1;
            continue;
        }
        deals += 1;
        match &row[4] {
            "Won" => won += 1,
            "Lost" => lost += 1,
            _ => {}
        }
    }
    (deals, won, lost, no_account)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_export_imports_once_with_every_skipped_row_explained() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig::new(dir.path())).unwrap();
    let report = import(
        &engine,
        &bundled(),
        importer(),
        Default::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    let (deals, won, lost, no_account) = expected();
    assert_eq!(report.deals_imported, deals);
    assert_eq!((report.won, report.lost), (won, lost));
    assert_eq!(report.accounts_imported, 85);
    assert_eq!(
        report.rejected.len(),
        no_account,
        "{:?}",
        &report.rejected[..3]
    );
    assert!(
        report
            .rejected
            .iter()
            .all(|r| r.file == "sales_pipeline.csv" && r.reason == "no account")
    );
    // Line numbers point at the file's lines (the header is line 1).
    let text =
        std::fs::read_to_string(bundled().parent().unwrap().join("sales_pipeline.csv")).unwrap();
    let line = report.rejected[0].line;
    assert_eq!(
        text.lines().nth(line - 1).unwrap().split(',').nth(3),
        Some("")
    );

    let head = engine.store().head().seq;
    let again = import(
        &engine,
        &bundled(),
        importer(),
        Default::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((again.deals_imported, again.deals_present), (0, deals));
    assert_eq!((again.accounts_imported, again.accounts_present), (0, 85));
    assert_eq!(engine.store().head().seq, head, "a re-import adds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_rows_are_reported_by_line_and_nothing_is_half_imported() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("export");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("accounts.csv"),
        "name,industry\nAcme,medical\nAcme,medical\n",
    )
    .unwrap();
    std::fs::write(
        files.join("deals.csv"),
        "id,rep,account,stage,engaged,closed,value\n\
         D1,Ann,Acme,won,2017-01-05,2017-02-01,1000\n\
         D2,Ann,Acme,Lost,2017/01/05,2017-03-01,-5\n\
         D3,Ann,Acme,Won,05.01.2017,2017-03-01,10\n\
         D4,Ann,Acme,Dreaming,2017-01-05,,\n\
         D5,Ann,Acme,Won,2017-03-05,2017-02-01,10\n\
         D6,Ann,Nobody,Engaging,2017-01-05,,\n\
         D1,Ann,Acme,won,2017-01-05,2017-02-01,1000\n\
         D7,Ann,Acme, in  progress ,2017-01-05,,\n",
    )
    .unwrap();
    std::fs::write(
        files.join("mapping.toml"),
        r#"source = "test"
currency = "usd"
[accounts]
file = "accounts.csv"
name = "name"
industry = "industry"
[deals]
file = "deals.csv"
id = "id"
owner = "rep"
account = "account"
stage = "stage"
opened = "engaged"
closed = "closed"
amount = "value"
[stages]
"In Progress" = "qualified"
[outcomes]
Won = "won"
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
    let rejected: Vec<(usize, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 5, "{rejected:?}");
    assert!(
        rejected[0].0 == 3 && rejected[0].1.contains("negative"),
        "{rejected:?}"
    );
    assert!(
        rejected[1].0 == 4 && rejected[1].1.contains("not a date"),
        "{rejected:?}"
    );
    assert!(
        rejected[2].0 == 5 && rejected[2].1.contains("not in the mapping"),
        "{rejected:?}"
    );
    assert!(
        rejected[3].0 == 6 && rejected[3].1.contains("out of order"),
        "{rejected:?}"
    );
    assert!(
        rejected[4].0 == 7 && rejected[4].1.contains("unknown account"),
        "{rejected:?}"
    );
    // Stage names match ignoring case and spacing; duplicates are dropped, not rejected.
    assert_eq!((report.deals_imported, report.won, report.open), (2, 1, 1));
    assert_eq!(report.duplicates, 2);
    // Only the two good deals and the account were written: no rejected deal left a trace.
    assert_eq!(engine.store().head().seq, 1 + 2 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undated_open_deal_opens_at_its_fallback_date_when_the_mapping_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("export");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("deals.csv"),
        "id,rep,account,stage,engaged,created,closed,value\n\
         D1,Ann,Acme,Prospecting,,2017-01-05,,\n\
         D2,Ann,Acme,Prospecting,,,,\n",
    )
    .unwrap();
    std::fs::write(
        files.join("mapping.toml"),
        r#"source = "fallback"
currency = "usd"
[deals]
file = "deals.csv"
id = "id"
owner = "rep"
account = "account"
stage = "stage"
opened = "engaged"
opened_fallback = "created"
closed = "closed"
amount = "value"
[stages]
Prospecting = "Lead"
[outcomes]
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
    assert_eq!(report.deals_imported, 2);
    assert_eq!(
        report
            .notes
            .get("deals without an engage date, opened at their fallback date"),
        Some(&1),
        "{:?}",
        report.notes
    );
    assert_eq!(
        report
            .notes
            .get("open deals without an engage date, opened at import time"),
        Some(&1)
    );
    let opened: Vec<i64> = engine
        .store()
        .iter_from(1)
        .map(|e| e.unwrap())
        .filter(|e| e.event_type == "OpportunityOpened")
        .map(|e| e.occurred_at.0)
        .collect();
    let jan5 = dealtrail_domain::Timestamp::parse("2017-01-05").unwrap().0;
    assert!(opened.contains(&jan5), "{opened:?}");
}
