//! The C ABI: `libalpaca_auth.so` / `libalpaca_auth.a` and
//! `include/alpaca_auth.h` (generated from this module by cbindgen).
//!
//! One module per C type, in the style of rustls-ffi:
//!
//! | module        | C type / functions                                           |
//! |---------------|--------------------------------------------------------------|
//! | [`result`]    | `alpaca_auth_result`, `alpaca_auth_result_str`                |
//! | [`error`]     | the thread-local last error, `alpaca_auth_last_error`         |
//! | [`panic`](mod@panic) | the panic boundary every export goes through                  |
//! | [`builder`]   | `alpaca_auth_builder`: configuration, consumed by `_build`    |
//! | [`client`]    | `alpaca_auth_client`: tokens, URLs, stats (one module per job)  |
//! | [`doctor`]    | `alpaca_auth_doctor_report`: why authentication fails here    |
//! | [`event`]     | `alpaca_auth_event`, its kinds and callback type               |
//! | [`headers`]   | `alpaca_auth_headers`: a snapshot of `"Name: value"` lines     |
//! | [`store`]     | `alpaca_auth_token_store`: a token store in callbacks          |
//! | [`version`]   | `alpaca_auth_version`                                         |
//!
//! Conventions, the same for every function:
//!
//! * Every fallible function returns an `alpaca_auth_result`; `*_out`
//!   parameters are written only when it is `ALPACA_AUTH_RESULT_OK`, with two
//!   exceptions: the needed length of a copy-out (documented where it
//!   applies), and pointer out-parameters (handles, borrowed strings), which
//!   are set to NULL on entry, so a failed call leaves NULL behind and a
//!   cleanup path never frees garbage (libgit2's convention).
//! * Structs the caller allocates (`alpaca_auth_stats`,
//!   `alpaca_auth_refresher_status`) start with `size_t struct_size`, which
//!   the caller sets to `sizeof` its struct; the library writes only the
//!   fields that fit, so a later version with more fields never writes past
//!   an older caller's struct.
//! * Every pointer is checked for NULL before use, every string for UTF-8;
//!   the offending argument is named in the last error.
//! * Every fallible function clears the calling thread's last error on entry
//!   and sets it on failure, so after a failure `alpaca_auth_last_error`
//!   says what went wrong, and after a success it is empty, except after
//!   the two status calls that report a reason with success
//!   (`alpaca_auth_client_token_store_status`,
//!   `alpaca_auth_client_refresher_status`). Functions without a result
//!   leave it alone. The rule is stated once, on `alpaca_auth_last_error`
//!   ([`error`]).
//! * No panic crosses the boundary: it becomes `ALPACA_AUTH_RESULT_PANIC`
//!   (or NULL, 0, or nothing for functions without a result).
#![deny(unsafe_op_in_unsafe_fn)]
// The C names are the API.
#![allow(non_camel_case_types)]

pub mod builder;
pub mod client;
pub mod doctor;
pub mod error;
pub mod event;
pub mod headers;
pub mod panic;
pub mod result;
pub mod signer;
pub mod store;
pub mod version;

use std::ffi::{c_char, CStr};

use self::error::Failure;
use self::result::alpaca_auth_result;

/// A NUL-terminated UTF-8 string argument, or the failure naming it.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: not NULL (checked above); the caller guarantees a
    // NUL-terminated string valid for 'a.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map_err(|e| {
        Failure::new(
            alpaca_auth_result::InvalidUtf8,
            format!(
                "{name} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A non-empty NUL-terminated UTF-8 string argument, copied, or the failure
/// naming it (`InvalidArgument` when it is empty).
///
/// # Safety
///
/// As [`str_arg`].
pub(crate) unsafe fn non_empty_arg(ptr: *const c_char, name: &str) -> Result<String, Failure> {
    // SAFETY: the caller's guarantees are those of str_arg.
    match unsafe { str_arg(ptr, name) }? {
        "" => Err(Failure::new(
            alpaca_auth_result::InvalidArgument,
            format!("{name} is empty"),
        )),
        text => Ok(text.to_owned()),
    }
}

/// A `ptr + len` byte argument, or the failure naming it. A NULL pointer is
/// refused whatever the length.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            alpaca_auth_result::InvalidArgument,
            format!("{name}: length {len} is larger than any object can be"),
        ));
    }
    // SAFETY: not NULL, len <= isize::MAX (checked above); the caller
    // guarantees `len` readable bytes valid for 'a.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Writes `value` to a non-NULL output pointer, or fails naming it.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: not NULL (checked above); the caller guarantees it is valid
    // for a write of a T. `write` does not drop the (possibly
    // uninitialised) previous contents.
    unsafe { out.write(value) };
    Ok(())
}

/// A raw pointer type, for [`reset_out`].
pub(crate) trait NullPtr {
    /// The NULL pointer of this type.
    const NULL: Self;
}

impl<T> NullPtr for *mut T {
    const NULL: Self = std::ptr::null_mut();
}

impl<T> NullPtr for *const T {
    const NULL: Self = std::ptr::null();
}

/// Sets a pointer out-parameter to NULL (if it is not NULL itself) before
/// any work, so that every failure leaves NULL behind.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `P`.
pub(crate) unsafe fn reset_out<P: NullPtr>(out: *mut P) {
    if !out.is_null() {
        // SAFETY: not NULL; the caller guarantees it is valid for a write.
        unsafe { out.write(P::NULL) };
    }
}

/// Stores a new handle, made by `make`, in a pointer out-parameter; a
/// failure (`out` NULL, `make` failing) leaves NULL behind.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a pointer.
pub(crate) unsafe fn new_handle<T>(
    out: *mut *mut T,
    name: &str,
    make: impl FnOnce() -> Result<T, Failure>,
) -> Result<(), Failure> {
    // SAFETY: reset_out checks for NULL; the caller guarantees it is
    // otherwise writable.
    unsafe { reset_out(out) };
    check_out(out, name)?;
    let handle = Box::into_raw(Box::new(make()?));
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { write_out(out, handle, name) }
}

/// The `struct_size` a caller set in a struct it allocated (the struct's
/// first field, a `size_t`), checked against the size of the struct's first
/// published version.
///
/// # Safety
///
/// `out` is NULL or points to at least `size_of::<usize>()` readable,
/// initialised bytes.
pub(crate) unsafe fn caller_struct_size<T>(
    out: *const T,
    name: &str,
    first_version_size: usize,
) -> Result<usize, Failure> {
    if out.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: not NULL; every versioned struct starts with a size_t that the
    // caller guarantees is set.
    let size = unsafe { out.cast::<usize>().read() };
    if size < first_version_size {
        return Err(Failure::new(
            alpaca_auth_result::InvalidArgument,
            format!(
                "{name}->struct_size is {size}: set it to sizeof the struct \
                 (at least {first_version_size}) before the call"
            ),
        ));
    }
    Ok(size)
}

/// Writes one field of a caller-allocated versioned struct if it lies within
/// the caller's `struct_size`; a field the caller's (older) struct does not
/// have is skipped.
///
/// # Safety
///
/// `base` points to a struct of at least `struct_size` writable bytes.
pub(crate) unsafe fn put_field<F>(base: *mut u8, struct_size: usize, offset: usize, value: F) {
    if offset + std::mem::size_of::<F>() <= struct_size {
        // SAFETY: in bounds of the caller's struct (checked above);
        // write_unaligned makes no assumption about the caller's alignment.
        unsafe { base.wrapping_add(offset).cast::<F>().write_unaligned(value) };
    }
}

/// Checks an output pointer before the work that produces its value.
pub(crate) fn check_out<T>(out: *mut T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        Err(Failure::null(name))
    } else {
        Ok(())
    }
}

/// The copy-out of a string into a caller buffer, with a length query: the
/// string is `parts` one after the other (a header line may be its name,
/// `": "` and its value).
///
/// `*len_out` receives the length needed, terminating NUL included, on
/// success and on `BufferTooSmall`; `buf` is written only on success. A NULL
/// `buf` with `len == 0` is a pure length query (`BufferTooSmall`).
///
/// # Safety
///
/// `buf` is NULL or valid for writes of `len` bytes; `len_out` is NULL or
/// valid for a write of a `usize`.
pub(crate) unsafe fn copy_out(
    parts: &[&[u8]],
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
    what: &str,
) -> Result<(), Failure> {
    check_copy_args(buf, len, len_out)?;
    // SAFETY: the arguments are checked; the caller guarantees the rest.
    unsafe { copy_parts(parts, buf, len, len_out) }.map_err(|needed| too_small(len, needed, what))
}

/// The copy of [`copy_out`], after its argument checks: `Err` with the
/// length needed when the buffer is too small.
///
/// # Safety
///
/// As [`copy_out`], and the arguments passed [`check_copy_args`].
#[inline(always)]
pub(crate) unsafe fn copy_parts(
    parts: &[&[u8]],
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> Result<(), usize> {
    let needed = parts.iter().map(|part| part.len()).sum::<usize>() + 1;
    // SAFETY: len_out is not NULL (check_copy_args) and valid per the
    // caller's guarantee.
    unsafe { len_out.write(needed) };
    if buf.is_null() || len < needed {
        return Err(needed);
    }
    let mut out = buf.cast::<u8>();
    for part in parts {
        // SAFETY: buf is not NULL and valid for `len >= needed` bytes
        // (checked above, and guaranteed by the caller), and the parts add
        // up to `needed - 1`; the sources are Rust memory that cannot
        // overlap a caller buffer we were handed for writing.
        unsafe {
            std::ptr::copy_nonoverlapping(part.as_ptr(), out, part.len());
            out = out.add(part.len());
        }
    }
    // SAFETY: the last of the `needed` bytes, inside the buffer.
    unsafe { out.write(0) };
    Ok(())
}

/// The failure of a copy-out into a buffer of `len` bytes that needed
/// `needed`.
#[cold]
#[inline(never)]
pub(crate) fn too_small(len: usize, needed: usize, what: &str) -> Failure {
    Failure::new(
        alpaca_auth_result::BufferTooSmall,
        format!(
            "a buffer of {len} bytes is too small for the {what}: {needed} bytes are needed, terminating NUL included"
        ),
    )
}

/// The argument checks of [`copy_out`], done before any work.
#[inline(always)]
pub(crate) fn check_copy_args(
    buf: *mut c_char,
    len: usize,
    len_out: *mut usize,
) -> Result<(), Failure> {
    if len_out.is_null() {
        return Err(Failure::null("len_out"));
    }
    if buf.is_null() && len != 0 {
        return Err(Failure::null("buf (with a non-zero len)"));
    }
    Ok(())
}

// The client handle is shared among threads by C callers: it must stay
// `Send + Sync` without any `unsafe impl`.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<client::alpaca_auth_client>();
    send_sync::<headers::alpaca_auth_headers>();
};
