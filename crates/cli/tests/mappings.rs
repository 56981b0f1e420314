//! The shipped mappings of common CRM exports, imported through the binary.

use std::process::Command;

fn import(mapping: &str, data: &std::path::Path) -> (bool, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    let out = Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args(["import", "crm"])
        .arg(root.join(mapping))
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn export(what: &str, data: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dealtrail"))
        .args(["export", what, "--format", "json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_salesforce_data_export_brings_deals_contacts_roles_and_other_functions_records() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, said) = import("salesforce/mapping.toml", &data);
    assert!(ok, "{said}");
    for line in [
        "accounts: 3 imported",
        "deals: 3 imported, 0 already present (1 won, 1 lost, 0 other outcomes, 1 open)",
        "contacts: 4 imported",
        "rows not imported: 0",
    ] {
        assert!(said.contains(line), "{line:?} in {said}");
    }
    // Contact roles reach the coverage analysis: the open deal has its decision maker.
    let coverage = export("coverage", &data);
    let rows = coverage.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{coverage}");
    assert_eq!(rows[0]["decision_maker"], true, "{coverage}");
    // Contacts' departments are the accounts' org units, so the deal reaches one.
    assert_eq!(rows[0]["org_units_reached"], 1, "{coverage}");
    // The presales solution design is recorded as presales' record, so the open deal in
    // Negotiation lacks only engineering's demo.
    let findings = export("findings", &data);
    let rules: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"demo-without-engineering"), "{findings}");
    assert!(!rules.iter().any(|r| r.contains("presales")), "{findings}");
    // Won and lost from the history's last stage, with the accounts by name.
    let deals = export("deals", &data);
    let won: Vec<&serde_json::Value> = deals
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["outcome"] == "won")
        .collect();
    assert_eq!(won.len(), 1);
    assert!(
        won[0].to_string().contains("Northwind Clinics"),
        "{}",
        won[0]
    );
    // A second import adds nothing.
    let (ok, again) = import("salesforce/mapping.toml", &data);
    assert!(ok, "{again}");
    assert!(
        again.contains("deals: 0 imported, 3 already present"),
        "{again}"
    );
    assert!(
        again.contains("contacts: 0 imported, 4 already present"),
        "{again}"
    );
}

#[test]
fn a_hubspot_export_brings_deals_with_their_companies_contacts_and_buying_roles() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, said) = import("hubspot/mapping.toml", &data);
    assert!(ok, "{said}");
    for line in [
        "accounts: 3 imported",
        "deals: 4 imported, 0 already present (1 won, 1 lost, 0 other outcomes, 2 open)",
        "contacts: 5 imported",
        "rows not imported: 0",
    ] {
        assert!(said.contains(line), "{line:?} in {said}");
    }
    let deals = export("deals", &data);
    let chinese = deals
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["account_name"] == "长城医疗器械")
        .unwrap_or_else(|| panic!("{deals}"));
    // Open deals keep the export's amount and close date.
    assert_eq!(chinese["amount_minor"], 39_000_000, "{chinese}");
    assert_eq!(chinese["expected_close"], "2025-07-31", "{chinese}");
    assert_eq!(chinese["stage"], "Negotiation");
    // Its executive sponsor counts as its decision maker.
    let coverage = export("coverage", &data);
    let row = coverage
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["opportunity"] == chinese["opportunity"])
        .unwrap_or_else(|| panic!("{coverage}"));
    assert_eq!(row["decision_maker"], true, "{row}");
    assert_eq!(row["single_threaded"], false, "{row}");
    let (ok, again) = import("hubspot/mapping.toml", &data);
    assert!(ok, "{again}");
    assert!(
        again.contains("deals: 0 imported, 4 already present"),
        "{again}"
    );
}
