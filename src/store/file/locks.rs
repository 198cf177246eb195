//! Fetch locks, and what a forked child does with them.

use super::*;

/// The identity of a file: device and inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct FileId {
    pub(super) dev: u64,
    pub(super) ino: u64,
}

impl FileId {
    pub(super) fn of(st: &libc::stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// A slot that has never held a lock.
pub(super) const EMPTY: u8 = 0;
/// Being filled in by the thread that claimed it; no descriptor yet.
pub(super) const CLAIMED: u8 = 1;
/// Its file identity is recorded; a descriptor of that file may exist in
/// this process, number unknown (being opened, or being closed).
pub(super) const PENDING: u8 = 2;
/// Its descriptor is open, number recorded, identity recorded.
pub(super) const HELD: u8 = 3;
/// Free again; no descriptor, the identity of its last lock file kept.
pub(super) const RELEASED: u8 = 4;

/// One lock this process holds or is taking: what a fork child handler
/// needs to close its copy without allocating or taking a lock.
pub(super) struct LockSlot {
    pub(super) state: AtomicU8,
    pub(super) dev: AtomicU64,
    pub(super) ino: AtomicU64,
    pub(super) fd: AtomicI32,
}

impl LockSlot {
    pub(super) const fn new() -> LockSlot {
        LockSlot {
            state: AtomicU8::new(EMPTY),
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
            fd: AtomicI32::new(-1),
        }
    }

    /// A free slot of `table`, now [`PENDING`] with `id` recorded; `None`
    /// if every slot is in use. A released slot of the same file is
    /// preferred, then one never used, so the identities a child looks for
    /// are overwritten only when the table is nearly full.
    pub(super) fn claim(table: &[LockSlot], id: FileId) -> Option<&LockSlot> {
        let same = |s: &&LockSlot| s.state.load(Ordering::SeqCst) == RELEASED && s.id() == id;
        let pick = |from: u8, slot: &LockSlot| {
            slot.state
                .compare_exchange(from, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        };
        let slot = table
            .iter()
            .filter(same)
            .find(|s| pick(RELEASED, s))
            .or_else(|| table.iter().find(|s| pick(EMPTY, s)))
            .or_else(|| table.iter().find(|s| pick(RELEASED, s)))?;
        slot.fd.store(-1, Ordering::SeqCst);
        slot.dev.store(id.dev, Ordering::SeqCst);
        slot.ino.store(id.ino, Ordering::SeqCst);
        slot.state.store(PENDING, Ordering::SeqCst);
        Some(slot)
    }

    pub(super) fn id(&self) -> FileId {
        FileId {
            dev: self.dev.load(Ordering::SeqCst),
            ino: self.ino.load(Ordering::SeqCst),
        }
    }

    /// The descriptor is open and checked: [`HELD`].
    pub(super) fn hold(&self, fd: RawFd) {
        self.fd.store(fd, Ordering::SeqCst);
        self.state.store(HELD, Ordering::SeqCst);
    }

    /// About to close the descriptor: [`PENDING`] again, so a child forked
    /// from now on looks for the file by its identity, never trusting a
    /// number that may be reused.
    pub(super) fn unhold(&self) {
        self.state.store(PENDING, Ordering::SeqCst);
        self.fd.store(-1, Ordering::SeqCst);
    }

    /// The descriptor is closed: [`RELEASED`].
    pub(super) fn release(&self) {
        self.fd.store(-1, Ordering::SeqCst);
        self.state.store(RELEASED, Ordering::SeqCst);
    }
}

/// The locks of this process (a fixed table: the fork child handler may not
/// allocate or take locks). When every slot is in use, `try_lock` fails
/// before opening anything, so the caller fetches on its own: a lock whose
/// descriptor a child could not find is never taken.
pub(super) static LOCK_SLOTS: [LockSlot; MAX_HELD_FILE_LOCKS] =
    [const { LockSlot::new() }; MAX_HELD_FILE_LOCKS];

/// An open lock file, and once `flock` succeeded, the lock. Dropping it
/// unlocks explicitly (`LOCK_UN` releases the lock whatever copies of the
/// descriptor a forked child still has), then closes.
pub(super) struct FileLock {
    slot: &'static LockSlot,
    fd: Option<OwnedFd>,
    /// The process that opened it: in a forked child the descriptor was
    /// already closed by the fork handler and is not this object's to close.
    pid: u32,
}

impl FileLock {
    pub(super) fn new(slot: &'static LockSlot, fd: OwnedFd) -> FileLock {
        FileLock {
            slot,
            fd: Some(fd),
            pid: std::process::id(),
        }
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }
}

impl StoreLock for FileLock {}

impl Drop for FileLock {
    fn drop(&mut self) {
        let Some(fd) = self.fd.take() else {
            return;
        };
        if std::process::id() != self.pid {
            // A child dropping its parent's lock object: the handler closed
            // the descriptor and freed the slot; the number may already
            // belong to something else. Leave both.
            std::mem::forget(fd);
            return;
        }
        self.slot.unhold();
        // SAFETY: flock on the descriptor this object owns; unlocking a
        // file that is not locked is harmless.
        unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) };
        drop(fd);
        self.slot.release();
    }
}

// Why a forked child never keeps a descriptor of a lock file.
//
// `try_lock` records the lock file's identity (device, inode) in a slot
// marked PENDING *before* it opens the file (the file is created beforehand
// by `mknodat`, which leaves no descriptor), and marks the slot HELD, with
// the descriptor's number, only once it is open and checked. Releasing goes
// back through PENDING before the descriptor is closed, and the slot keeps
// the identity once RELEASED. So whenever a fork happens, each descriptor of
// a lock file in the child is either the recorded number of a HELD slot or
// one the child can find by identity:
//
// - HELD: the child closes that number (after checking it is still that
//   file);
// - PENDING or RELEASED: the child lists its descriptors (`/proc/self/fd`
//   through `getdents64` into a stack buffer; without /proc, every number
//   below `LOCK_FD_SCAN_LIMIT`) and closes each whose identity is recorded.
//   RELEASED counts too because the kernel copies the descriptor table
//   before the memory: a lock closed between the two copies is still open in
//   the child while its slot already reads RELEASED;
// - CLAIMED: nothing was opened yet.
//
// A number is never trusted alone (a reused number could be another file),
// and nothing here allocates, locks or calls anything but open, getdents64,
// fstat and close (async-signal-safe), as a fork child handler must. The
// one gap: a lock file closed between the kernel's two copies whose slot is
// reused for another file in that same instant (only with nearly all
// `MAX_HELD_FILE_LOCKS` slots taken); such a descriptor is unlocked (its
// parent unlocked it before closing), so the child keeps no lock.

/// In the child of a `fork()`: close every inherited descriptor of a lock
/// file and free the slots (the parent keeps its own descriptors and
/// releases its locks as usual).
pub(crate) fn close_inherited_locks() {
    close_inherited_locks_in(&LOCK_SLOTS);
}

/// [`close_inherited_locks`] over `table`. Async-signal-safe.
pub(super) fn close_inherited_locks_in(table: &[LockSlot]) {
    let mut look_up = false;
    for slot in table {
        match slot.state.load(Ordering::SeqCst) {
            HELD => {
                let fd = slot.fd.load(Ordering::SeqCst);
                if fd >= 0 && raw_file_id(fd) == Some(slot.id()) {
                    // SAFETY: the child's copy of a lock descriptor, which
                    // no code of the child owns (only the forking thread
                    // runs there, and its lock objects leave it alone).
                    unsafe { libc::close(fd) };
                }
                look_up = true;
            }
            PENDING | RELEASED => look_up = true,
            _ => {}
        }
    }
    if look_up {
        for_each_descriptor(|fd| {
            if let Some(id) = raw_file_id(fd) {
                if recorded(table, id) {
                    // SAFETY: as above: a descriptor of a lock file.
                    unsafe { libc::close(fd) };
                }
            }
        });
    }
    for slot in table {
        if slot.state.load(Ordering::SeqCst) != EMPTY {
            slot.release();
        }
    }
}

/// Whether `id` is the lock file of a slot of `table` (that is not being
/// filled in).
pub(super) fn recorded(table: &[LockSlot], id: FileId) -> bool {
    table.iter().any(|slot| {
        matches!(slot.state.load(Ordering::SeqCst), PENDING | HELD | RELEASED) && slot.id() == id
    })
}

/// The identity of descriptor `fd`, if it is open. Async-signal-safe.
pub(super) fn raw_file_id(fd: RawFd) -> Option<FileId> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat (async-signal-safe) writes a whole stat on success.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful fstat.
    Some(FileId::of(unsafe { st.assume_init_ref() }))
}

/// A `getdents64` buffer on the stack, aligned for its records.
#[repr(C, align(8))]
pub(super) struct DirentBuf([u8; 4096]);

/// Calls `f` with each open descriptor of this process (but the one used to
/// list them): from `/proc/self/fd`, else every number below
/// [`LOCK_FD_SCAN_LIMIT`]. Async-signal-safe: no allocation, no lock.
pub(super) fn for_each_descriptor(f: impl FnMut(RawFd)) {
    for_each_descriptor_listed_in(b"/proc/self/fd\0", f);
}

/// [`for_each_descriptor`] with the listing at `path` (NUL-terminated).
pub(super) fn for_each_descriptor_listed_in(path: &[u8], mut f: impl FnMut(RawFd)) {
    if path.last() != Some(&0) {
        return;
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: open (async-signal-safe) of a NUL-terminated path.
    let dir = unsafe { libc::open(path.as_ptr().cast(), flags) };
    if dir < 0 {
        for fd in 0..LOCK_FD_SCAN_LIMIT {
            f(fd);
        }
        return;
    }
    let mut buf = DirentBuf([0; 4096]);
    loop {
        // SAFETY: the raw getdents64 system call into a buffer of the size
        // given; the kernel writes whole records only.
        let n =
            unsafe { libc::syscall(libc::SYS_getdents64, dir, buf.0.as_mut_ptr(), buf.0.len()) };
        let Ok(n) = usize::try_from(n) else { break };
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at + 19 < n.min(buf.0.len()) {
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type,
            // then the NUL-terminated name.
            let reclen = usize::from(u16::from_ne_bytes([buf.0[at + 16], buf.0[at + 17]]));
            if reclen == 0 {
                break;
            }
            let end = (at + reclen).min(n);
            if let Some(fd) = buf.0.get(at + 19..end).and_then(parse_fd) {
                if fd != dir {
                    f(fd);
                }
            }
            at += reclen;
        }
    }
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(dir) };
}

/// A NUL-terminated decimal descriptor number (`.` and `..` are not).
pub(super) fn parse_fd(name: &[u8]) -> Option<RawFd> {
    let mut fd: RawFd = 0;
    let mut digits = 0;
    for &b in name {
        match b {
            0 => break,
            b'0'..=b'9' => {
                fd = fd.checked_mul(10)?.checked_add(RawFd::from(b - b'0'))?;
                digits += 1;
            }
            _ => return None,
        }
    }
    (digits > 0).then_some(fd)
}
