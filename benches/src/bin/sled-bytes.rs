//! Where a data folder's disk bytes go: the values its sled database holds, by tree and key
//! kind, against the size of sled's file; and the size of a fresh sled database given the
//! same keys and values in key order.
//!
//! `cargo run --release -p dealtrail-benches --bin sled-bytes -- DATA_FOLDER` (a folder
//! written by `dealtrail demo`, not in use by a server; it is read, never changed).

use std::collections::BTreeMap;

/// sled opened with the store's segment size (sled refuses another).
fn open(path: &std::path::Path) -> Result<sled::Db, String> {
    sled::Config::new()
        .path(path)
        .segment_size(dealtrail_store::SLED_SEGMENT_SIZE)
        .open()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn main() -> Result<(), String> {
    let data = std::env::args()
        .nth(1)
        .ok_or("usage: sled-bytes DATA_FOLDER")?;
    let log = std::path::Path::new(&data).join("log");
    let file = dealtrail_benches::disk_bytes(&log);
    let db = open(&log)?;
    let copy_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let copy = open(copy_dir.path())?;
    // (tree, first key byte) -> (keys, key and value bytes)
    let mut kinds: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut total = 0u64;
    for name in db.tree_names() {
        let tree = db.open_tree(&name).map_err(|e| e.to_string())?;
        let tree_name = String::from_utf8_lossy(&name).into_owned();
        let target = copy.open_tree(&name).map_err(|e| e.to_string())?;
        for item in tree.iter() {
            let (key, value) = item.map_err(|e| e.to_string())?;
            let kind = match key.first() {
                Some(b) if b.is_ascii_graphic() => char::from(*b).to_string(),
                Some(b) => format!("0x{b:02x}"),
                None => "(empty)".into(),
            };
            let entry = kinds.entry((tree_name.clone(), kind)).or_default();
            let bytes = (key.len() + value.len()) as u64;
            *entry = (entry.0 + 1, entry.1 + bytes);
            total += bytes;
            target.insert(key, value).map_err(|e| e.to_string())?;
        }
    }
    copy.flush().map_err(|e| e.to_string())?;
    drop(copy);
    for ((tree, kind), (keys, bytes)) in &kinds {
        println!(
            "{tree:>12} {kind:>6}: {keys:>9} keys, {}",
            megabytes(*bytes)
        );
    }
    println!("keys and values:          {}", megabytes(total));
    println!("sled's files:             {}", megabytes(file));
    println!(
        "a fresh copy, key order:  {}",
        megabytes(dealtrail_benches::disk_bytes(copy_dir.path()))
    );
    Ok(())
}
