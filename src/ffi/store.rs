//! `alpaca_auth_token_store`: a token store implemented by the application
//! in C (a shared cache on another host, say), given to a builder with
//! `alpaca_auth_builder_set_token_store`. The Rust side is a
//! [`TokenStore`] that calls the callbacks.

use std::ffi::{c_char, c_void, CString};
use std::io;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::builder::alpaca_auth_builder;
use super::error::Failure;
use super::result::alpaca_auth_result;
use crate::limits::MAX_ACCESS_TOKEN_LEN;
use crate::secret::SecretString;
use crate::store::{millis, StoreKey, StoreLock, StoredToken, TokenStore};

/// The callbacks return `ALPACA_AUTH_RESULT_OK` (0) on success; any other
/// value is a failure, after which the library fetches the token itself.
///
/// Loads the entry of `key` (64 hex digits, NUL-terminated). On an entry:
/// copy the access token (no NUL needed) into `token_buf` of `token_buf_len`
/// bytes (`ALPACA_AUTH_MAX_TOKEN_LEN + 1`), set `*token_len_out` to its
/// length, `*expires_at_unix_ms_out` and `*lifetime_ms_out`, return OK.
/// No entry: `*token_len_out = 0`, return OK. Anything else: an error code.
pub type alpaca_auth_store_load_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        key: *const c_char,
        token_buf: *mut c_char,
        token_buf_len: usize,
        token_len_out: *mut usize,
        expires_at_unix_ms_out: *mut u64,
        lifetime_ms_out: *mut u64,
    ) -> u32,
>;

/// Stores the entry of `key`: `token` (NUL-terminated), its expiry in Unix
/// milliseconds and its lifetime in milliseconds, replacing any other.
pub type alpaca_auth_store_publish_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        key: *const c_char,
        token: *const c_char,
        expires_at_unix_ms: u64,
        lifetime_ms: u64,
    ) -> u32,
>;

/// Takes the fetch lock of `key` without waiting: `*acquired_out = true` if
/// this call took it, `false` if another holder has it. A lock must be
/// released if its holder dies (an expiry, or the operating system).
pub type alpaca_auth_store_try_lock_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        key: *const c_char,
        acquired_out: *mut bool,
    ) -> u32,
>;

/// Releases the fetch lock of `key` that a `try_lock` of this process took.
pub type alpaca_auth_store_unlock_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, key: *const c_char) -> u32>;

/// Removes the entry of `key` if it still holds `token` (one the API
/// refused).
pub type alpaca_auth_store_remove_if_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, key: *const c_char, token: *const c_char) -> u32,
>;

/// Frees `user_data` once the library no longer needs it.
pub type alpaca_auth_store_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A token store implemented by the application: callbacks and their
/// `user_data`. Set `struct_size` to `sizeof(alpaca_auth_token_store)`.
///
/// Threading: the callbacks are called on the slow path only (a token
/// fetch, an invalidation; never for a cached header), from any thread of
/// the process, possibly at the same time for different clients: they must
/// be thread-safe. They must not call back into the client, and in C++ must
/// not throw. An error code from any of them makes the library fetch the
/// token itself (a broken store never fails a caller that could fetch).
///
/// Deadlines: each callback runs on a thread of the library's own. A
/// callback that blocks costs a caller at most a quarter of the shorter of
/// its longest wait and the token budget (and as long again for `publish`
/// and `unlock`, and for `remove_if` after a 401), after which the library
/// fetches on its own; the blocked
/// callback keeps its thread until it returns, and at most 4 callbacks of
/// one client are under way at once (beyond that the client fetches
/// without the store until one returns). After `fork()`, a callback that
/// waits on a lock a parent thread held at the fork is abandoned the same
/// way. `free_user_data` runs only after every callback has returned.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct alpaca_auth_token_store {
    /// `sizeof(alpaca_auth_token_store)` as the caller compiled it.
    pub struct_size: usize,
    /// Passed to every callback.
    pub user_data: *mut c_void,
    /// Required.
    pub load: alpaca_auth_store_load_fn,
    /// Required.
    pub publish: alpaca_auth_store_publish_fn,
    /// Required.
    pub try_lock: alpaca_auth_store_try_lock_fn,
    /// Required.
    pub unlock: alpaca_auth_store_unlock_fn,
    /// Optional: without it, a 401 does not remove the entry fleet-wide.
    pub remove_if: alpaca_auth_store_remove_if_fn,
    /// Optional: called once per successful
    /// `alpaca_auth_builder_set_token_store`, when its builder or client is
    /// freed, or, if a token fetch is then still running on a library
    /// thread, when that fetch ends (within the token budget).
    pub free_user_data: alpaca_auth_store_free_fn,
}

/// The size of `alpaca_auth_token_store` in its first published version (up
/// to the end of its last field, `free_user_data`): fields added later come
/// after it and are read only from callers whose `struct_size` covers them.
const TOKEN_STORE_V1_SIZE: usize = std::mem::offset_of!(alpaca_auth_token_store, free_user_data)
    + std::mem::size_of::<alpaca_auth_store_free_fn>();

/// The callbacks, checked, and the obligation to free `user_data`.
struct CallbackStore {
    user_data: *mut c_void,
    load: Required<alpaca_auth_store_load_fn>,
    publish: Required<alpaca_auth_store_publish_fn>,
    try_lock: Required<alpaca_auth_store_try_lock_fn>,
    unlock: Required<alpaca_auth_store_unlock_fn>,
    remove_if: alpaca_auth_store_remove_if_fn,
    free_user_data: alpaca_auth_store_free_fn,
}

/// The function pointer inside a callback type (checked non-NULL).
type Required<F> = <F as NonNull>::Fn;

/// A nullable callback type and its function pointer.
trait NonNull {
    type Fn;
}

impl<F> NonNull for Option<F> {
    type Fn = F;
}

// SAFETY: `user_data` is only ever passed back to the application's
// callbacks, which the C API documents as callable from any thread at the
// same time (alpaca_auth_token_store's threading rule); nothing here reads
// or writes through the pointer.
unsafe impl Send for CallbackStore {}
// SAFETY: as for Send: shared use only passes the pointer to thread-safe
// callbacks.
unsafe impl Sync for CallbackStore {}

impl Drop for CallbackStore {
    fn drop(&mut self) {
        if let Some(free) = self.free_user_data {
            // SAFETY: the application's callback, called once, with the
            // user_data it gave.
            unsafe { free(self.user_data) };
        }
    }
}

/// A callback's result: `ALPACA_AUTH_RESULT_OK` (0) or anything else,
/// read as a plain integer (a value this library does not know is an error
/// too, never undefined behaviour).
fn check(result: u32, what: &str) -> io::Result<()> {
    if result == alpaca_auth_result::Ok as u32 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the token store's {what} callback returned {result}"
        )))
    }
}

fn c_key(key: &StoreKey) -> CString {
    // 64 hex digits: never a NUL inside.
    CString::new(key.as_str()).unwrap_or_default()
}

impl TokenStore for Arc<CallbackStore> {
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>> {
        let key = c_key(key);
        let mut buf = Zeroizing::new(vec![0u8; MAX_ACCESS_TOKEN_LEN + 1]);
        let (mut len, mut expires_at, mut lifetime) = (0usize, 0u64, 0u64);
        // SAFETY: the application's callback with its user_data, a
        // NUL-terminated key, a buffer of the length given, and valid
        // output pointers, all living across the call.
        let result = unsafe {
            (self.load)(
                self.user_data,
                key.as_ptr(),
                buf.as_mut_ptr().cast::<c_char>(),
                buf.len(),
                &mut len,
                &mut expires_at,
                &mut lifetime,
            )
        };
        check(result, "load")?;
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_ACCESS_TOKEN_LEN {
            return Err(io::Error::other("the token store's entry is too long"));
        }
        let token = std::str::from_utf8(&buf[..len])
            .map_err(|_| io::Error::other("the token store's entry is not UTF-8"))?;
        Ok(Some(StoredToken {
            access_token: SecretString::new(token.to_owned()),
            expires_at: UNIX_EPOCH + Duration::from_millis(expires_at),
            lifetime: Duration::from_millis(lifetime),
        }))
    }

    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()> {
        let key = c_key(key);
        let value = Zeroizing::new(
            CString::new(token.access_token.expose_secret())
                .map_err(|_| io::Error::other("a token with a NUL byte"))?
                .into_bytes_with_nul(),
        );
        let expires_at = millis(
            token
                .expires_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
        // SAFETY: the application's callback; both strings are
        // NUL-terminated and live across the call.
        let result = unsafe {
            (self.publish)(
                self.user_data,
                key.as_ptr(),
                value.as_ptr().cast::<c_char>(),
                expires_at,
                millis(token.lifetime),
            )
        };
        check(result, "publish")
    }

    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        let key = c_key(key);
        let mut acquired = false;
        // SAFETY: the application's callback; the key and the output live
        // across the call.
        let result = unsafe { (self.try_lock)(self.user_data, key.as_ptr(), &mut acquired) };
        check(result, "try_lock")?;
        Ok(acquired.then(|| {
            Box::new(CallbackLock {
                store: Arc::clone(self),
                key,
            }) as Box<dyn StoreLock>
        }))
    }

    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()> {
        let Some(remove_if) = self.remove_if else {
            return Ok(());
        };
        let key = c_key(key);
        let token = Zeroizing::new(
            CString::new(token)
                .map_err(|_| io::Error::other("a token with a NUL byte"))?
                .into_bytes_with_nul(),
        );
        // SAFETY: the application's callback; both strings are
        // NUL-terminated and live across the call.
        let result = unsafe {
            remove_if(
                self.user_data,
                key.as_ptr(),
                token.as_ptr().cast::<c_char>(),
            )
        };
        check(result, "remove_if")
    }
}

/// A fetch lock taken through the callbacks; dropping it calls `unlock`.
struct CallbackLock {
    store: Arc<CallbackStore>,
    key: CString,
}

impl StoreLock for CallbackLock {}

impl Drop for CallbackLock {
    fn drop(&mut self) {
        // SAFETY: the application's callback with its user_data and the key
        // this lock was taken for. Its result cannot change anything now:
        // a lock left behind is the store's to expire.
        let _ = unsafe { (self.store.unlock)(self.store.user_data, self.key.as_ptr()) };
    }
}

/// A checked copy of the caller's struct as a [`TokenStore`].
///
/// # Safety
///
/// `store` is NULL or points to an `alpaca_auth_token_store` of at least
/// `struct_size` readable bytes whose `struct_size` is set.
pub(crate) unsafe fn callback_store(
    store: *const alpaca_auth_token_store,
) -> Result<Arc<dyn TokenStore>, Failure> {
    // SAFETY: forwarded caller guarantee.
    let size = unsafe { super::caller_struct_size(store, "store", TOKEN_STORE_V1_SIZE) }?;
    // Only the bytes the caller's struct has; later fields stay NULL.
    let size = size.min(std::mem::size_of::<alpaca_auth_token_store>());
    let mut callbacks = std::mem::MaybeUninit::<alpaca_auth_token_store>::zeroed();
    // SAFETY: `size` bytes are readable at `store` (the caller's struct_size,
    // at least the first version's, checked) and fit in `callbacks`; an
    // all-zero alpaca_auth_token_store is valid (NULL pointers, None
    // callbacks), and the copied bytes are the caller's initialised fields.
    let callbacks = unsafe {
        std::ptr::copy_nonoverlapping(
            store.cast::<u8>(),
            callbacks.as_mut_ptr().cast::<u8>(),
            size,
        );
        callbacks.assume_init()
    };
    let required = |name: &str| {
        Failure::new(
            alpaca_auth_result::InvalidArgument,
            format!("store->{name} is NULL: load, publish, try_lock and unlock are required"),
        )
    };
    let inner = CallbackStore {
        user_data: callbacks.user_data,
        load: callbacks.load.ok_or_else(|| required("load"))?,
        publish: callbacks.publish.ok_or_else(|| required("publish"))?,
        try_lock: callbacks.try_lock.ok_or_else(|| required("try_lock"))?,
        unlock: callbacks.unlock.ok_or_else(|| required("unlock"))?,
        remove_if: callbacks.remove_if,
        free_user_data: callbacks.free_user_data,
    };
    Ok(Arc::new(Arc::new(inner)))
}

/// Shares tokens through a store the application implements (see
/// `alpaca_auth_token_store` for the callbacks and their threading rules).
/// The struct is copied; on `ALPACA_AUTH_RESULT_OK` the library owns
/// `user_data` and calls `free_user_data` (if set) exactly once for this
/// call, when the builder (if never built) or the client built from it is
/// freed. A token fetch running on a library thread at that moment keeps
/// the store until it ends (within the token budget): until
/// `free_user_data` is called, the callbacks may still be called. Two
/// builders given the same `user_data` free it twice: count references in
/// `user_data` to share one. On failure (NULL, a
/// `struct_size` that is too small, a required callback missing:
/// `ALPACA_AUTH_RESULT_INVALID_ARGUMENT`) nothing is kept and `user_data`
/// stays the caller's. Replaces `alpaca_auth_builder_set_token_cache_dir`.
///
/// # Safety
///
/// `builder` is NULL or a live builder not used concurrently; `store` is
/// NULL or points to an `alpaca_auth_token_store` with `struct_size` set,
/// whose callbacks follow its rules for as long as the library holds them.
#[no_mangle]
pub unsafe extern "C" fn alpaca_auth_builder_set_token_store(
    builder: *mut alpaca_auth_builder,
    store: *const alpaca_auth_token_store,
) -> alpaca_auth_result {
    super::panic::ffi_boundary!({
        // SAFETY: the caller's guarantees are those with_builder and
        // callback_store need.
        unsafe {
            super::builder::with_builder(builder, |b| {
                let store = callback_store(store)?;
                b.set_token_store(store);
                Ok(())
            })
        }
    })
}
