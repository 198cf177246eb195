//! [`FileStore`]: the built-in token store, a private directory with one
//! entry per credential, shared by the processes of one user on one host.
//!
//! - The directory is given as an absolute path without empty, `.` or `..`
//!   components (so no trailing slash). It is opened once, at build, one
//!   component at a time from `/`, never following a symbolic link (one
//!   anywhere in the path is refused: give the resolved path instead), and
//!   missing components are created with mode `0700`.
//! - Every directory above it must be owned by root or this user and not be
//!   writable by group or others (as OpenSSH checks the path of
//!   `authorized_keys`), except a world-writable directory with the sticky
//!   bit (like `/tmp`) whose next component this user owns: no one else can
//!   rename that away. The directory itself must be owned by this user, with
//!   no access for group or others.
//! - The store keeps the directory open and from then on reaches its files
//!   only relative to that descriptor (`openat`, `renameat`, `unlinkat`,
//!   `fstatat`, `mknodat`), never by path: renaming or replacing a directory
//!   of the path later, or a `chdir()`, does not move the store.
//! - Entry `<key>.token` (mode `0600`) is written to a temporary file and
//!   renamed over the old one, so a reader sees a whole entry or none. It
//!   names its key inside ([`StoredToken::to_entry`]), so an entry moved to
//!   another key's name is ignored.
//! - Entry `<key>.lock` is the fetch lock, an `flock` that the kernel
//!   releases when its holder exits. A process forked at any moment never
//!   keeps a descriptor of a lock file (see the fork handler below).
//! - An entry that is not a regular file owned by this user with no access
//!   for others, is larger than [`MAX_ENTRY_LEN`], does not parse or names
//!   another key is ignored, and replaced by the next publish.
//!
//! An entry holds the access token, its expiry (Unix milliseconds) and its
//! lifetime; the secret and the private key are never written.

use std::ffi::{CStr, CString};
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{StoreKey, StoreLock, StoredToken, TokenStore, MAX_ENTRY_LEN};
use crate::error::{Error, Result};
use crate::limits::{LOCK_FD_SCAN_LIMIT, MAX_HELD_FILE_LOCKS};
use crate::secret::constant_time_eq;

mod dir;
mod locks;
mod sys;

use dir::*;
pub(crate) use locks::close_inherited_locks;
use locks::*;
use sys::*;

/// Permission bits for group and others: none may be set on the directory or
/// an entry.
const GROUP_OTHER_BITS: u32 = 0o077;
/// Write permission for group and others: none may be set on a directory
/// above the store (but see the sticky-bit exception).
const GROUP_OTHER_WRITE: u32 = 0o022;

/// A token store in a private directory (see the module documentation).
#[derive(Debug, Clone)]
pub struct FileStore {
    /// The path as configured, for display only.
    dir: PathBuf,
    /// The directory that was checked; every file is reached through it.
    fd: Arc<OwnedFd>,
}

impl FileStore {
    /// Opens the store in `dir`, creating missing directories with mode
    /// `0700`. Refused (`Config`, naming the path and the component at
    /// fault) if `dir` is not absolute; has an empty, `.` or `..` component
    /// (a trailing slash included); passes through a symbolic link; passes
    /// through a directory owned by another user than root or this one, or
    /// writable by group or others (unless it is sticky and this user owns
    /// the next component); or is not a directory owned by this user that
    /// no one else can enter or list.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStore> {
        let dir = dir.into();
        check_dir_setting(&dir)?;
        let fd = open_private_dir(&dir).map_err(|why| dir_error(&dir, &why))?;
        Ok(FileStore {
            dir,
            fd: Arc::new(fd),
        })
    }

    /// The directory, as configured.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn dirfd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The entry's bytes, if it is a file this store can trust.
    fn read_entry(&self, key: &StoreKey) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let name = file_name(key, ".token")?;
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let file = match openat(self.dirfd(), &name, flags, 0) {
            Ok(fd) => File::from(fd),
            // Missing, a symbolic link (ELOOP) or anything else odd: not
            // trusted.
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

    /// The identity of `<key>.lock`, created (without a descriptor) if
    /// missing; refused unless it is a private regular file of this user.
    fn lock_file_id(&self, name: &CStr) -> io::Result<FileId> {
        // SAFETY: mknodat with a valid directory descriptor and a
        // NUL-terminated name; a regular file needs no device number.
        let made = unsafe { libc::mknodat(self.dirfd(), name.as_ptr(), libc::S_IFREG | 0o600, 0) };
        if made != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EEXIST) {
                return Err(error);
            }
        }
        let st = fstatat_nofollow(self.dirfd(), name)?;
        if !private_stat(&st) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the lock file is not a private regular file of this user",
            ));
        }
        Ok(FileId::of(&st))
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
        let tmp = CString::new(format!(
            ".{}.{}.{}.tmp",
            key.as_str(),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
        .map_err(|_| invalid_name())?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NOCTTY;
        let mut file = File::from(openat(self.dirfd(), &tmp, flags, 0o600)?);
        let written = file
            .write_all(bytes)
            .and_then(|()| renameat(self.dirfd(), &tmp, &file_name(key, ".token")?));
        if written.is_err() {
            let _ = unlinkat(self.dirfd(), &tmp);
        }
        written
    }

    fn try_lock(&self, key: &StoreKey) -> io::Result<Option<Box<dyn StoreLock>>> {
        let name = file_name(key, ".lock")?;
        let id = self.lock_file_id(&name)?;
        // Recorded before the descriptor exists: a fork from here on closes
        // the child's copy, whenever it comes (see `close_inherited_locks`).
        let slot = LockSlot::claim(&LOCK_SLOTS, id).ok_or_else(|| {
            io::Error::other("too many file-store locks are held at once in this process")
        })?;
        let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = match openat(self.dirfd(), &name, flags, 0) {
            Ok(fd) => fd,
            Err(error) => {
                slot.release();
                return Err(error);
            }
        };
        let lock = FileLock::new(slot, fd);
        let fd = lock.raw_fd();
        if FileId::of(&fstat(fd)?) != id {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the lock file was replaced while it was opened",
            ));
        }
        slot.hold(fd);
        // SAFETY: flock on the descriptor `lock` owns.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
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
            if constant_time_eq(held, token.as_bytes()) {
                unlinkat(self.dirfd(), &file_name(key, ".token")?)?;
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

/// Checks the form of a store directory setting without touching the file
/// system (not empty, absolute, no empty, `.` or `..` component): a wrong
/// setting is a build error, where a directory that cannot be trusted only
/// leaves the client without sharing.
pub(crate) fn check_dir_setting(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Err(Error::config("the token cache directory is empty"));
    }
    components(dir)
        .map(drop)
        .map_err(|why| dir_error(dir, &why))
}

/// The error for store directory `dir` refused because of `why`, which
/// names a component (`: "/a" is ...`) or the whole path (`is not ...`).
fn dir_error(dir: &Path, why: &str) -> Error {
    let sep = if why.starts_with(':') { "" } else { " " };
    Error::config(format!(
        "token cache directory \"{}\"{sep}{why}",
        shown(dir)
    ))
}

/// The path as error messages show it (escaped, as `Debug` would).
fn shown(path: &Path) -> String {
    path.display().to_string().escape_debug().to_string()
}

fn invalid_name() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "a file name with a NUL byte")
}

/// `<key><suffix>` as a C string (a key is hex, so this cannot fail).
fn file_name(key: &StoreKey, suffix: &str) -> io::Result<CString> {
    CString::new(format!("{}{suffix}", key.as_str())).map_err(|_| invalid_name())
}

/// A regular file of this user that group and others cannot access.
fn private_file(meta: &fs::Metadata) -> bool {
    meta.file_type().is_file()
        && meta.uid() == effective_uid()
        && meta.mode() & GROUP_OTHER_BITS == 0
}

/// [`private_file`] of a `stat`.
fn private_stat(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
        && st.st_uid == effective_uid()
        && st.st_mode & GROUP_OTHER_BITS == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt as _};
    use std::os::unix::io::IntoRawFd as _;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::time::{Duration, SystemTime};

    use crate::secret::SecretString;

    /// A fresh private directory under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "alpaca-auth-file-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("scratch directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
        dir
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn refused(dir: impl Into<PathBuf>) -> String {
        let err = FileStore::open(dir).expect_err("refused");
        assert_eq!(err.kind(), crate::ErrorKind::Config, "{err}");
        err.to_string()
    }

    fn key(c: char) -> StoreKey {
        StoreKey(c.to_string().repeat(64))
    }

    fn token(text: &str) -> StoredToken {
        StoredToken {
            access_token: SecretString::new(text.to_owned()),
            expires_at: SystemTime::now() + Duration::from_secs(900),
            lifetime: Duration::from_secs(900),
        }
    }

    fn is_root() -> bool {
        effective_uid() == 0
    }

    /// Another user ID (needs no passwd entry), for the tests run as root.
    const OTHER_UID: u32 = 64_002;

    fn chown(path: &Path, uid: u32) {
        std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown");
    }

    #[test]
    fn relative_paths_and_empty_dot_or_dot_dot_components_are_refused() {
        let base = scratch("syntax");
        let shown_base = base.display().to_string();
        for (dir, why) in [
            ("alpaca-store".to_owned(), "not an absolute path"),
            ("./alpaca-store".to_owned(), "not an absolute path"),
            (format!("{shown_base}/store/"), "empty component"),
            (format!("{shown_base}//store"), "empty component"),
            (format!("{shown_base}/./store"), "\".\" or \"..\""),
            (format!("{shown_base}/store/."), "\".\" or \"..\""),
            (format!("{shown_base}/x/../store"), "\".\" or \"..\""),
            ("/".to_owned(), "root directory"),
        ] {
            let err = refused(&dir);
            assert!(err.contains(why), "{dir}: {err}");
            assert!(err.contains(&format!("\"{dir}\"")), "names the path: {err}");
        }
        assert!(refused("").contains("the token cache directory is empty"));
        // Nothing was created on the way to a refusal.
        assert_eq!(fs::read_dir(&base).expect("base").count(), 0);
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn a_symbolic_link_anywhere_in_the_path_is_refused_naming_it() {
        let base = scratch("links");
        let real = base.join("real");
        fs::create_dir(&real).expect("dir");
        chmod(&real, 0o700);
        let link = base.join("link");
        symlink(&real, &link).expect("symlink");
        for dir in [link.clone(), link.join("store")] {
            let err = refused(&dir);
            assert!(
                err.contains(&format!("\"{}\" is a symbolic link", link.display())),
                "{err}"
            );
        }
        assert!(!real.join("store").exists(), "nothing created through it");
        // The resolved path is accepted.
        FileStore::open(real.join("store")).expect("the resolved path");
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn a_directory_above_that_others_can_write_is_refused_unless_sticky_and_ours() {
        let base = scratch("writers");
        for mode in [0o777, 0o775, 0o757] {
            let open = base.join(format!("open{mode:o}"));
            fs::create_dir(&open).expect("dir");
            chmod(&open, mode);
            let err = refused(open.join("store"));
            assert!(err.contains("writable by other users"), "{err}");
            assert!(err.contains(&format!("\"{}\"", open.display())), "{err}");
            assert!(!open.join("store").exists(), "nothing created there");
        }
        let sticky = base.join("sticky");
        fs::create_dir(&sticky).expect("dir");
        chmod(&sticky, 0o1777);
        let store = FileStore::open(sticky.join("mine")).expect("ours, in a sticky directory");
        assert_eq!(store.dir(), sticky.join("mine"));
        if is_root() {
            let theirs = sticky.join("theirs");
            fs::create_dir(&theirs).expect("dir");
            chmod(&theirs, 0o755);
            chown(&theirs, OTHER_UID);
            for dir in [theirs.clone(), theirs.join("store")] {
                let err = refused(&dir);
                assert!(err.contains("belongs to another user"), "{err}");
            }
            // Owned by another user above the store, even unwritable.
            let above = base.join("above");
            fs::create_dir(&above).expect("dir");
            chmod(&above, 0o755);
            chown(&above, OTHER_UID);
            let err = refused(above.join("store"));
            assert!(err.contains("belongs to another user"), "{err}");
        }
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn the_store_directory_must_be_private_and_this_users() {
        let base = scratch("final");
        let open = base.join("open");
        fs::create_dir(&open).expect("dir");
        chmod(&open, 0o750);
        assert!(refused(&open).contains("chmod 700"));
        let file = base.join("file");
        fs::write(&file, b"").expect("file");
        assert!(refused(&file).contains("not a directory"));
        if is_root() {
            let theirs = base.join("theirs");
            fs::create_dir(&theirs).expect("dir");
            chmod(&theirs, 0o700);
            chown(&theirs, OTHER_UID);
            assert!(refused(&theirs).contains("belongs to another user"));
        }
        // Created missing, 0700.
        let made = base.join("a").join("b");
        FileStore::open(&made).expect("created");
        for dir in [base.join("a"), made] {
            let mode = fs::symlink_metadata(&dir)
                .expect("made")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        }
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn the_store_stays_in_the_directory_it_checked_when_the_path_is_swapped() {
        let base = scratch("swap");
        let path = base.join("store");
        let store = FileStore::open(&path).expect("store");
        store.publish(&key('a'), &token("first")).expect("publish");
        // The directory is moved away and another put in its place.
        fs::rename(&path, base.join("moved")).expect("rename");
        fs::create_dir(&path).expect("replacement");
        chmod(&path, 0o700);
        store.publish(&key('b'), &token("second")).expect("publish");
        let lock = store.try_lock(&key('b')).expect("lock").expect("free");
        drop(lock);
        assert_eq!(fs::read_dir(&path).expect("replacement").count(), 0);
        let moved: Vec<String> = fs::read_dir(base.join("moved"))
            .expect("moved")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            moved.contains(&format!("{}.token", key('b').as_str())),
            "{moved:?}"
        );
        assert!(
            moved.contains(&format!("{}.lock", key('b').as_str())),
            "{moved:?}"
        );
        let loaded = store.load(&key('a')).expect("load").expect("entry");
        assert_eq!(loaded.access_token.expose_secret(), "first");
        assert_eq!(store.dir(), path, "the configured path, for display");
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn an_entry_renamed_onto_another_keys_name_is_ignored_and_replaced() {
        let base = scratch("rename");
        let store = FileStore::open(base.join("store")).expect("store");
        store.publish(&key('a'), &token("token-of-a")).expect("a");
        store.publish(&key('b'), &token("token-of-b")).expect("b");
        let dir = base.join("store");
        let entry = |k: &StoreKey| dir.join(format!("{}.token", k.as_str()));
        fs::rename(entry(&key('a')), entry(&key('b'))).expect("rename");
        assert!(store.load(&key('b')).expect("load").is_none(), "a's entry");
        assert!(store.load(&key('a')).expect("load").is_none(), "gone");
        store
            .publish(&key('b'), &token("new-of-b"))
            .expect("b again");
        let b = store.load(&key('b')).expect("load").expect("entry");
        assert_eq!(b.access_token.expose_secret(), "new-of-b");
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn a_lock_file_that_is_not_a_private_regular_file_is_refused() {
        let base = scratch("lockfile");
        let store = FileStore::open(base.join("store")).expect("store");
        let lock = |c| base.join("store").join(format!("{}.lock", key(c).as_str()));
        fs::write(lock('a'), b"").expect("file");
        chmod(&lock('a'), 0o644);
        symlink(base.join("elsewhere"), lock('b')).expect("symlink");
        fs::create_dir(lock('c')).expect("dir");
        for c in ['a', 'b', 'c'] {
            let err = store.try_lock(&key(c)).err().expect("refused");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{c}: {err}");
        }
        assert!(
            !base.join("elsewhere").exists(),
            "the link was not followed"
        );
        // Free slots afterwards: the refusals took none.
        let taken = LOCK_SLOTS
            .iter()
            .filter(|s| matches!(s.state.load(Ordering::SeqCst), CLAIMED | PENDING | HELD))
            .filter(|s| s.id() == FileId::of(&fstatat_nofollow_path(&lock('a'))))
            .count();
        assert_eq!(taken, 0);
        let _ = fs::remove_dir_all(&base);
    }

    fn fstatat_nofollow_path(path: &Path) -> libc::stat {
        let name = CString::new(path.as_os_str().as_bytes()).expect("path");
        fstatat_nofollow(libc::AT_FDCWD, &name).expect("stat")
    }

    fn id_of(fd: RawFd) -> FileId {
        FileId::of(&fstat(fd).expect("open"))
    }

    /// Whether descriptor `fd` still refers to `id` (a closed number may be
    /// reused by another test's file at once, so the identity is checked).
    fn refers_to(fd: RawFd, id: FileId) -> bool {
        raw_file_id(fd) == Some(id)
    }

    fn open_raw(path: &Path) -> RawFd {
        File::open(path).expect("open").into_raw_fd()
    }

    #[test]
    fn slots_are_claimed_pending_preferring_the_same_file_and_refused_when_full() {
        let table = [const { LockSlot::new() }; 2];
        let id = |ino| FileId { dev: 7, ino };
        let a = LockSlot::claim(&table, id(1)).expect("a slot");
        assert_eq!(
            a.state.load(Ordering::SeqCst),
            PENDING,
            "recorded before open"
        );
        assert_eq!(a.id(), id(1));
        let b = LockSlot::claim(&table, id(2)).expect("a slot");
        assert!(LockSlot::claim(&table, id(3)).is_none(), "full: refused");
        a.hold(5);
        assert_eq!(a.state.load(Ordering::SeqCst), HELD);
        assert_eq!(a.fd.load(Ordering::SeqCst), 5);
        a.unhold();
        assert_eq!(a.state.load(Ordering::SeqCst), PENDING);
        assert_eq!(a.fd.load(Ordering::SeqCst), -1, "no number to trust");
        a.release();
        b.release();
        assert_eq!(a.state.load(Ordering::SeqCst), RELEASED);
        assert_eq!(a.id(), id(1), "the identity is kept once released");
        let again = LockSlot::claim(&table, id(2)).expect("a slot");
        assert!(std::ptr::eq(again, b), "the released slot of the same file");
        again.release();
        let other = LockSlot::claim(&table, id(9)).expect("a released slot");
        assert_eq!(other.id(), id(9));
    }

    #[test]
    fn a_child_handler_closes_lock_descriptors_in_every_slot_state() {
        let base = scratch("handler");
        let files: Vec<PathBuf> = (0..5)
            .map(|i| {
                let path = base.join(format!("f{i}"));
                fs::write(&path, b"").expect("file");
                path
            })
            .collect();
        let [held, pending, released, claimed, unrelated] =
            [0, 1, 2, 3, 4].map(|i| open_raw(&files[i]));
        // A second descriptor of the held file, not the recorded one.
        let held_copy = open_raw(&files[0]);
        let ids = [held, pending, released, claimed, unrelated].map(id_of);
        let table = [const { LockSlot::new() }; 5];
        LockSlot::claim(&table, ids[0]).expect("slot").hold(held);
        LockSlot::claim(&table, ids[1]).expect("slot");
        LockSlot::claim(&table, ids[2]).expect("slot").release();
        let being_filled = &table[3];
        being_filled.state.store(CLAIMED, Ordering::SeqCst);
        being_filled.dev.store(ids[3].dev, Ordering::SeqCst);
        being_filled.ino.store(ids[3].ino, Ordering::SeqCst);

        close_inherited_locks_in(&table);

        assert!(!refers_to(held, ids[0]), "HELD: its number closed");
        assert!(!refers_to(held_copy, ids[0]), "HELD: found by identity");
        assert!(!refers_to(pending, ids[1]), "PENDING: found by identity");
        assert!(!refers_to(released, ids[2]), "RELEASED: found by identity");
        assert!(
            refers_to(claimed, ids[3]),
            "CLAIMED: not opened by the lock"
        );
        assert!(refers_to(unrelated, ids[4]), "unrelated: left open");
        for slot in &table[..4] {
            assert_eq!(slot.state.load(Ordering::SeqCst), RELEASED);
        }
        assert_eq!(table[4].state.load(Ordering::SeqCst), EMPTY);
        for fd in [claimed, unrelated] {
            // SAFETY: descriptors this test opened and still owns.
            unsafe { libc::close(fd) };
        }
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn descriptor_names_parse_as_numbers_only() {
        assert_eq!(parse_fd(b"17\0"), Some(17));
        assert_eq!(parse_fd(b"0\0junk"), Some(0));
        assert_eq!(parse_fd(b".\0"), None);
        assert_eq!(parse_fd(b"..\0"), None);
        assert_eq!(parse_fd(b"\0"), None);
        assert_eq!(parse_fd(b"99999999999\0"), None);
    }

    #[test]
    fn every_open_descriptor_is_listed_with_or_without_proc() {
        let base = scratch("listing");
        let path = base.join("f");
        fs::write(&path, b"").expect("file");
        let fd = open_raw(&path);
        let id = id_of(fd);
        let listed = |listing: &[u8]| {
            let mut seen = Vec::new();
            for_each_descriptor_listed_in(listing, |n| {
                if raw_file_id(n) == Some(id) {
                    seen.push(n);
                }
            });
            seen
        };
        assert_eq!(listed(b"/proc/self/fd\0"), [fd]);
        assert_eq!(listed(b"/nonexistent/fd\0"), [fd], "the bounded scan");
        // SAFETY: the descriptor this test opened.
        unsafe { libc::close(fd) };
        assert!(listed(b"/proc/self/fd\0").is_empty());
        let _ = fs::remove_dir_all(&base);
    }

    /// Forks `forks` times while `threads` threads take and release file
    /// locks; returns how many children found a descriptor of a lock file,
    /// and how many locks the threads took.
    fn fork_while_locking(forks: usize, threads: usize) -> (usize, usize) {
        let base = scratch("fork");
        let store = FileStore::open(base.join("store")).expect("store");
        let keys: Vec<StoreKey> = (0..threads)
            .map(|i| key(char::from(b'a' + i as u8)))
            .collect();
        for key in &keys {
            drop(store.try_lock(key).expect("lock").expect("free"));
        }
        let ids: Vec<FileId> = keys
            .iter()
            .map(|k| {
                let path = base.join("store").join(format!("{}.lock", k.as_str()));
                FileId::of(&fstatat_nofollow_path(&path))
            })
            .collect();
        // The child looks at every number up to well beyond the highest
        // one open now (new descriptors take the lowest free numbers).
        let highest = fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
            .max()
            .unwrap_or(0);
        let fd_limit = highest + 256;
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = keys
            .into_iter()
            .map(|key| {
                let (store, stop, taken) = (store.clone(), stop.clone(), taken.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok(Some(lock)) = store.try_lock(&key) {
                            taken.fetch_add(1, Ordering::Relaxed);
                            drop(lock);
                        }
                    }
                })
            })
            .collect();
        let mut leaked = 0;
        for _ in 0..forks {
            // SAFETY: the child calls only fstat and _exit
            // (async-signal-safe) on memory it does not modify.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let mut found = 0;
                for fd in 0..fd_limit {
                    if let Some(id) = raw_file_id(fd) {
                        if ids.contains(&id) {
                            found = 1;
                        }
                    }
                }
                // SAFETY: ends the child at once, running nothing else.
                unsafe { libc::_exit(found) };
            }
            assert!(pid > 0, "fork: {}", io::Error::last_os_error());
            let mut status = 0;
            // SAFETY: waits for the child just forked.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid);
            assert!(libc::WIFEXITED(status), "the child exited: {status}");
            if libc::WEXITSTATUS(status) != 0 {
                leaked += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.join().expect("worker");
        }
        let _ = fs::remove_dir_all(&base);
        (leaked, taken.load(Ordering::Relaxed))
    }

    #[test]
    fn no_child_forked_while_threads_lock_keeps_a_lock_descriptor() {
        let started = std::time::Instant::now();
        let (leaked, taken) = fork_while_locking(3_000, 2);
        eprintln!(
            "3000 forks, {taken} locks taken meanwhile, {leaked} children with a lock descriptor, {:?}",
            started.elapsed()
        );
        assert!(taken >= 3_000, "the threads locked throughout: {taken}");
        assert_eq!(leaked, 0, "children kept a lock descriptor");
    }
}
