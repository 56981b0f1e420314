//! The personal-data keys in PostgreSQL, for several servers on one log: every server's
//! key file becomes a cache of the `dealtrail_keys` table.
//!
//! A key is committed in the database before anything is sealed under it, so a server that
//! copies an event from the log finds its key there. An erasure clears the key in the
//! database and moves the head row's `keys_changed` counter in the same transaction; each
//! follower watches the counter and erases its own copy (see [`crate::pg::follow`]).
//!
//! The statements run on a thread of their own, since the vault is called from inside the
//! server's async runtime, where the synchronous client may not run.

use std::sync::mpsc;

use postgres::Client;
use uuid::Uuid;

use crate::error::StoreError;
use crate::vault::{KeyState, PersonKey};

type Reply<T> = mpsc::Sender<Result<T, StoreError>>;

enum KeyOp {
    /// The states the database holds for these people (absent ones left out).
    Get(Vec<Uuid>, Reply<Vec<(Uuid, KeyState)>>),
    /// Stores keys for people who have none yet; answers what the database then holds for
    /// them (another server's key, if it was first).
    Put(Vec<(Uuid, PersonKey)>, Reply<Vec<(Uuid, KeyState)>>),
    /// Destroys a person's key; answers whether there was a live one.
    Erase(Uuid, Reply<bool>),
    /// Every person the database knows, in id order.
    All(Reply<Vec<(Uuid, KeyState)>>),
}

/// The vault's way to the database: requests to the keys thread, answered in turn.
pub(crate) struct KeyLink {
    tx: mpsc::Sender<KeyOp>,
}

fn failed(context: &str, e: postgres::Error) -> StoreError {
    StoreError::Upstream(format!("{context}: {e}"))
}

impl KeyLink {
    /// Starts the keys thread for the database at `url`; it ends when the link is dropped.
    pub fn start(url: &str) -> std::io::Result<KeyLink> {
        let (tx, rx) = mpsc::channel();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("dealtrail-keys".into())
            .spawn(move || serve(&url, rx))?;
        Ok(KeyLink { tx })
    }

    fn ask<T>(&self, op: impl FnOnce(Reply<T>) -> KeyOp) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::channel();
        self.tx.send(op(reply)).map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    pub fn get(&self, people: &[Uuid]) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
        self.ask(|r| KeyOp::Get(people.to_vec(), r))
    }

    pub fn put(&self, keys: Vec<(Uuid, PersonKey)>) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
        self.ask(|r| KeyOp::Put(keys, r))
    }

    pub fn erase(&self, person: Uuid) -> Result<bool, StoreError> {
        self.ask(|r| KeyOp::Erase(person, r))
    }

    pub fn all(&self) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
        self.ask(KeyOp::All)
    }
}

fn serve(url: &str, rx: mpsc::Receiver<KeyOp>) {
    let mut client: Option<Client> = None;
    while let Ok(op) = rx.recv() {
        let connected = match client.take().filter(|c| !c.is_closed()) {
            Some(c) => Ok(c),
            None => crate::pgconnect::connect(url),
        };
        let mut c = match connected {
            Ok(c) => c,
            Err(e) => {
                answer_error(op, e);
                continue;
            }
        };
        let ok = match op {
            KeyOp::Get(people, reply) => send(&reply, get(&mut c, &people)),
            KeyOp::Put(keys, reply) => send(&reply, put(&mut c, &keys)),
            KeyOp::Erase(person, reply) => send(&reply, erase(&mut c, person)),
            KeyOp::All(reply) => send(&reply, all(&mut c)),
        };
        // A failed statement may have left the connection unusable: start afresh.
        if ok {
            client = Some(c);
        }
    }
}

fn send<T>(reply: &Reply<T>, result: Result<T, StoreError>) -> bool {
    let ok = result.is_ok();
    let _ = reply.send(result);
    ok
}

fn answer_error(op: KeyOp, e: StoreError) {
    let text = e.to_string();
    let e = || StoreError::Upstream(text.clone());
    match op {
        KeyOp::Get(_, r) | KeyOp::Put(_, r) | KeyOp::All(r) => {
            let _ = r.send(Err(e()));
        }
        KeyOp::Erase(_, r) => {
            let _ = r.send(Err(e()));
        }
    }
}

fn state_of(row: &postgres::Row) -> Result<(Uuid, KeyState), StoreError> {
    let person: &[u8] = row.get(0);
    let key: Option<&[u8]> = row.get(1);
    let person = Uuid::from_slice(person)
        .map_err(|_| StoreError::corrupt("dealtrail_keys", "a person id is not 16 bytes"))?;
    let state = match key {
        None => KeyState::Erased,
        Some(k) => KeyState::Live(<[u8; 32]>::try_from(k).map_err(|_| {
            StoreError::corrupt(
                "dealtrail_keys",
                format!("the key of {person} is not 32 bytes"),
            )
        })?),
    };
    Ok((person, state))
}

fn get(c: &mut Client, people: &[Uuid]) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
    let ids: Vec<&[u8]> = people.iter().map(|p| &p.as_bytes()[..]).collect();
    c.query(
        "SELECT person, key FROM dealtrail_keys WHERE person = ANY($1)",
        &[&ids],
    )
    .map_err(|e| failed("cannot read keys", e))?
    .iter()
    .map(state_of)
    .collect()
}

fn put(c: &mut Client, keys: &[(Uuid, PersonKey)]) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
    let mut tx = c
        .transaction()
        .map_err(|e| failed("cannot begin a transaction", e))?;
    for (person, key) in keys {
        tx.execute(
            "INSERT INTO dealtrail_keys (person, key) VALUES ($1, $2) ON CONFLICT (person) DO NOTHING",
            &[&&person.as_bytes()[..], &&key[..]],
        )
        .map_err(|e| failed("cannot store a key", e))?;
    }
    tx.commit().map_err(|e| failed("cannot commit keys", e))?;
    let people: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    get(c, &people)
}

fn erase(c: &mut Client, person: Uuid) -> Result<bool, StoreError> {
    let id = &person.as_bytes()[..];
    let mut tx = c
        .transaction()
        .map_err(|e| failed("cannot begin a transaction", e))?;
    // The head row's lock orders erasures with appends and with each other.
    let epoch: i64 = tx
        .query_one(
            "SELECT keys_changed FROM dealtrail_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .map_err(|e| failed("cannot lock the head", e))?
        .get(0);
    let next = epoch + 1;
    let cleared = tx
        .execute(
            "UPDATE dealtrail_keys SET key = NULL, erased_epoch = $2 WHERE person = $1 AND key IS NOT NULL",
            &[&id, &next],
        )
        .map_err(|e| failed("cannot erase a key", e))?;
    // A person the database never had a key for is recorded as erased, so no server makes one.
    let added = tx
        .execute(
            "INSERT INTO dealtrail_keys (person, key, erased_epoch) VALUES ($1, NULL, $2) \
             ON CONFLICT (person) DO NOTHING",
            &[&id, &next],
        )
        .map_err(|e| failed("cannot erase a key", e))?;
    if cleared + added > 0 {
        tx.execute(
            "UPDATE dealtrail_head SET keys_changed = $1 WHERE id = 1",
            &[&next],
        )
        .map_err(|e| failed("cannot move the key counter", e))?;
    }
    tx.commit()
        .map_err(|e| failed("cannot commit an erasure", e))?;
    Ok(cleared > 0)
}

fn all(c: &mut Client) -> Result<Vec<(Uuid, KeyState)>, StoreError> {
    c.query(
        "SELECT person, key FROM dealtrail_keys ORDER BY person",
        &[],
    )
    .map_err(|e| failed("cannot read keys", e))?
    .iter()
    .map(state_of)
    .collect()
}

/// People erased since the counter was at `since` (for followers).
pub(crate) fn erased_since(c: &mut Client, since: i64) -> Result<Vec<Uuid>, StoreError> {
    Ok(c.query(
        "SELECT person FROM dealtrail_keys WHERE erased_epoch > $1",
        &[&since],
    )
    .map_err(|e| failed("cannot read erasures", e))?
    .iter()
    .filter_map(|row| Uuid::from_slice(row.get::<_, &[u8]>(0)).ok())
    .collect())
}
