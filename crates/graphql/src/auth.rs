//! Bearer tokens and roles: who is calling, and what each role may do.
//!
//! Tokens are random (244 bits), shown once when created, and stored only as BLAKE3 hashes in
//! `<data>/tokens` (one `name<TAB>role<TAB>hash` line each), so a copy of the data folder
//! does not leak usable tokens. The file is re-read when it changes, so `dealtrail token`
//! works while the server runs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use dealtrail_domain::UserId;

/// What a caller may do; see `docs/api.md` for the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, async_graphql::Enum)]
pub enum Role {
    /// Everything, including the raw log.
    Admin,
    /// Every deal and account, and the analyses.
    Manager,
    /// A rep: writes to the deals he owns and to accounts.
    Sales,
    /// Presales engineers: their own records on deals.
    Presales,
    /// Engineering: demos and proofs of concept.
    Engineering,
    /// Customer service: service records and satisfaction checks.
    Support,
    /// Reads the analyses.
    Analyst,
    /// Reads the raw log and verifies it.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Manager,
        Role::Sales,
        Role::Presales,
        Role::Engineering,
        Role::Support,
        Role::Analyst,
        Role::Auditor,
    ];

    /// The lower-case name used in the token file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Presales => "presales",
            Role::Engineering => "engineering",
            Role::Support => "support",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name: the actor of every event this caller writes.
    pub user: UserId,
    /// What the caller may do.
    pub role: Role,
}

/// The token a WebSocket was opened with, kept with the connection so that every operation
/// on it checks the token as it stands now, not as it stood at `connection_init`.
#[derive(Clone)]
pub struct LiveToken {
    /// The presented token.
    pub token: String,
    /// The token file to check it against.
    pub tokens: std::sync::Arc<Tokens>,
}

impl LiveToken {
    /// Whether the token is still valid (not revoked). An unreadable token file counts as
    /// not valid: a socket is not kept open on a check that cannot be made.
    pub fn is_valid(&self) -> bool {
        matches!(self.tokens.authenticate(&self.token), Ok(Some(_)))
    }
}

/// Failures of the token file.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name is not a valid user id.
    #[error("token name {0:?} is not a valid user name (1 to 128 characters)")]
    Name(String),
    /// A token with this name exists.
    #[error("a token named {0:?} exists already; revoke it first")]
    Exists(String),
    /// No token has this name.
    #[error("no token is named {0:?}")]
    Unknown(String),
    /// The file could not be read or written.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the file is damaged.
    #[error("token file {path}, line {line}: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
        /// What is wrong.
        detail: String,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    user: UserId,
    role: Role,
    hash: String,
}

/// A file's modification time and size.
type FileStamp = (SystemTime, u64);

/// The token file of a data folder.
pub struct Tokens {
    path: PathBuf,
    /// The entries with the file's modification time and size when they were read.
    cache: Mutex<(Option<FileStamp>, Vec<Entry>)>,
}

fn hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

impl Tokens {
    /// The tokens of the data folder `dir`.
    pub fn in_folder(dir: &Path) -> Tokens {
        Tokens {
            path: dir.join("tokens"),
            cache: Mutex::new((None, Vec::new())),
        }
    }

    fn read(&self) -> Result<Vec<Entry>, TokenError> {
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |detail: &str| TokenError::Malformed {
                path: self.path.clone(),
                line: i + 1,
                detail: detail.into(),
            };
            let mut parts = line.split('\t');
            let (Some(name), Some(role), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(malformed("expected name, role and hash separated by tabs"));
            };
            out.push(Entry {
                user: UserId::parse(name).map_err(|_| malformed("invalid name"))?,
                role: Role::parse(role).ok_or_else(|| malformed("unknown role"))?,
                hash: hash.to_owned(),
            });
        }
        Ok(out)
    }

    fn write(&self, entries: &[Entry]) -> Result<(), TokenError> {
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        let text: String = entries
            .iter()
            .map(|e| format!("{}\t{}\t{}\n", e.user, e.role.as_str(), e.hash))
            .collect();
        // Write a new file and rename it over the old one, so a reader never sees half.
        let tmp = self.path.with_extension("new");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }

    /// Creates a token and returns it; only its hash is kept.
    pub fn create(&self, name: &str, role: Role) -> Result<String, TokenError> {
        let user = UserId::parse(name).map_err(|_| TokenError::Name(name.into()))?;
        let mut entries = self.read()?;
        if entries.iter().any(|e| e.user == user) {
            return Err(TokenError::Exists(name.into()));
        }
        let token = format!(
            "dt_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        entries.push(Entry {
            user,
            role,
            hash: hash(&token),
        });
        self.write(&entries)?;
        Ok(token)
    }

    /// Revokes the token named `name`.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let mut entries = self.read()?;
        let before = entries.len();
        entries.retain(|e| e.user.as_str() != name);
        if entries.len() == before {
            return Err(TokenError::Unknown(name.into()));
        }
        self.write(&entries)
    }

    /// Names and roles of every token.
    pub fn list(&self) -> Result<Vec<(String, Role)>, TokenError> {
        Ok(self
            .read()?
            .into_iter()
            .map(|e| (e.user.to_string(), e.role))
            .collect())
    }

    /// The identity behind a presented token, if it is valid.
    pub fn authenticate(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        let meta = std::fs::metadata(&self.path).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        // Two writes within one timestamp tick look unchanged by time alone: a file changed
        // in the last two seconds is always read again (it is a few lines).
        let fresh = modified
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|age| age < std::time::Duration::from_secs(2));
        let stamp = modified.zip(meta.map(|m| m.len()));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != stamp || fresh {
            *cache = (stamp, self.read()?);
        }
        let presented = hash(token);
        Ok(cache
            .1
            .iter()
            .find(|e| e.hash == presented)
            .map(|e| Identity {
                user: e.user.clone(),
                role: e.role,
            }))
    }
}
