//! Signed tree heads: a tree head (size, root) and a time, signed with an Ed25519 key that
//! lives outside the data folder. Auditors keep signed heads elsewhere; a log that does not
//! extend one of them has lost or changed events (see [`crate::Store::verify_against`]).

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey as Ed25519Key, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::audit::TreeHead;
use crate::tree::TreeHash;
use crate::types::{ChainHash, Timestamp};

/// What the signature covers comes after this tag, so that a head's signature cannot be
/// passed off as a signature of anything else.
const TAG: &[u8] = b"dealtrail tree head v1\n";

/// Why a key or a head cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The key file cannot be read or written.
    #[error("signing key {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("signing key {path}: {detail}")]
    BadKey {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The system's random source failed.
    #[error("no random bytes for a new key: {0}")]
    Random(String),
    /// A line of a heads file is not a signed head.
    #[error("line {line}: {detail}")]
    BadHead {
        /// Its number, from 1.
        line: usize,
        /// What is wrong.
        detail: String,
    },
}

/// The server's signing key.
pub struct SigningKey(Ed25519Key);

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<SigningKey, HeadError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| HeadError::Random(e.to_string()))?;
        Ok(SigningKey(Ed25519Key::from_bytes(&secret)))
    }

    /// Writes the key to a new file readable by its owner only; an existing file is never
    /// overwritten.
    pub fn create_file(&self, path: &Path) -> Result<(), HeadError> {
        use std::io::Write;
        let io = |source| HeadError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        writeln!(file, "{}", hex(&self.0.to_bytes())).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key written by [`SigningKey::create_file`].
    pub fn from_file(path: &Path) -> Result<SigningKey, HeadError> {
        let text = std::fs::read_to_string(path).map_err(|source| HeadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let secret = unhex::<32>(text.trim()).ok_or_else(|| HeadError::BadKey {
            path: path.to_owned(),
            detail: "expected 64 hexadecimal characters (an Ed25519 secret key)".into(),
        })?;
        Ok(SigningKey(Ed25519Key::from_bytes(&secret)))
    }

    /// The public key, in hexadecimal: what auditors pin.
    pub fn public_hex(&self) -> String {
        hex(self.0.verifying_key().as_bytes())
    }

    /// Signs a tree head as of `at`.
    pub fn sign(&self, head: TreeHead, at: Timestamp) -> SignedHead {
        let signature = self.0.sign(&message(&head, at)).to_bytes();
        SignedHead {
            head,
            timestamp: at,
            public_key: self.0.verifying_key().to_bytes(),
            signature,
        }
    }
}

/// A tree head, when it was signed, by which key, and the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHead {
    /// The head.
    pub head: TreeHead,
    /// When it was signed (µs since the Unix epoch).
    pub timestamp: Timestamp,
    /// The signer's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The Ed25519 signature of the tag, the size, the time and the root.
    pub signature: [u8; 64],
}

/// A signed head as one line of JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Line {
    size: u64,
    root: String,
    timestamp_micros: i64,
    public_key: String,
    signature: String,
}

impl SignedHead {
    /// Whether the signature is the public key's signature of this head.
    pub fn signature_valid(&self) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.public_key) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&message(&self.head, self.timestamp), &signature)
            .is_ok()
    }

    /// The public key in hexadecimal.
    pub fn public_hex(&self) -> String {
        hex(&self.public_key)
    }

    /// The head as one line of JSON (no line break), the form of a heads file.
    pub fn to_json_line(&self) -> String {
        let line = Line {
            size: self.head.size,
            root: hex(&self.head.root),
            timestamp_micros: self.timestamp.0,
            public_key: hex(&self.public_key),
            signature: hex(&self.signature),
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Reads every signed head of a heads file (one JSON object per line; blank lines
    /// skipped), refusing a line that is not one or whose signature does not verify.
    pub fn parse_file(text: &str) -> Result<Vec<SignedHead>, HeadError> {
        let mut heads = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let bad = |detail: String| HeadError::BadHead {
                line: i + 1,
                detail,
            };
            let line: Line = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
            let head = SignedHead {
                head: TreeHead {
                    size: line.size,
                    root: unhex::<32>(&line.root)
                        .ok_or_else(|| bad("root: 64 hex digits".into()))?,
                },
                timestamp: Timestamp(line.timestamp_micros),
                public_key: unhex::<32>(&line.public_key)
                    .ok_or_else(|| bad("publicKey: 64 hex digits".into()))?,
                signature: unhex::<64>(&line.signature)
                    .ok_or_else(|| bad("signature: 128 hex digits".into()))?,
            };
            if !head.signature_valid() {
                return Err(bad("the signature does not verify".into()));
            }
            heads.push(head);
        }
        Ok(heads)
    }
}

fn message(head: &TreeHead, at: Timestamp) -> Vec<u8> {
    let mut m = Vec::with_capacity(TAG.len() + 48);
    m.extend_from_slice(TAG);
    m.extend_from_slice(&head.size.to_be_bytes());
    m.extend_from_slice(&at.0.to_be_bytes());
    m.extend_from_slice(&head.root);
    m
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from `2 × N` hexadecimal characters.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A tree hash in hexadecimal, as auditors see it.
pub fn tree_hex(hash: &TreeHash) -> String {
    ChainHash(*hash).to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_head_round_trips_and_any_change_breaks_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let key = SigningKey::generate().unwrap();
        key.create_file(&path).unwrap();
        assert!(key.create_file(&path).is_err(), "never overwritten");
        let key = SigningKey::from_file(&path).unwrap();
        let head = TreeHead {
            size: 42,
            root: [7; 32],
        };
        let signed = key.sign(head, Timestamp(1_000));
        assert!(signed.signature_valid());
        let line = signed.to_json_line();
        assert_eq!(SignedHead::parse_file(&line).unwrap(), vec![signed]);
        let mut grown = signed;
        grown.head.size = 43;
        assert!(!grown.signature_valid());
        let forged = grown.to_json_line();
        assert!(matches!(
            SignedHead::parse_file(&format!("{line}\n\n{forged}\n")),
            Err(HeadError::BadHead { line: 3, .. })
        ));
    }
}
