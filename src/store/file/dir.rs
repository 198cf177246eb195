//! Opening the store directory, one checked component at a time.

use super::*;

/// The components of `dir` after the leading `/`, or why `dir` is refused
/// (completing "token cache directory "..." ").
pub(super) fn components(dir: &Path) -> std::result::Result<Vec<&[u8]>, String> {
    let bytes = dir.as_os_str().as_bytes();
    let Some(rest) = bytes.strip_prefix(b"/") else {
        return Err(
            "is not an absolute path (a relative one would move with the working directory)"
                .to_owned(),
        );
    };
    if rest.is_empty() {
        return Err("is the root directory".to_owned());
    }
    let parts: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    for part in &parts {
        match *part {
            b"" => return Err(
                "has an empty component (a doubled or trailing \"/\"): give the directory itself"
                    .to_owned(),
            ),
            b"." | b".." => {
                return Err("has a \".\" or \"..\" component: give the directory itself".to_owned())
            }
            _ if part.contains(&0) => return Err("contains a NUL byte".to_owned()),
            _ => {}
        }
    }
    Ok(parts)
}

/// Opens `dir` as the module documentation describes, or says why not.
pub(super) fn open_private_dir(dir: &Path) -> std::result::Result<OwnedFd, String> {
    let names = components(dir)?;
    let root = CString::new("/").map_err(|_| "contains a NUL byte".to_owned())?;
    let mut parent = openat(libc::AT_FDCWD, &root, DIR_FLAGS, 0)
        .map_err(|e| format!(": \"/\" cannot be opened: {e}"))?;
    let mut parent_stat = fstat(parent.as_raw_fd()).map_err(|e| format!(": \"/\": {e}"))?;
    let mut here = PathBuf::from("/");
    check_ancestor_owner(&here, &parent_stat)?;
    for (i, name) in names.iter().enumerate() {
        let name = CString::new(*name).map_err(|_| "contains a NUL byte".to_owned())?;
        let parent_path = here.clone();
        here.push(std::ffi::OsStr::from_bytes(name.as_bytes()));
        check_parent_writers(&parent_path, &parent_stat, None)?;
        let child = open_or_create_dir(parent.as_raw_fd(), &name, &here)?;
        let child_stat =
            fstat(child.as_raw_fd()).map_err(|e| format!(": \"{}\": {e}", shown(&here)))?;
        if child_stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(format!(": \"{}\" is not a directory", shown(&here)));
        }
        check_parent_writers(&parent_path, &parent_stat, Some((&here, child_stat.st_uid)))?;
        if i + 1 == names.len() {
            check_store_dir(&here, &child_stat)?;
        } else {
            check_ancestor_owner(&here, &child_stat)?;
        }
        parent = child;
        parent_stat = child_stat;
    }
    Ok(parent)
}

/// How every directory of the path is opened: a descriptor usable only as
/// the base of `*at` calls (so a directory this user may search but not
/// list still opens), never through a symbolic link.
pub(super) const DIR_FLAGS: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;

/// Opens `name` in `parent`, creating it `0700` if it is missing.
pub(super) fn open_or_create_dir(
    parent: RawFd,
    name: &CStr,
    here: &Path,
) -> std::result::Result<OwnedFd, String> {
    match openat(parent, name, DIR_FLAGS, 0) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(why_not_a_directory(parent, name, here, &e)),
    }
    // SAFETY: mkdirat with a directory descriptor and a NUL-terminated name.
    if unsafe { libc::mkdirat(parent, name.as_ptr(), 0o700) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(format!(": \"{}\" cannot be created: {e}", shown(here)));
        }
    }
    openat(parent, name, DIR_FLAGS, 0).map_err(|e| why_not_a_directory(parent, name, here, &e))
}

/// Why `name` in `parent` did not open as a directory: a symbolic link, not
/// a directory, or the system's error.
pub(super) fn why_not_a_directory(
    parent: RawFd,
    name: &CStr,
    here: &Path,
    error: &io::Error,
) -> String {
    let here = shown(here);
    match fstatat_nofollow(parent, name) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => format!(
            ": \"{here}\" is a symbolic link, which is refused: give the resolved path instead"
        ),
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => {
            format!(": \"{here}\" is not a directory")
        }
        _ => format!(": \"{here}\": {error}"),
    }
}

/// A directory above the store: owned by root or this user.
pub(super) fn check_ancestor_owner(
    path: &Path,
    st: &libc::stat,
) -> std::result::Result<(), String> {
    if st.st_uid != 0 && st.st_uid != effective_uid() {
        return Err(format!(
            ": \"{}\" above it belongs to another user (uid {}), who could replace what is inside",
            shown(path),
            st.st_uid
        ));
    }
    Ok(())
}

/// A directory above the store, `st`: not writable by group or others,
/// unless it is sticky and `child` (the next component and its owner, once
/// opened) is this user's.
pub(super) fn check_parent_writers(
    path: &Path,
    st: &libc::stat,
    child: Option<(&Path, u32)>,
) -> std::result::Result<(), String> {
    let mode = st.st_mode;
    if mode & GROUP_OTHER_WRITE == 0 {
        return Ok(());
    }
    let sticky = mode & libc::S_ISVTX != 0;
    match child {
        // Sticky: only the owner of an entry (or of the directory) can
        // rename it, so the next component must be ours.
        _ if !sticky => Err(format!(
            ": \"{}\" above it is writable by other users (mode {:o}), who could replace what is inside",
            shown(path),
            mode & 0o7777
        )),
        Some((child, uid)) if uid != effective_uid() => Err(format!(
            ": \"{}\" belongs to another user (uid {uid}) and is in the shared directory \"{}\" (mode {:o}), so it is not this user's to trust",
            shown(child),
            shown(path),
            mode & 0o7777
        )),
        _ => Ok(()),
    }
}

/// The store directory itself: this user's, no access for group or others.
pub(super) fn check_store_dir(path: &Path, st: &libc::stat) -> std::result::Result<(), String> {
    if st.st_uid != effective_uid() {
        return Err(format!(": \"{}\" belongs to another user", shown(path)));
    }
    let mode = st.st_mode & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(format!(
            ": \"{}\" is accessible to other users (mode {mode:o}): chmod 700 it",
            shown(path)
        ));
    }
    Ok(())
}
