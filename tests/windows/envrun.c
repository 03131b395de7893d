/*
 * envrun.c -- TESTS UNDER WINE ONLY, NEVER SHIPPED.
 *   envrun.exe ENVFILE PROGRAM [ARGS...]
 * Runs PROGRAM (with ARGS, as written on this command line) with the variables of ENVFILE added
 * to the environment, waits for it and exits with its exit status. ENVFILE: UTF-8 lines
 * NAME=VALUE (LF or CRLF; empty lines ignored).
 *
 * Why: tests/windows/delphi.sh runs the Delphi binding's test programs, which read their settings
 * from environment variables (OM_*, SANDBOX_*), with the 32-bit Wine of the harness -- which may
 * be the private i386 root's wrapper (scripts/wine32-root.sh), and that passes only WINE*, OMW_*
 * and TZ into its chroot. A file on a bind-mounted path reaches the program in both cases.
 * The child inherits this process's standard handles (bInheritHandles, no new console).
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static int fail(const char *what)
{
    fprintf(stderr, "envrun: %s (Windows error %lu)\n", what, (unsigned long)GetLastError());
    return 127;
}

/* the command line after its first `count` arguments (Windows quoting: "..." groups spaces) */
static wchar_t *skip_args(wchar_t *p, int count)
{
    while (count-- > 0) {
        int quoted = 0;
        while (*p == L' ' || *p == L'\t')
            p++;
        for (; *p; p++) {
            if (*p == L'"')
                quoted = !quoted;
            else if (!quoted && (*p == L' ' || *p == L'\t'))
                break;
        }
    }
    while (*p == L' ' || *p == L'\t')
        p++;
    return p;
}

static int set_variables(const wchar_t *file)
{
    HANDLE h = CreateFileW(file, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD size, got = 0;
    char *text, *line, *next;
    if (h == INVALID_HANDLE_VALUE)
        return fail("cannot open ENVFILE");
    size = GetFileSize(h, NULL);
    if (size == INVALID_FILE_SIZE || !(text = malloc((size_t)size + 1)) || !ReadFile(h, text, size, &got, NULL))
        return fail("cannot read ENVFILE");
    CloseHandle(h);
    text[got] = 0;
    for (line = text; line && *line; line = next) {
        char *eq, *end;
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        end = line + strlen(line);
        if (end > line && end[-1] == '\r')
            *--end = 0;
        if (!*line)
            continue;
        eq = strchr(line, '=');
        if (!eq || eq == line) {
            fprintf(stderr, "envrun: not NAME=VALUE: %s\n", line);
            return 127;
        }
        *eq = 0;
        {
            int nn = MultiByteToWideChar(CP_UTF8, 0, line, -1, NULL, 0);
            int nv = MultiByteToWideChar(CP_UTF8, 0, eq + 1, -1, NULL, 0);
            wchar_t *wn = malloc(sizeof(wchar_t) * (size_t)nn), *wv = malloc(sizeof(wchar_t) * (size_t)nv);
            if (!wn || !wv || nn <= 0 || nv <= 0)
                return fail("not UTF-8 in ENVFILE");
            MultiByteToWideChar(CP_UTF8, 0, line, -1, wn, nn);
            MultiByteToWideChar(CP_UTF8, 0, eq + 1, -1, wv, nv);
            if (!SetEnvironmentVariableW(wn, wv))
                return fail("SetEnvironmentVariableW");
            free(wn);
            free(wv);
        }
    }
    free(text);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = 0;
    wchar_t *cmd;
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: envrun ENVFILE PROGRAM [ARGS...]\n");
        return 127;
    }
    if ((rc = set_variables(argv[1])) != 0)
        return rc;
    cmd = _wcsdup(skip_args(GetCommandLineW(), 2)); /* CreateProcessW may write into it */
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!cmd || !CreateProcessW(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
        return fail("CreateProcessW of PROGRAM");
    WaitForSingleObject(pi.hProcess, INFINITE);
    if (!GetExitCodeProcess(pi.hProcess, &code))
        return fail("GetExitCodeProcess");
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return (int)code;
}
