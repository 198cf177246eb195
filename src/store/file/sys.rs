//! System calls relative to a directory descriptor.

use super::*;

/// `openat(dirfd, name, flags | O_CLOEXEC, mode)`.
pub(super) fn openat(
    dirfd: RawFd,
    name: &CStr,
    flags: i32,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated name; the mode is read only with O_CREAT.
    let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn renameat(dirfd: RawFd, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated names relative to a directory descriptor.
    if unsafe { libc::renameat(dirfd, from.as_ptr(), dirfd, to.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn unlinkat(dirfd: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated name relative to a directory descriptor.
    if unsafe { libc::unlinkat(dirfd, name.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole stat into the buffer when it succeeds.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful fstat.
    Ok(unsafe { st.assume_init() })
}

pub(super) fn fstatat_nofollow(dirfd: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a NUL-terminated name; fstatat writes a whole stat on success.
    let r = unsafe {
        libc::fstatat(
            dirfd,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful fstatat.
    Ok(unsafe { st.assume_init() })
}
