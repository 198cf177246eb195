//! The OAuth token source of a client: the token request form, the fetch
//! (through the token store when there is one) and the cache it fills.

use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use super::JWT_BEARER_ASSERTION_TYPE;
use crate::assertion::create_assertion;
use crate::cache::{Fetcher, TokenCache};
use crate::credentials::ClientAuth;
use crate::error::Result;
use crate::events::EventSink;
use crate::refresher::TokenSource;
use crate::secret::SecretString;
use crate::store::{SharedStore, TokenStoreStatus};
use crate::token::{AccessToken, Grant};
use crate::transport::{push_form_pair, TokenForm, Transport};

pub(super) struct OAuthSource {
    pub(super) client_id: String,
    pub(super) scope: Option<String>,
    pub(super) method: ClientAuth,
    pub(super) token_url: String,
    pub(super) transport: Transport,
    pub(super) cache: TokenCache,
    pub(super) events: Option<EventSink>,
    /// Shared with other processes, if configured: consulted on every fetch.
    pub(super) store: Option<SharedStore>,
    /// Whether the store is in use, or why not.
    pub(super) store_status: TokenStoreStatus,
}

impl OAuthSource {
    /// The form of one token request; an assertion's signer must return by
    /// `deadline`.
    pub(super) fn form(&self, deadline: Instant) -> Result<TokenForm> {
        // Sized for the worst case up front: a reallocation would free a
        // copy of the secret without zeroizing it.
        let secret_len = match &self.method {
            ClientAuth::Secret(secret) => secret.len(),
            ClientAuth::PrivateKeyJwt { .. } => crate::limits::MAX_ASSERTION_LEN,
        };
        let mut body = String::with_capacity(
            160 + JWT_BEARER_ASSERTION_TYPE.len() * 3
                + (self.client_id.len() + secret_len + self.scope.as_ref().map_or(0, String::len))
                    * 3,
        );
        push_form_pair(&mut body, "grant_type", "client_credentials");
        push_form_pair(&mut body, "client_id", &self.client_id);
        if let Some(scope) = &self.scope {
            push_form_pair(&mut body, "scope", scope);
        }
        let secret = match &self.method {
            ClientAuth::Secret(secret) => {
                push_form_pair(&mut body, "client_secret", secret.expose_secret());
                secret.clone()
            }
            ClientAuth::PrivateKeyJwt { key, options } => {
                let assertion = create_assertion(
                    key,
                    &self.client_id,
                    &self.token_url,
                    options,
                    (SystemTime::now(), deadline),
                )?;
                push_form_pair(
                    &mut body,
                    "client_assertion_type",
                    JWT_BEARER_ASSERTION_TYPE,
                );
                push_form_pair(&mut body, "client_assertion", assertion.expose_secret());
                assertion
            }
        };
        Ok(TokenForm {
            body: SecretString::new(body),
            secret,
        })
    }

    /// A new token: through the token store when there is one, so that one
    /// process of a fleet fetches for all.
    pub(super) fn fetch(&self) -> Result<Grant> {
        match &self.store {
            Some(store) => store.fetch(
                &|lifetime, remaining| self.cache.would_serve(lifetime, remaining),
                &|| self.request(),
            ),
            None => self.request(),
        }
    }

    /// A token request to the token endpoint.
    pub(super) fn request(&self) -> Result<Grant> {
        self.transport
            .request_token(&self.token_url, &mut |deadline| self.form(deadline))
    }

    pub(super) fn token(&self) -> Result<AccessToken> {
        self.cache.get(|| self.fetch())
    }

    /// A source with the same credentials and settings and nothing else in
    /// common, for a child process (see the list in [`crate::fork`]): an
    /// empty cache, a new HTTP agent and the store with state of its own.
    pub(super) fn fresh(&self) -> Result<Arc<OAuthSource>> {
        Ok(OAuthSource {
            transport: self.transport.for_child()?,
            cache: self.cache.empty_like(),
            client_id: self.client_id.clone(),
            scope: self.scope.clone(),
            method: self.method.clone(),
            token_url: self.token_url.clone(),
            events: self.events.clone(),
            store: self.store.as_ref().map(SharedStore::for_child),
            store_status: self.store_status.clone(),
        }
        .started())
    }

    /// Shares the source and lets its cache run fetches on library threads.
    pub(super) fn started(self) -> Arc<OAuthSource> {
        let source = Arc::new(self);
        let weak = Arc::downgrade(&source);
        source.cache.set_fetcher(weak as Weak<dyn Fetcher>);
        if let Some(sink) = &source.events {
            source.cache.set_events(sink.clone());
        }
        source
    }
}

impl Fetcher for OAuthSource {
    fn run_claimed(&self, background: bool) {
        let _ = self.cache.run_fetch(|| self.fetch(), background);
    }
}

impl TokenSource for OAuthSource {
    fn current(&self) -> Option<AccessToken> {
        self.cache.current()
    }

    fn get(&self) -> Result<AccessToken> {
        self.token()
    }

    fn refresh_now(&self) -> Result<Option<AccessToken>> {
        self.cache.refresh_now(|| self.fetch())
    }

    fn refresher_stopped(&self) {
        self.cache.set_background(false);
    }

    fn watch(&self, on_change: Arc<dyn Fn() + Send + Sync>) {
        self.cache.set_watcher(on_change);
    }
}
