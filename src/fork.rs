//! Fork safety: a process-wide fork generation and a slot holding the state
//! a client builds afresh in a child process.
//!
//! A `pthread_atfork` child handler (registered when the library is loaded,
//! and again, without waiting, when a client is built) bumps
//! [`generation`]. A client remembers the generation it was built in; the
//! cached-header path compares the two (one relaxed atomic load). In a child
//! process they differ, and the client stops using everything it inherited
//! and builds fresh state in a [`ForkSlot`] instead, and leaks what it
//! inherited rather than dropping it: dropping could wait for a thread that
//! does not exist or shut down a connection the parent is using.
//!
//! # What a child can reach, and why it never waits on a parent's thread
//!
//! `fork()` copies every lock in the state it was in; a lock held by a
//! parent thread stays held for ever in the child. Each lock, condition
//! variable, `Once` and descriptor a child can reach through a client is
//! either replaced by a fresh one of the child's generation, or never held
//! by a parent thread at `fork()`. A new lock goes on this list:
//!
//! | reached through a client | in the child |
//! |---|---|
//! | token cache: `current` (`RwLock`), `flight` and `stats` (`Mutex`), `landed` (`Condvar`), `fetcher`/`watcher`/`events` (`OnceLock`) | fresh cache (`OAuthSource::fresh`, `TokenCache::empty_like`) |
//! | replicas and the C last error (thread-local) | the forking thread's own; keyed by the cache's epoch, which is new |
//! | HTTP agent, its connection pool and the resolver cache (`Mutex`) | fresh agent (`Transport::for_child`), which does not read the environment (std's environment lock) again |
//! | background refresher (`Mutex`, `Condvar`, thread) | a new refresher in the [`ForkSlot`] (its `Mutex` is the child's) |
//! | token store: the refused-token `Mutex` and the count of store calls | fresh (`SharedStore::for_child`); a store call that hangs on a lock of the application's (a C store's mutex held by a parent thread) is abandoned at the store deadline |
//! | file store lock descriptors | closed by this module's child handler (`store::file::close_inherited_locks`), which finds even one opened or closed at the very moment of the fork |
//! | the C event callback's gate (`RwLock`) | one per generation (`ffi::event::EventGate`) |
//! | PKCS#11 signer: its module, session and key (`Mutex`) | one per generation in a [`ForkSlot`] (the module initialised again, a new login); the process-wide list of loaded modules is only try-locked, and a child that finds it held loads the module afresh |
//! | Redis store: idle connections (`Mutex`) | only try-locked; a connection is used only by the process that opened it (tagged with its process ID) |
//! | [`ForkSlot`] | no lock: a compare-and-swap |
//! | this module's registration | an atomic flag, never a `Once` (a `Once` mid-call at the fork would block the child) |
//!
//! What is outside the library's reach: locks in the application's own
//! callbacks (its event callback, its store), the allocator (glibc's
//! `malloc` has its own fork handlers), and ring's and rustls's process-wide
//! one-time initialisation, which completes when the first client is built.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The fork generation of this process: 0 in the original process, bumped
/// in each child at `fork()`.
#[inline]
pub(crate) fn generation() -> u64 {
    // Relaxed is enough: the handler runs on the forking thread, before
    // any other thread of the child exists (thread creation synchronizes).
    GENERATION.load(Ordering::Relaxed)
}

#[cfg(target_os = "linux")]
extern "C" fn in_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    GENERATION.fetch_add(1, Ordering::Relaxed);
    // Async-signal-safe too: open, getdents64, fstat and close only.
    crate::store::close_inherited_locks();
}

/// Installs the `pthread_atfork` child handler, once per process. Never
/// waits (a `Once` could: a thread inside it at `fork()` never leaves it in
/// the child). The library calls it when it is loaded, so no client exists
/// before the handler does; the call at build covers a platform where the
/// load-time call did not run.
pub(crate) fn register() {
    if REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: registers a handler that only does an atomic add and closes
    // inherited lock descriptors with async-signal-safe calls;
    // pthread_atfork has no other precondition.
    #[allow(unsafe_code)]
    unsafe {
        libc::pthread_atfork(None, None, Some(in_child));
    }
}

#[cfg(target_os = "linux")]
extern "C" fn register_at_load() {
    register();
}

/// Registers the fork handler when the library is loaded (an ELF
/// initialiser), before any thread of the program can build a client.
// SAFETY: `.init_array` holds pointers to functions the loader calls with
// no arguments; this is one, and it only does what `register` does.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[used]
#[link_section = ".init_array"]
static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;

struct Entry<T> {
    generation: u64,
    value: T,
}

/// A value built for one fork generation. Values of another generation
/// are never dropped (they belong to the parent process); the current one
/// is dropped with the slot.
pub(crate) struct ForkSlot<T> {
    /// NULL or a pointer from `Box::into_raw`, freed only by `Drop`.
    current: AtomicPtr<Entry<T>>,
    /// Owns `T`: the slot is `Send`/`Sync` only when `T` is (a bare
    /// `AtomicPtr` would make it both for any `T`).
    _owns: PhantomData<Box<T>>,
}

impl<T> Default for ForkSlot<T> {
    fn default() -> Self {
        ForkSlot {
            current: AtomicPtr::new(std::ptr::null_mut()),
            _owns: PhantomData,
        }
    }
}

impl<T> ForkSlot<T> {
    /// The value of generation `generation`, if one is installed.
    #[inline]
    pub(crate) fn get(&self, generation: u64) -> Option<&T> {
        let entry = self.current.load(Ordering::Acquire);
        // SAFETY: entries come from Box::into_raw and are never freed while
        // the slot lives (replaced ones are leaked), so the reference cannot
        // outlive the entry.
        #[allow(unsafe_code)]
        let entry = unsafe { entry.as_ref() }?;
        (entry.generation == generation).then_some(&entry.value)
    }

    /// Installs `value` for `generation` unless another thread got there
    /// first; returns the installed value and whether it is ours.
    pub(crate) fn install(&self, generation: u64, value: T) -> (&T, bool) {
        let mine = Box::into_raw(Box::new(Entry { generation, value }));
        let mut seen = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: as in `get`.
            #[allow(unsafe_code)]
            if let Some(entry) = unsafe { seen.as_ref() } {
                if entry.generation == generation {
                    // SAFETY: `mine` was never shared: we still own it.
                    #[allow(unsafe_code)]
                    drop(unsafe { Box::from_raw(mine) });
                    return (&entry.value, false);
                }
            }
            match self
                .current
                .compare_exchange(seen, mine, Ordering::AcqRel, Ordering::Acquire)
            {
                // The entry replaced (if any) is another generation's: leaked.
                // SAFETY: `mine` is now owned by the slot and never freed
                // before it.
                #[allow(unsafe_code)]
                Ok(_) => return (&unsafe { &*mine }.value, true),
                Err(now) => seen = now,
            }
        }
    }
}

impl<T> Drop for ForkSlot<T> {
    fn drop(&mut self) {
        let entry = *self.current.get_mut();
        if entry.is_null() {
            return;
        }
        // SAFETY: from Box::into_raw, owned by the slot, and no reference
        // into it outlives `&mut self`.
        #[allow(unsafe_code)]
        let entry = unsafe { Box::from_raw(entry) };
        if entry.generation != generation() {
            std::mem::forget(entry); // the parent's: never dropped here
        }
    }
}
