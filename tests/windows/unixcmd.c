/*
 * unixcmd.c -- TESTS UNDER WINE ONLY, NEVER SHIPPED. The Windows stand-in of a host (Linux)
 * program that a Windows test program starts by name and waits for: tests/windows/delphi.sh
 * copies it as node.exe and python3.exe into a directory on the Windows PATH (WINEPATH).
 * bindings/delphi/demo_test.dpr runs `node stats.mjs GRANT` (RunCommand, reading its output),
 * `python3 seed.py ...` (from a thread), and its accounts' browser_command is `node browser.mjs`.
 *
 * Why not the host program itself: Wine starts a Unix program from CreateProcessW but returns no
 * process handle (hProcess = 0), so the caller cannot wait for it nor read its exit status --
 * Free Pascal's RunCommand then loops forever on GetExitCodeProcess(0) -- and in the private i386
 * root of scripts/wine32-root.sh there is no Node or Python at all.
 *
 * So this program hands the call to the host's tests/windows/unixcmd.py through a spool
 * directory (OMW_UNIXCMD_SPOOL, a Windows path) and behaves like the real program towards its
 * caller: the same stdout and stderr bytes, the same exit status.
 *   request  <spool>\<id>.req  this program's name (its file name without .exe), then every
 *                              argument, UTF-8, each followed by a NUL (written as <id>.tmp, then
 *                              renamed: the watcher never sees half a request)
 *   answer   <id>.out, <id>.err, then <id>.rc (the exit status in decimal) -- written by the
 *            watcher, removed here
 * No answer within OMW_UNIXCMD_TIMEOUT seconds (default 600): exit status 124.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define PATH_CHARS 4096

static int fail(const char *what)
{
    fprintf(stderr, "unixcmd: %s (Windows error %lu)\n", what, (unsigned long)GetLastError());
    return 127;
}

static BOOL write_all(HANDLE h, const char *p, DWORD len)
{
    while (len > 0) {
        DWORD n = 0;
        if (!WriteFile(h, p, len, &n, NULL) || n == 0)
            return FALSE;
        p += n;
        len -= n;
    }
    return TRUE;
}

/* s as UTF-8 with its NUL */
static BOOL write_utf8z(HANDLE h, const wchar_t *s)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
    char *buf;
    BOOL ok;
    if (n <= 0 || !(buf = malloc((size_t)n)))
        return FALSE;
    WideCharToMultiByte(CP_UTF8, 0, s, -1, buf, n, NULL, NULL);
    ok = write_all(h, buf, (DWORD)n);
    free(buf);
    return ok;
}

/* copies the file's bytes to `to` (when it exists), then deletes it */
static void pass_on(const wchar_t *path, HANDLE to)
{
    static char buf[65536];
    DWORD n;
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return;
    while (ReadFile(h, buf, sizeof buf, &n, NULL) && n > 0)
        if (to != NULL && to != INVALID_HANDLE_VALUE)
            write_all(to, buf, n);
    CloseHandle(h);
    DeleteFileW(path);
}

int wmain(int argc, wchar_t **argv)
{
    static wchar_t spool[PATH_CHARS], self[PATH_CHARS], base[PATH_CHARS], tmp[PATH_CHARS + 8],
        path[PATH_CHARS + 8];
    wchar_t name[256], *p, timeout_text[32];
    char rc_text[32];
    DWORD n, rc_len = 0;
    ULONGLONG limit_ms = 600000, t0;
    HANDLE h;
    int i;

    n = GetEnvironmentVariableW(L"OMW_UNIXCMD_SPOOL", spool, PATH_CHARS);
    if (n == 0 || n >= PATH_CHARS) {
        fprintf(stderr, "unixcmd: OMW_UNIXCMD_SPOOL is not set (the spool directory of tests/windows/unixcmd.py)\n");
        return 127;
    }
    n = GetEnvironmentVariableW(L"OMW_UNIXCMD_TIMEOUT", timeout_text, 32);
    if (n > 0 && n < 32 && _wtoi(timeout_text) > 0)
        limit_ms = (ULONGLONG)_wtoi(timeout_text) * 1000;
    n = GetModuleFileNameW(NULL, self, PATH_CHARS);
    if (n == 0 || n >= PATH_CHARS)
        return fail("GetModuleFileNameW");
    p = wcsrchr(self, L'\\');
    wcsncpy(name, p ? p + 1 : self, 255);
    name[255] = 0;
    p = wcsrchr(name, L'.');
    if (p && _wcsicmp(p, L".exe") == 0)
        *p = 0;

    _snwprintf(base, PATH_CHARS, L"%ls\\%lu-%lu-%lu", spool, (unsigned long)GetCurrentProcessId(),
               (unsigned long)GetCurrentThreadId(), (unsigned long)GetTickCount());
    base[PATH_CHARS - 1] = 0;
    _snwprintf(tmp, PATH_CHARS + 8, L"%ls.tmp", base);
    tmp[PATH_CHARS + 7] = 0;
    h = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return fail("cannot create the request in OMW_UNIXCMD_SPOOL");
    BOOL ok = write_utf8z(h, name);
    for (i = 1; ok && i < argc; i++)
        ok = write_utf8z(h, argv[i]);
    CloseHandle(h);
    _snwprintf(path, PATH_CHARS + 8, L"%ls.req", base);
    path[PATH_CHARS + 7] = 0;
    if (!ok || !MoveFileW(tmp, path)) {
        DeleteFileW(tmp);
        return fail("cannot write the request");
    }

    _snwprintf(path, PATH_CHARS + 8, L"%ls.rc", base);
    path[PATH_CHARS + 7] = 0;
    t0 = GetTickCount64();
    while (GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES) {
        if (GetTickCount64() - t0 > limit_ms) {
            fprintf(stderr, "unixcmd: no answer from the host for %ls in %lu s (is tests/windows/unixcmd.py "
                            "watching OMW_UNIXCMD_SPOOL?)\n", name, (unsigned long)(limit_ms / 1000));
            return 124;
        }
        Sleep(10);
    }
    h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                    FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE || !ReadFile(h, rc_text, sizeof rc_text - 1, &rc_len, NULL))
        return fail("cannot read the exit status");
    CloseHandle(h);
    DeleteFileW(path);
    rc_text[rc_len] = 0;

    _snwprintf(path, PATH_CHARS + 8, L"%ls.out", base);
    path[PATH_CHARS + 7] = 0;
    pass_on(path, GetStdHandle(STD_OUTPUT_HANDLE));
    _snwprintf(path, PATH_CHARS + 8, L"%ls.err", base);
    path[PATH_CHARS + 7] = 0;
    pass_on(path, GetStdHandle(STD_ERROR_HANDLE));
    return atoi(rc_text);
}
