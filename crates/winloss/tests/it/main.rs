//! Worked scenarios and properties of the win/loss read model.

use dealtrail_domain::account::*;
use dealtrail_domain::opportunity::*;
use dealtrail_domain::*;
use dealtrail_winloss::*;
use proptest::prelude::*;
use uuid::Uuid;

fn day(n: i64) -> Timestamp {
    Timestamp(Timestamp::parse("2024-01-01").unwrap().0 + n * Timestamp::DAY)
}
fn stage(s: &str) -> StageName {
    StageName::parse(s).unwrap()
}
fn text(s: &str) -> Text {
    Text::parse(s).unwrap()
}
const ACCOUNT: AccountId = AccountId(Uuid::from_u128(1));
fn deal(n: u128) -> OpportunityId {
    OpportunityId(Uuid::from_u128(100 + n))
}
fn contact(n: u128) -> ContactId {
    ContactId(Uuid::from_u128(200 + n))
}

#[derive(Default)]
struct Log(Vec<Recorded<Event>>);

impl Log {
    fn add(&mut self, at: i64, event: Event) -> u64 {
        let seq = self.0.len() as u64 + 1;
        self.0.push(Recorded {
            seq,
            recorded_at: day(1000),
            occurred_at: day(at),
            actor: UserId::parse("t").unwrap(),
            event,
        });
        seq
    }
    fn account(&mut self, e: AccountEvent) -> u64 {
        self.add(0, Event::Account(ACCOUNT, e))
    }
    fn deal(&mut self, n: u128, at: i64, e: OpportunityEvent) -> u64 {
        self.add(at, Event::Opportunity(deal(n), e))
    }
    fn fold(&self) -> WinLoss {
        let mut m = WinLoss::default();
        for e in &self.0 {
            m.apply(e);
        }
        m
    }
}

fn customer(log: &mut Log) {
    log.account(AccountEvent::AccountRegistered(AccountRegistered {
        name: Name::parse("Acme").unwrap(),
        industry: Some(Label::parse("medical").unwrap()),
        employees: Some(900),
        annual_revenue: None,
        region: None,
        parent: None,
        external_id: None,
    }));
    for (n, role) in [
        (1, BuyingRole::DecisionMaker),
        (2, BuyingRole::User),
        (3, BuyingRole::Influencer),
    ] {
        log.account(AccountEvent::ContactRegistered(ContactRegistered {
            contact: contact(n),
            name: Name::parse(format!("P{n}")).unwrap(),
            title: None,
            org_unit: None,
            role,
            seniority: Seniority::Staff,
            email: None,
            phone: None,
        }));
    }
}

fn open(log: &mut Log, n: u128, owner: &str, at: i64) {
    log.deal(
        n,
        at,
        OpportunityEvent::OpportunityOpened(OpportunityOpened {
            account: ACCOUNT,
            title: Name::parse("deal").unwrap(),
            owner: UserId::parse(owner).unwrap(),
            product_line: None,
            org_unit: None,
            amount: Money::from_minor(100, Currency::USD).unwrap(),
            expected_close: Date::parse("2024-06-30").unwrap(),
            source: None,
            stage: stage("Lead"),
            external_id: None,
        }),
    );
}

fn walk(log: &mut Log, n: u128, path: &[&str], start: i64) -> i64 {
    let p = Pipeline::default_b2b();
    let mut at = start;
    for pair in path.windows(2) {
        at += 5;
        log.deal(
            n,
            at,
            OpportunityEvent::StageChanged(StageChanged {
                from: stage(pair[0]),
                to: stage(pair[1]),
                movement: p.movement(&stage(pair[0]), &stage(pair[1])),
                gate_missing: Vec::new(),
            }),
        );
    }
    at
}

fn engage(log: &mut Log, n: u128, c: u128, at: i64) {
    log.deal(
        n,
        at,
        OpportunityEvent::ContactEngaged(ContactEngaged {
            contact: contact(c),
            role: BuyingRole::Other,
        }),
    );
}

fn record(log: &mut Log, n: u128, kind: RecordKind, at: i64) -> u64 {
    log.deal(
        n,
        at,
        OpportunityEvent::CrossFunctionalRecordAdded(CrossFunctionalRecordAdded {
            function: kind.function(),
            kind,
            assessment: Assessment::Neutral,
            satisfaction: None,
            summary: text("record"),
        }),
    )
}

fn close(log: &mut Log, n: u128, outcome: Outcome, in_stage: &str, reason: &str, at: i64) {
    log.deal(
        n,
        at,
        OpportunityEvent::OpportunityClosed(OpportunityClosed {
            outcome,
            stage: stage(in_stage),
            final_amount: None,
            winning_competitor: None,
            stated_reason: Some(text(reason)),
        }),
    );
}

#[test]
fn a_single_threaded_loss_blamed_on_price_shows_its_real_signals() {
    let mut log = Log::default();
    customer(&mut log);
    // The rep engages one junior contact, never gets presales in, and loses at Bid.
    open(&mut log, 1, "rep-lone", 1);
    engage(&mut log, 1, 2, 2);
    let at = walk(&mut log, 1, &["Lead", "Qualified", "Solution", "Bid"], 2);
    close(&mut log, 1, Outcome::Lost, "Bid", "price", at + 3);
    // Another rep multi-threads, with presales and a demo, and wins.
    open(&mut log, 2, "rep-team", 1);
    engage(&mut log, 2, 1, 2);
    engage(&mut log, 2, 3, 2);
    record(&mut log, 2, RecordKind::SolutionDesign, 8);
    record(&mut log, 2, RecordKind::Demo, 12);
    let at = walk(
        &mut log,
        2,
        &["Lead", "Qualified", "Solution", "Demo/POC", "Bid"],
        2,
    );
    close(&mut log, 2, Outcome::Won, "Bid", "best fit", at + 3);

    let report = log
        .fold()
        .report(day(0), day(365), &WinLossFilter::default());
    assert_eq!((report.overall.won, report.overall.lost), (1, 1));
    let (deals, signals) = &report.stated_vs_evidence["price"];
    assert_eq!(*deals, 1);
    for s in [
        Signal::SingleThreaded,
        Signal::NoDecisionMaker,
        Signal::NoPresalesSolution,
        Signal::NoDemo,
    ] {
        assert_eq!(signals.get(&s), Some(&1), "{s:?} in {signals:?}");
    }
    assert_eq!(signals.get(&Signal::Regressions), None);
    let dm = |v: &str| report.by[&("decision_maker".to_string(), v.to_string())].clone();
    assert_eq!((dm("true").won, dm("false").lost), (1, 1));
    let bid = report
        .where_lost
        .iter()
        .find(|r| r.stage.as_str() == "Bid")
        .unwrap();
    assert_eq!((bid.furthest, bid.at_loss), (1, 1));
}

#[test]
fn no_decision_and_withdrawn_are_kept_out_of_the_win_rate() {
    let mut log = Log::default();
    customer(&mut log);
    for (n, outcome) in [
        (1, Outcome::Won),
        (2, Outcome::Lost),
        (3, Outcome::NoDecision),
        (4, Outcome::Withdrawn),
    ] {
        open(&mut log, n, "rep", 1);
        close(&mut log, n, outcome, "Lead", "x", 10);
    }
    let rate = log
        .fold()
        .report(day(0), day(30), &WinLossFilter::default())
        .overall;
    assert_eq!(
        (rate.won, rate.lost, rate.no_decision, rate.withdrawn),
        (1, 1, 1, 1)
    );
    assert_eq!(rate.win_rate(), Some(0.5));
}

#[test]
fn a_deal_at_demo_without_an_engineering_record_raises_a_finding() {
    let mut log = Log::default();
    customer(&mut log);
    open(&mut log, 1, "rep", 1);
    let seq = record(&mut log, 1, RecordKind::SolutionDesign, 3);
    walk(&mut log, 1, &["Lead", "Solution", "Demo/POC"], 1);
    let rules = default_rules();
    let findings = log.fold().findings(&rules);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].rule, "demo-without-engineering");
    assert_eq!(findings[0].since, day(11));
    // Retracting the presales record adds the presales finding.
    log.deal(
        1,
        20,
        OpportunityEvent::OpportunityEventCorrected(Correction {
            target_seq: seq,
            replacement: None,
            reason: text("logged on the wrong deal"),
        }),
    );
    let mut names: Vec<String> = log
        .fold()
        .findings(&rules)
        .into_iter()
        .map(|f| f.rule)
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["demo-without-engineering", "solution-without-presales"]
    );
    // The demo record clears its finding.
    record(&mut log, 1, RecordKind::Demo, 21);
    let names: Vec<String> = log
        .fold()
        .findings(&rules)
        .into_iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(names, vec!["solution-without-presales"]);
}

#[test]
fn low_satisfaction_flags_optimistic_late_stages_and_losses() {
    let mut log = Log::default();
    customer(&mut log);
    log.account(AccountEvent::ServiceInteractionRecorded(
        ServiceInteractionRecorded {
            kind: ServiceKind::SatisfactionCheck,
            satisfaction: Some(Satisfaction::parse(2).unwrap()),
            summary: text("unhappy"),
        },
    ));
    open(&mut log, 1, "rep", 1);
    record(&mut log, 1, RecordKind::SolutionDesign, 2);
    walk(&mut log, 1, &["Lead", "Bid"], 1);
    let findings = log.fold().findings(&default_rules());
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "optimistic-despite-low-satisfaction")
    );
    let coverage = log.fold().coverage();
    assert!(coverage[0].single_threaded && !coverage[0].decision_maker);
}

fn random_log(ops: &[(u8, u8, u8)]) -> Log {
    let mut log = Log::default();
    customer(&mut log);
    let stages = Pipeline::default_b2b().stages;
    let mut state = std::collections::BTreeMap::new();
    let mut records = Vec::new();
    for (i, (d, what, arg)) in ops.iter().enumerate() {
        let n = (*d % 4) as u128;
        let at = i as i64;
        let Some(&(pos, closed)) = state.get(&n) else {
            open(&mut log, n, ["a", "b"][*arg as usize % 2], at);
            state.insert(n, (0usize, false));
            continue;
        };
        match (what % 5, closed) {
            (_, true) => {
                log.deal(
                    n,
                    at,
                    OpportunityEvent::OpportunityReopened(OpportunityReopened {
                        stage: stages[*arg as usize % 6].clone(),
                        reason: None,
                    }),
                );
                state.insert(n, (*arg as usize % 6, false));
            }
            (0, false) if *arg as usize % 6 != pos => {
                walk(
                    &mut log,
                    n,
                    &[stages[pos].as_str(), stages[*arg as usize % 6].as_str()],
                    at - 5,
                );
                state.insert(n, (*arg as usize % 6, false));
            }
            (1, false) => {
                close(
                    &mut log,
                    n,
                    Outcome::ALL[*arg as usize % 4],
                    stages[pos].as_str(),
                    ["price", "timing"][*arg as usize % 2],
                    at,
                );
                state.insert(n, (pos, true));
            }
            (2, false) => records.push((
                n,
                record(&mut log, n, RecordKind::ALL[*arg as usize % 6], at),
            )),
            (3, false) if !records.is_empty() => {
                let (d, seq) = records.remove(*arg as usize % records.len());
                log.deal(
                    d,
                    at,
                    OpportunityEvent::OpportunityEventCorrected(Correction {
                        target_seq: seq,
                        replacement: None,
                        reason: text("retract"),
                    }),
                );
            }
            _ => engage(&mut log, n, (*arg % 3) as u128 + 1, at),
        }
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// One fold equals a fold restarted from a snapshot anywhere, and so do its answers.
    #[test]
    fn restart_from_a_snapshot_changes_nothing(
        ops in proptest::collection::vec((0u8..8, 0u8..5, 0u8..12), 0..70),
        cut in 0usize..100,
    ) {
        let log = random_log(&ops);
        let whole = log.fold();
        let cut = cut.min(log.0.len());
        let mut first = WinLoss::default();
        for e in &log.0[..cut] {
            first.apply(e);
        }
        let mut resumed = WinLoss::restore(&first.snapshot()).expect("own snapshot");
        for e in &log.0[cut..] {
            resumed.apply(e);
        }
        prop_assert_eq!(&resumed, &whole);
        let filter = WinLossFilter::default();
        prop_assert_eq!(resumed.report(day(0), day(400), &filter), whole.report(day(0), day(400), &filter));
        prop_assert_eq!(resumed.findings(&default_rules()), whole.findings(&default_rules()));
    }
}

#[test]
fn a_deal_story_digests_its_timeline_and_coverage_counts_org_units() {
    let mut log = Log::default();
    customer(&mut log);
    open(&mut log, 1, "rep", 1);
    engage(&mut log, 1, 1, 2);
    engage(&mut log, 1, 2, 2);
    log.deal(
        1,
        3,
        OpportunityEvent::FollowUpLogged(FollowUpLogged {
            channel: Channel::Visit,
            contacts: vec![contact(1)],
            unregistered_participants: 2,
            function: Function::Sales,
            summary: text("visit"),
            next_step: None,
            next_step_due: None,
            unregistered_names: Vec::new(),
        }),
    );
    walk(&mut log, 1, &["Lead", "Solution"], 1);
    record(&mut log, 1, RecordKind::SolutionDesign, 8);
    let model = log.fold();
    let story = model.story(deal(1)).unwrap();
    let stages: Vec<&str> = story.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, vec!["Lead", "Solution"]);
    assert_eq!(story.stages[0].follow_ups.get(&Function::Sales), Some(&1));
    assert_eq!(story.stages[1].records, vec![RecordKind::SolutionDesign]);
    assert_eq!(story.stages[0].until, Some(day(6)));
    assert!(story.contacts.contains(&BuyingRole::DecisionMaker));
    assert!(story.outcome.is_none());
    let accounts = model.account_coverage();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (accounts[0].open_deals, accounts[0].single_threaded_deals),
        (1, 0)
    );
    assert!(accounts[0].decision_maker);
    assert_eq!(model.coverage()[0].unregistered_participants, 2);
}
