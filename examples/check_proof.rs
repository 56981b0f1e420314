//! Check dealtrail's signed tree heads and Merkle proofs without trusting dealtrail's code.
//!
//! ```sh
//! dealtrail key create --out signing.key
//! dealtrail head --data ./dealtrail-data --signing-key signing.key >> heads.jsonl
//! dealtrail proof inclusion --data ./dealtrail-data --seq 42 > inclusion.json
//! dealtrail proof consistency --data ./dealtrail-data --from 100 > consistency.json
//! cargo run -p dealtrail-examples --bin check-proof -- heads heads.jsonl
//! cargo run -p dealtrail-examples --bin check-proof -- inclusion heads.jsonl inclusion.json [trail.jsonl]
//! cargo run -p dealtrail-examples --bin check-proof -- consistency heads.jsonl consistency.json
//! ```
//!
//! From the description in `docs/store.md` only: a head's signature is Ed25519 over a tag,
//! the size, the time and the root; the tree is RFC 9162's (SHA-256, leaves `0x00 || record
//! hash`, nodes `0x01 || left || right`, split at the largest power of two below the size).
//! The proofs are checked by rebuilding the roots they imply, recursively, from the tree's
//! definition. With the exported trail, the event's leaf is computed from its own hash
//! instead of taken from the proof.

use sha2::{Digest, Sha256};

type Hash = [u8; 32];

fn unhex<const N: usize>(s: &str) -> Result<[u8; N], String> {
    if s.len() != 2 * N {
        return Err(format!("{s:?} is not {N} bytes of hex"));
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn leaf(record_hash: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(record_hash)
        .finalize()
        .into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two below `n` (n >= 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The root an audit path implies for leaf `m` of a tree of `n` leaves; the path lists the
/// siblings from the leaf up, so the last one is the root's other child.
fn root_of_path(leaf: Hash, m: u64, n: u64, path: &[Hash]) -> Option<Hash> {
    if n == 1 {
        return path.is_empty().then_some(leaf);
    }
    let (sibling, below) = path.split_last()?;
    let k = split(n);
    Some(if m < k {
        node(&root_of_path(leaf, m, k, below)?, sibling)
    } else {
        node(sibling, &root_of_path(leaf, m - k, n - k, below)?)
    })
}

/// The old and the new root a consistency proof implies (RFC 9162's SUBPROOF, read back
/// from its last element); `whole` says the old tree is this whole subtree's left edge.
fn roots_of_proof(m: u64, n: u64, whole: bool, old: &Hash, proof: &[Hash]) -> Option<(Hash, Hash)> {
    if m == n {
        return if whole {
            proof.is_empty().then_some((*old, *old))
        } else {
            match proof {
                [h] => Some((*h, *h)),
                _ => None,
            }
        };
    }
    let (last, rest) = proof.split_last()?;
    let k = split(n);
    if m <= k {
        let (o, left) = roots_of_proof(m, k, whole, old, rest)?;
        Some((o, node(&left, last)))
    } else {
        let (o, right) = roots_of_proof(m - k, n - k, false, old, rest)?;
        Some((node(last, &o), node(last, &right)))
    }
}

/// A signed head of a heads file.
struct Head {
    size: u64,
    root: Hash,
}

fn heads(path: &str) -> Result<Vec<Head>, String> {
    use ed25519_dalek::{Signature, VerifyingKey};
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let field = |k: &str| v[k].as_str().ok_or(format!("{path}:{}: no {k}", n + 1));
        let size = v["size"]
            .as_u64()
            .ok_or(format!("{path}:{}: no size", n + 1))?;
        let time = v["timestampMicros"]
            .as_i64()
            .ok_or(format!("{path}:{}: no timestampMicros", n + 1))?;
        let root = unhex::<32>(field("root")?)?;
        let key = VerifyingKey::from_bytes(&unhex::<32>(field("publicKey")?)?)
            .map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let signature = Signature::from_bytes(&unhex::<64>(field("signature")?)?);
        let mut message = b"dealtrail tree head v1\n".to_vec();
        message.extend_from_slice(&size.to_be_bytes());
        message.extend_from_slice(&time.to_be_bytes());
        message.extend_from_slice(&root);
        key.verify_strict(&message, &signature).map_err(|_| {
            format!(
                "{path}:{}: the signature of the head of {size} events does not verify",
                n + 1
            )
        })?;
        out.push(Head { size, root });
    }
    Ok(out)
}

fn head_of(heads: &[Head], size: u64) -> Result<&Head, String> {
    heads
        .iter()
        .find(|h| h.size == size)
        .ok_or(format!("no saved head of {size} events"))
}

fn json(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn path_of(v: &serde_json::Value) -> Result<Vec<Hash>, String> {
    v["path"]
        .as_array()
        .ok_or("no path")?
        .iter()
        .map(|h| unhex::<32>(h.as_str().unwrap_or_default()))
        .collect()
}

fn run(args: &[String]) -> Result<String, String> {
    match args {
        [what, file] if what == "heads" => {
            let heads = heads(file)?;
            Ok(format!("{} signed heads verify", heads.len()))
        }
        [what, file, proof, rest @ ..] if what == "inclusion" && rest.len() <= 1 => {
            let heads = heads(file)?;
            let p = json(proof)?;
            let seq = p["seq"].as_u64().ok_or("no seq")?;
            let size = p["treeSize"].as_u64().ok_or("no treeSize")?;
            let head = head_of(&heads, size)?;
            let leaf = match rest.first() {
                // The leaf from the exported event's own hash.
                Some(trail) => {
                    let text = std::fs::read_to_string(trail).map_err(|e| format!("{trail}: {e}"))?;
                    let event = text
                        .lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .find(|e| e["seq"].as_u64() == Some(seq))
                        .ok_or(format!("event {seq} is not in {trail}"))?;
                    leaf(&unhex::<32>(event["hash"].as_str().unwrap_or_default())?)
                }
                None => unhex::<32>(p["leafHash"].as_str().unwrap_or_default())?,
            };
            if seq == 0 || seq > size {
                return Err(format!("event {seq} cannot be in a tree of {size}"));
            }
            match root_of_path(leaf, seq - 1, size, &path_of(&p)?) {
                Some(root) if root == head.root => Ok(format!(
                    "event {seq} is in the signed tree of {size} events"
                )),
                _ => Err(format!("the proof does not tie event {seq} to the signed head of {size}")),
            }
        }
        [what, file, proof] if what == "consistency" => {
            let heads = heads(file)?;
            let p = json(proof)?;
            let from = p["fromSize"].as_u64().ok_or("no fromSize")?;
            let to = p["toSize"].as_u64().ok_or("no toSize")?;
            let (old, new) = (head_of(&heads, from)?, head_of(&heads, to)?);
            if from == 0 || from > to {
                return Err(format!("sizes {from} and {to} are not a consistency question"));
            }
            let path = path_of(&p)?;
            let ok = if from == to {
                path.is_empty() && old.root == new.root
            } else {
                roots_of_proof(from, to, true, &old.root, &path)
                    == Some((old.root, new.root))
            };
            if ok {
                Ok(format!("the signed tree of {to} events extends the one of {from}"))
            } else {
                Err(format!("the tree of {to} events does not extend the signed one of {from}"))
            }
        }
        _ => Err("usage: check-proof heads HEADS | inclusion HEADS PROOF [TRAIL] | consistency HEADS PROOF".into()),
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(message) => {
            println!("ok: {message}");
            std::process::ExitCode::SUCCESS
        }
        Err(why) => {
            println!("FAILED: {why}");
            std::process::ExitCode::FAILURE
        }
    }
}
