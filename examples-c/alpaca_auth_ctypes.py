#!/usr/bin/env python3
"""The same libalpaca_auth.so from Python's ctypes: any FFI consumer can use it.

    python3 alpaca_auth_ctypes.py [path/to/libalpaca_auth.so]

Configured from the APCA_* environment variables, like the C quickstart.
Without a path, ALPACA_AUTH_LIB or the system's library search is used.
"""
import ctypes
import ctypes.util
import os
import sys

OK = 0
CONFIG = 1
BUFFER_TOO_SMALL = 102


def load(path=None):
    path = path or os.environ.get("ALPACA_AUTH_LIB") or ctypes.util.find_library("alpaca_auth")
    if not path:
        sys.exit("libalpaca_auth not found: pass its path or set ALPACA_AUTH_LIB")
    lib = ctypes.CDLL(path)
    c_size_p = ctypes.POINTER(ctypes.c_size_t)
    handle_p = ctypes.POINTER(ctypes.c_void_p)
    signatures = {
        "alpaca_auth_version": ([], ctypes.c_char_p),
        "alpaca_auth_result_str": ([ctypes.c_uint32], ctypes.c_char_p),
        "alpaca_auth_last_error": ([ctypes.c_char_p, ctypes.c_size_t, c_size_p], ctypes.c_uint32),
        "alpaca_auth_builder_new_from_env": ([handle_p], ctypes.c_uint32),
        "alpaca_auth_builder_set_environment": ([ctypes.c_void_p, ctypes.c_char_p], ctypes.c_uint32),
        "alpaca_auth_builder_free": ([ctypes.c_void_p], None),
        "alpaca_auth_builder_build": ([ctypes.c_void_p, handle_p], ctypes.c_uint32),
        "alpaca_auth_client_free": ([ctypes.c_void_p], None),
        "alpaca_auth_client_api_base_url": ([ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p)], ctypes.c_uint32),
        "alpaca_auth_client_access_token": (
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, c_size_p], ctypes.c_uint32),
        "alpaca_auth_client_auth_headers": ([ctypes.c_void_p, handle_p], ctypes.c_uint32),
        "alpaca_auth_headers_count": ([ctypes.c_void_p], ctypes.c_size_t),
        "alpaca_auth_headers_line": (
            [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p)], ctypes.c_uint32),
        "alpaca_auth_headers_free": ([ctypes.c_void_p], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    return lib


class AlpacaAuthError(Exception):
    def __init__(self, lib, code):
        # A length query first (NULL, 0), then a buffer of the size needed.
        needed = ctypes.c_size_t(0)
        lib.alpaca_auth_last_error(None, 0, ctypes.byref(needed))
        buf = ctypes.create_string_buffer(max(needed.value, 1))
        lib.alpaca_auth_last_error(buf, len(buf), ctypes.byref(needed))
        self.code = code
        self.name = lib.alpaca_auth_result_str(code).decode()
        super().__init__(f"{self.name} ({code}): {buf.value.decode()}")


def check(lib, code):
    if code != OK:
        raise AlpacaAuthError(lib, code)


def main():
    lib = load(sys.argv[1] if len(sys.argv) > 1 else None)
    print("alpaca-auth", lib.alpaca_auth_version().decode(), "via ctypes")

    # A refused setting: the code and the reason.
    builder = ctypes.c_void_p()
    check(lib, lib.alpaca_auth_builder_new_from_env(ctypes.byref(builder)))
    try:
        check(lib, lib.alpaca_auth_builder_set_environment(builder, b"nowhere"))
        sys.exit("an unknown environment was accepted")
    except AlpacaAuthError as e:
        assert e.code == CONFIG, e.code
        print("refused:", e)

    client = ctypes.c_void_p()
    # The builder is consumed here, whatever the result.
    check(lib, lib.alpaca_auth_builder_build(builder, ctypes.byref(client)))
    try:
        base = ctypes.c_char_p()
        check(lib, lib.alpaca_auth_client_api_base_url(client, ctypes.byref(base)))
        print("api base:", base.value.decode())

        headers = ctypes.c_void_p()
        check(lib, lib.alpaca_auth_client_auth_headers(client, ctypes.byref(headers)))
        try:
            for i in range(lib.alpaca_auth_headers_count(headers)):
                line = ctypes.c_char_p()
                check(lib, lib.alpaca_auth_headers_line(headers, i, ctypes.byref(line)))
                print("header:", line.value.decode())
        finally:
            lib.alpaca_auth_headers_free(headers)

        needed = ctypes.c_size_t(0)
        code = lib.alpaca_auth_client_access_token(client, None, 0, ctypes.byref(needed))
        if code == BUFFER_TOO_SMALL:
            token = ctypes.create_string_buffer(needed.value)
            check(lib, lib.alpaca_auth_client_access_token(
                client, token, len(token), ctypes.byref(needed)))
            print("access token:", len(token.value), "bytes")
        else:
            print("no access token:", AlpacaAuthError(lib, code))
    finally:
        lib.alpaca_auth_client_free(client)


if __name__ == "__main__":
    main()
