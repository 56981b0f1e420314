//! The contract every read model implements: a pure fold over the log.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::{Event, Recorded};

/// A read model folded from events in log order.
///
/// `apply` is the only way state changes, so a live update, a full rebuild and an "as of"
/// replay of a log prefix are the same code. Implementations never fail and never look at
/// a clock: everything they know comes from the events.
pub trait Projection: Default + Serialize + DeserializeOwned + Send + 'static {
    /// Stable name, used to store its snapshots.
    const NAME: &'static str;
    /// Version of the snapshot encoding and of the fold's meaning: bump it whenever either
    /// changes, and stored snapshots of older versions are discarded and rebuilt.
    const VERSION: u32;

    /// Folds one event in.
    fn apply(&mut self, event: &Recorded<Event>);

    /// Whether events of this type can change the model. The runner does not even decode
    /// the others, which is most of the cost of a rebuild. Must be `true` for every type
    /// `apply` reads.
    fn wants(event_type: &str) -> bool {
        let _ = event_type;
        true
    }

    /// The snapshot bytes: version, then the state as MessagePack.
    fn snapshot(&self) -> Vec<u8> {
        let mut bytes = Self::VERSION.to_be_bytes().to_vec();
        rmp_serde::encode::write(&mut bytes, self)
            .expect("encoding a read model into a Vec cannot fail");
        bytes
    }

    /// Restores a snapshot; `None` if it was written by another version or cannot be read,
    /// in which case the caller rebuilds from the log.
    fn restore(bytes: &[u8]) -> Option<Self> {
        let (version, state) = bytes.split_at_checked(4)?;
        if u32::from_be_bytes(version.try_into().ok()?) != Self::VERSION {
            return None;
        }
        rmp_serde::from_slice(state).ok()
    }
}

/// Repeated names (stages, users, product lines) that a read model stores once and refers
/// to by number, so that a hundred thousand deals do not each carry their own copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Names {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl From<Vec<String>> for Names {
    fn from(names: Vec<String>) -> Names {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        Names { names, index }
    }
}

impl From<Names> for Vec<String> {
    fn from(n: Names) -> Vec<String> {
        n.names
    }
}

impl Names {
    /// The number of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    /// The number of `name`, if known.
    pub fn find(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// How many names are known.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name with number `i`.
    pub fn get(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }
}
