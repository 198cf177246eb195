//! [`FileStore`]: the built-in token store, a private directory with one
//! entry per credential, shared by the processes of one user on one host.
//!
//! - The directory is created with mode `0700`; an existing one must be a
//!   directory owned by this user that no one else can enter or list.
//! - Entry `<key>.token` (mode `0600`) is written to a temporary file and
//!   renamed over the old one, so a reader sees a whole entry or none.
//! - Entry `<key>.lock` is the fetch lock, an `flock` that the kernel
//!   releases when its holder exits. A process forked while one of its
//!   threads holds a lock closes its inherited copy at once (an atfork
//!   handler), so a child never keeps its parent's lock.
//! - An entry that is not a regular file owned by this user with no access
//!   for others, is larger than [`MAX_ENTRY_LEN`], or does not parse is
//!   ignored, and replaced by the next publish.
//!
//! Entries are in the format of [`StoredToken::to_entry`].
//!
//! An entry holds the access token, its expiry (Unix milliseconds) and its
//! lifetime; the secret and the private key are never written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Once;

use zeroize::Zeroizing;

use super::{StoreKey, StoreLock, StoredToken, TokenStore, MAX_ENTRY_LEN};
use crate::error::{Error, Result};

/// Permission bits for group and others: none may be set on the directory or
/// an entry.
const GROUP_OTHER_BITS: u32 = 0o077;

/// A token store in a private directory (see the module documentation).
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens the store in `dir`, creating it (and its parents) with mode
    /// `0700` if it does not exist. Refused (`Config`) if `dir` is not a
    /// directory owned by this user, or if group or others have any access
    /// to it.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStore> {
        let dir = dir.into();
        let shown = dir.display().to_string().escape_debug().to_string();
        if dir.as_os_str().is_empty() {
            return Err(Error::config("the token cache directory is empty"));
        }
        let meta = match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .and_then(|()| fs::symlink_metadata(&dir))
                .map_err(|e| {
                    Error::config(format!(
                        "token cache directory \"{shown}\" cannot be created: {e}"
                    ))
                })?,
            other => other
                .map_err(|e| Error::config(format!("token cache directory \"{shown}\": {e}")))?,
        };
        if !meta.is_dir() {
            return Err(Error::config(format!(
                "token cache directory \"{shown}\" is not a directory (a symbolic link is refused too)"
            )));
        }
        if meta.uid() != effective_uid() {
            return Err(Error::config(format!(
                "token cache directory \"{shown}\" belongs to another user"
            )));
        }
        if meta.mode() & GROUP_OTHER_BITS != 0 {
            return Err(Error::config(format!(
                "token cache directory \"{shown}\" is accessible to other users (mode {:o}): chmod 700 it",
                meta.mode() & 0o777
            )));
        }
        install_fork_handler();
        Ok(FileStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{}.token", key.as_str()))
    }

    fn lock_path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{}.lock", key.as_str()))
    }

    /// The entry's bytes, if it is a file this store can trust.
    fn read_entry(&self, key: &StoreKey) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(self.entry_path(key))
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // A symbolic link (ELOOP) or anything else odd: not trusted.
            Err(_) => return Ok(None),
        };
        let meta = file.metadata()?;
        let limit = MAX_ENTRY_LEN as u64;
        if !private_file(&meta) || meta.len() > limit {
            return Ok(None);
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_ENTRY_LEN + 1));
        (&file).take(limit + 1).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }
}

impl TokenStore for FileStore {
    fn load(&self, key: &StoreKey) -> io::Result<Option<StoredToken>> {
        Ok(self
            .read_entry(key)?
            .and_then(|bytes| StoredToken::from_entry(key, &bytes)))
    }

    fn publish(&self, key: &StoreKey, token: &StoredToken) -> io::Result<()> {
        let entry = token.to_entry(key);
        let bytes = entry.expose_secret().as_bytes();
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            key.as_str(),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut file| file.write_all(bytes))
            .and_then(|()| fs::rename(&tmp, self.entry_path(key)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(self.lock_path(key))?;
        // Registered at once, so that a fork from here on closes the
        // child's copy (the lock, if taken, stays this process's).
        let lock = FileLock::new(file);
        let Some(file) = lock.file.as_ref() else {
            return Ok(None);
        };
        let meta = file.metadata()?;
        if !private_file(&meta) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the lock file is not a private regular file of this user",
            ));
        }
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            return if error.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(error)
            };
        }
        Ok(Some(Box::new(lock)))
    }

    fn remove_if(&self, key: &StoreKey, token: &str) -> io::Result<()> {
        // Under the lock, so that a token published meanwhile is not
        // removed; if a fetch holds it, its new token replaces the entry
        // anyway.
        let Some(lock) = self.try_lock(key)? else {
            return Ok(());
        };
        if let Some(stored) = self.load(key)? {
            let held = stored.access_token.expose_secret().as_bytes();
            if bool::from(subtle::ConstantTimeEq::ct_eq(held, token.as_bytes())) {
                fs::remove_file(self.entry_path(key))?;
            }
        }
        drop(lock);
        Ok(())
    }
}

/// Unique names of temporary files within this process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A regular file of this user that group and others cannot access.
fn private_file(meta: &fs::Metadata) -> bool {
    meta.file_type().is_file()
        && meta.uid() == effective_uid()
        && meta.mode() & GROUP_OTHER_BITS == 0
}

/// An open lock file, and once `flock` succeeded, the lock. Dropping it
/// unlocks explicitly (`LOCK_UN` releases the lock whatever copies of the
/// descriptor a forked child still has), then closes.
struct FileLock {
    file: Option<File>,
    slot: Option<usize>,
    /// The process that opened it: in a forked child the descriptor was
    /// already closed by the fork handler and is not this object's to close.
    pid: u32,
}

impl FileLock {
    fn new(file: File) -> FileLock {
        let slot = register_held(file.as_raw_fd());
        FileLock {
            file: Some(file),
            slot,
            pid: std::process::id(),
        }
    }
}

impl StoreLock for FileLock {}

impl Drop for FileLock {
    fn drop(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        if std::process::id() != self.pid {
            // A child dropping its parent's lock object: the descriptor
            // number may already belong to something else. Leave it.
            std::mem::forget(file);
            return;
        }
        // SAFETY: flock on the descriptor this object owns; unlocking a
        // file that is not locked is harmless.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        if let Some(slot) = self.slot {
            HELD_LOCKS[slot].store(-1, Ordering::SeqCst);
        }
        drop(file);
    }
}

/// Descriptors of the lock files this process has open, for the fork child
/// handler (a fixed table: a handler may not allocate or take locks). A
/// lock that finds no free slot is still a lock, only its descriptor is not
/// closed in a child (the parent's explicit unlock releases it anyway).
static HELD_LOCKS: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];

fn register_held(fd: i32) -> Option<usize> {
    HELD_LOCKS.iter().position(|slot| {
        slot.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// In the child of a `fork()`: close the inherited descriptors of the
/// parent's held locks, so the child never keeps them locked (the parent
/// still holds its own descriptor and releases the lock as usual).
extern "C" fn close_inherited_locks() {
    for slot in &HELD_LOCKS {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: close is async-signal-safe; the descriptor is the
            // child's copy of one the parent's FileLock owns, and no thread
            // of the child owns it (only the forking thread runs there).
            unsafe { libc::close(fd) };
        }
    }
}

fn install_fork_handler() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: registers a handler that only closes descriptors.
        unsafe { libc::pthread_atfork(None, None, Some(close_inherited_locks)) };
    });
}
