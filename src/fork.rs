//! Fork safety: a process-wide fork generation and a slot holding the state
//! a client builds afresh in a child process.
//!
//! A `pthread_atfork` child handler (registered when the first client is
//! built) bumps [`generation`]. A client remembers the generation it was
//! built in; the cached-header path compares the two (one relaxed atomic
//! load). In a child process they differ, and the client stops using
//! everything it inherited: the token cache (whose locks and in-flight flag
//! may belong to threads that do not exist in the child), the HTTP agent
//! (whose pooled connections and TLS sessions are shared with the parent)
//! and the background refresher (whose thread is gone). It builds fresh
//! state in a [`ForkSlot`] instead, and leaks what it inherited rather than
//! dropping it: dropping could wait for a thread that does not exist or
//! shut down a connection the parent is using.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

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
}

/// Installs the `pthread_atfork` child handler, once per process.
pub(crate) fn register() {
    REGISTER.call_once(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: registers a handler that only does an atomic add;
        // pthread_atfork has no other precondition.
        #[allow(unsafe_code)]
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

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
