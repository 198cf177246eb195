//! Writing your own token store: the [`TokenStore`] trait over a shared
//! place of your choosing, here a map in memory shared by several clients
//! (stand-ins for processes; a real store lives where every process can
//! reach it: a database, a cache service). The built-in stores need no code:
//! `ClientBuilder::token_cache_dir` (one host) and, with the cargo feature
//! `redis`, `ClientBuilder::token_store_url` (a fleet).
//!
//! ```text
//! cargo run --example custom_store
//! ```
//!
//! It starts the mock server in-process; the output names no secret.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use alpaca_auth::mock::{MockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET};
use alpaca_auth::{Client, Credentials, Environment, StoreKey, StoreLock, StoredToken, TokenStore};

/// Entries (as [`StoredToken::to_entry`] writes them) and held locks, by key.
#[derive(Default)]
struct MemoryStore {
    entries: Mutex<HashMap<String, String>>,
    locks: Arc<Mutex<Vec<String>>>,
}

/// A held lock: released when dropped.
struct Held {
    key: String,
    locks: Arc<Mutex<Vec<String>>>,
}

impl StoreLock for Held {}

impl Drop for Held {
    fn drop(&mut self) {
        if let Ok(mut locks) = self.locks.lock() {
            locks.retain(|held| held != &self.key);
        }
    }
}

fn poisoned<T>(_: T) -> io::Error {
    io::Error::other("a thread panicked while holding the store")
}

impl TokenStore for MemoryStore {
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>> {
        let entries = self.entries.lock().map_err(poisoned)?;
        // An entry that does not parse, or names another key, is ignored.
        Ok(entries
            .get(key.as_str())
            .and_then(|entry| StoredToken::from_entry(key, entry.as_bytes())))
    }

    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()> {
        let entry = token.to_entry(key).expose_secret().to_owned();
        let mut entries = self.entries.lock().map_err(poisoned)?;
        entries.insert(key.as_str().to_owned(), entry);
        Ok(())
    }

    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        if locks.iter().any(|held| held == key.as_str()) {
            return Ok(None); // another holder fetches: the library waits for its token
        }
        locks.push(key.as_str().to_owned());
        Ok(Some(Box::new(Held {
            key: key.as_str().to_owned(),
            locks: Arc::clone(&self.locks),
        })))
    }

    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()> {
        let mut entries = self.entries.lock().map_err(poisoned)?;
        let holds_it = entries
            .get(key.as_str())
            .and_then(|entry| StoredToken::from_entry(key, entry.as_bytes()))
            .is_some_and(|stored| stored.access_token().expose_secret() == token);
        if holds_it {
            entries.remove(key.as_str());
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start()?;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let clients = (0..4)
        .map(|_| {
            Client::builder()
                .environment(Environment::BrokerSandbox)
                .token_url(mock.token_url())
                .credentials(Credentials::client_secret(
                    MOCK_CLIENT_ID,
                    MOCK_CLIENT_SECRET,
                ))
                .token_store(Arc::clone(&store))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    for client in &clients {
        let token = client.access_token()?;
        println!("a token of {} bytes", token.expose_secret().len());
    }
    println!(
        "4 clients, one store: {} token request(s) to the mock",
        mock.token_requests()
    );
    Ok(())
}
