/*
 * harness.c -- the Windows code paths of oauthmail.dll, run under Wine (64-bit and 32-bit) by
 * scripts/test-windows.sh against the local sandbox (OAuth2 server, Dovecot, SMTP sink).
 * Compiled with mingw-w64 against include/oauthmail.h only:
 *
 *   x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -I include tests/windows/harness.c \
 *       -o harness.exe -L DIR -l:oauthmail.dll -lws2_32
 *
 * What it covers (each "ok - ..." / "not ok - ..." line, then one "N passed, M failed" line):
 *  - om_version / om_init, the calling convention (cdecl on i686: a mismatch would corrupt the
 *    stack across dozens of calls and crash), bad input (NULL, malformed JSON, not UTF-8,
 *    foreign handle);
 *  - the browser authorization with the SYSTEM browser: no browser_command, so the DLL calls
 *    ShellExecuteW; Wine's winebrowser hands the URL to the program the script configured in
 *    HKCU\Software\Wine\WineBrowser (the sandbox's scripted browser);
 *  - the same with browser_command (CreateProcessW on a program path);
 *  - the loopback listener: 127.0.0.1 for http://127.0.0.1/, and 127.0.0.1 + ::1 for
 *    http://localhost/ (a redirect sent over ::1 by this program ends the authorization);
 *  - the token file under a directory with non-ASCII characters (UTF-8 in the API, wide-char
 *    Win32 calls inside), DPAPI-protected: the file has the DPAPI magic and does not contain the
 *    refresh token in clear; a second account reads it back and gets an access token;
 *  - om_fetch from Dovecot over IMAPS (trust: ca_certs_pem) and om_send over submission with
 *    STARTTLS;
 *  - om_message_save_attachments of tests/corpus/24-hostile-names.eml into a directory with a
 *    non-ASCII name: every file is inside it (FindFirstFileW lists them all, each "path" of the
 *    answer opens), under the expected safe names (`../../x.exe` -> `_.._x.exe`, `CON` ->
 *    `_CON`...), nothing written outside, an existing file kept and the new one `facture (2).pdf`.
 *
 * `harness.exe --message-only` runs the last check alone (needs OMW_WORKDIR and
 * OMW_MESSAGE_FILE only: no sandbox).
 *
 * Environment (Windows paths where a path is meant):
 *   OMW_AUTHORIZE_URL OMW_TOKEN_URL OMW_REVOCATION_URL  sandbox endpoints
 *   OMW_CA_FILE        the sandbox CA (PEM), read here and passed as ca_certs_pem
 *   OMW_IMAPS_PORT OMW_SUBMISSION_PORT                   Dovecot ports on 127.0.0.1
 *   OMW_WORKDIR        a directory the harness may write to
 *   OMW_BROWSER_JSON   browser_command as JSON array text (the CreateProcessW flow)
 *   OMW_SEEDED         number of messages seeded into alice's INBOX
 *   OMW_MESSAGE_FILE   tests/corpus/24-hostile-names.eml
 */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauthmail.h"

static int g_passed, g_failed;

static int check(int cond, const char *what, const char *fmt, ...)
{
    if (cond) {
        g_passed++;
        printf("ok - %s\n", what);
    } else {
        char details[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(details, sizeof details, fmt, ap);
        va_end(ap);
        g_failed++;
        printf("not ok - %s: %s\n", what, details);
    }
    fflush(stdout);
    return cond;
}

static const char *last_err(void)
{
    const char *m = om_last_error_message();
    return m ? m : "(NULL)";
}

/* status check with the last error in the failure line */
static int expect(om_status got, om_status want, const char *what)
{
    return check(got == want, what, "status %d (%s), wanted %s; last error: %s", got,
                 om_status_name(got), om_status_name(want), last_err());
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        printf("harness: environment variable %s is not set\n", name);
        exit(2);
    }
    return v;
}

/* JSON string escaping (quotes, backslashes, control characters; UTF-8 passes through) */
static void json_escape(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 7 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
}

/* the value of a string member "key" of a flat JSON object (no escapes needed here) */
static int json_str(const char *json, const char *key, char *out, size_t n)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json ? json : "", pat);
    if (!p)
        return 0;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p != '"')
        return 0;
    p++;
    size_t o = 0;
    while (*p && *p != '"' && o + 1 < n) {
        if (*p == '\\' && p[1])
            p++;
        out[o++] = *p++;
    }
    out[o] = 0;
    return 1;
}

static wchar_t *wide(const char *utf8)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, NULL, 0);
    wchar_t *w = calloc((size_t)n + 1, sizeof *w);
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, w, n);
    return w;
}

/* reads a whole file named in UTF-8 (wide-char Win32 API); NUL-terminated, length in *len */
static char *read_file_utf8(const char *path, size_t *len)
{
    wchar_t *w = wide(path);
    HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return NULL;
    DWORD size = GetFileSize(h, NULL), got = 0;
    char *buf = malloc((size_t)size + 1);
    if (!ReadFile(h, buf, size, &got, NULL))
        got = 0;
    CloseHandle(h);
    buf[got] = 0;
    if (len)
        *len = got;
    return buf;
}

static int mem_contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k && i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* ---- attachments with hostile names -------------------------------------------------------- */

static int exists_w(const char *utf8_path)
{
    wchar_t *w = wide(utf8_path);
    DWORD a = GetFileAttributesW(w);
    free(w);
    return a != INVALID_FILE_ATTRIBUTES;
}

/* the files (not directories) directly in `dir`, counted with FindFirstFileW */
static int count_files(const char *dir)
{
    char pattern[2048];
    snprintf(pattern, sizeof pattern, "%s\\*", dir);
    wchar_t *w = wide(pattern);
    WIN32_FIND_DATAW fd;
    HANDLE h = FindFirstFileW(w, &fd);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return -1;
    int n = 0;
    do {
        if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
            n++;
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return n;
}

static void write_file_utf8(const char *path, const char *text)
{
    wchar_t *w = wide(path);
    HANDLE h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    free(w);
    if (h != INVALID_HANDLE_VALUE) {
        DWORD put = 0;
        WriteFile(h, text, (DWORD)strlen(text), &put, NULL);
        CloseHandle(h);
    }
}

/* om_message_save_attachments of the hostile-names message (15 attachments) */
static void hostile_attachment_names(const char *workdir)
{
    size_t len = 0;
    char *eml = read_file_utf8(env("OMW_MESSAGE_FILE"), &len);
    if (!check(eml != NULL && len > 0, "hostile names: the message file reads", "%s",
               env("OMW_MESSAGE_FILE")))
        return;
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s\\pi\xc3\xa8" "ces jointes", workdir);
    wchar_t *wdir = wide(dir);
    CreateDirectoryW(wdir, NULL);
    free(wdir);
    /* an existing file: never replaced */
    snprintf(path, sizeof path, "%s\\facture.pdf", dir);
    write_file_utf8(path, "already here");

    char *out = NULL;
    expect(om_message_save_attachments((const uint8_t *)eml, len, dir, NULL, &out), OM_STATUS_OK,
           "hostile names: om_message_save_attachments");
    free(eml);
    /* every "path" of the answer: directly in `dir`, and it opens */
    int paths = 0, inside = 0, opened = 0;
    size_t dlen = strlen(dir);
    for (const char *p = out ? strstr(out, "\"path\"") : NULL; p; p = strstr(p + 1, "\"path\"")) {
        char one[2048];
        if (!json_str(p, "path", one, sizeof one))
            continue;
        paths++;
        if (strncmp(one, dir, dlen) == 0 && one[dlen] == '\\' && !strpbrk(one + dlen + 1, "\\/:"))
            inside++;
        else
            printf("# outside %s: %s\n", dir, one);
        size_t n = 0;
        char *data = read_file_utf8(one, &n);
        if (data) {
            opened++;
            free(data);
        } else {
            printf("# does not open: %s\n", one);
        }
    }
    check(paths == 15 && inside == 15 && opened == 15,
          "hostile names: 15 files saved, each inside the directory and readable",
          "%d paths, %d inside, %d opened; %s", paths, inside, opened, out ? out : "(NULL)");
    om_string_free(out);
    int files = count_files(dir);
    check(files == 16, "hostile names: FindFirstFileW lists 16 files (15 + the one already there)",
          "%d files", files);
    static const char *const expected[] = {
        "_.._x.exe", "_.._evil.bat", "_CON", "_nul.txt", "a_b.pdf", "bell_tab_nl_esc_.txt",
        "rapport.pdf", "facture (2).pdf", "facture (3).pdf", "Photo.JPG", "photo (2).jpg",
        "devis_fdp.exe", "attachment-14", "attachment-15",
    };
    int missing = 0;
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        snprintf(path, sizeof path, "%s\\%s", dir, expected[i]);
        if (!exists_w(path)) {
            printf("# missing: %s\n", expected[i]);
            missing++;
        }
    }
    check(missing == 0, "hostile names: the expected safe names", "%d missing", missing);
    snprintf(path, sizeof path, "%s\\facture.pdf", dir);
    size_t n = 0;
    char *kept = read_file_utf8(path, &n);
    check(kept && n == 12 && memcmp(kept, "already here", 12) == 0,
          "hostile names: the existing facture.pdf is untouched", "%zu bytes", n);
    free(kept);
    /* the bytes, as sent (binary writes: no CRLF translation) */
    snprintf(path, sizeof path, "%s\\photo (2).jpg", dir);
    char *photo = read_file_utf8(path, &n);
    check(photo && n == 8 && memcmp(photo, "\xff\xd8 lower", 8) == 0,
          "hostile names: photo (2).jpg holds the second photo's bytes", "%zu bytes", n);
    free(photo);
    /* `../../x.exe` from the directory would be next to the work directory */
    static const char *const outside[] = {"..\\x.exe", "..\\evil.bat", "x.exe", "evil.bat"};
    int escaped = 0;
    for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
        snprintf(path, sizeof path, "%s\\%s", workdir, outside[i]);
        if (exists_w(path)) {
            printf("# written outside: %s\n", path);
            escaped++;
        }
    }
    check(escaped == 0, "hostile names: nothing written outside the directory", "%d", escaped);
}

/* ------------------------------------------------------------------------------------------ */

static char g_base[16384]; /* the account JSON members shared by every account */

static om_account *new_account(const char *extra, const char *what)
{
    char cfg[32768];
    snprintf(cfg, sizeof cfg, "{%s%s%s}", g_base, extra && *extra ? "," : "", extra ? extra : "");
    om_account *acc = NULL;
    om_status st = om_account_new(cfg, &acc);
    expect(st, OM_STATUS_OK, what);
    return st == OM_STATUS_OK ? acc : NULL;
}

/* starts the browser authorization and waits for its end (at most 90 s) */
static void browser_flow(om_account *acc, const char *label)
{
    char what[256], *out = NULL;
    snprintf(what, sizeof what, "%s: om_authorize_start", label);
    if (!expect(om_authorize_start(acc, NULL, &out), OM_STATUS_OK, what))
        return;
    snprintf(what, sizeof what, "%s: browser opened and listening", label);
    check(out && strstr(out, "\"browser_opened\":true") && strstr(out, "\"listening\":true"), what,
          "%s", out ? out : "(NULL)");
    om_string_free(out);
    om_status st = OM_STATUS_PENDING;
    for (int i = 0; i < 90 && st == OM_STATUS_PENDING; i++)
        st = om_authorize_wait(acc, 1000);
    snprintf(what, sizeof what, "%s: om_authorize_wait -> OK (tokens received)", label);
    expect(st, OM_STATUS_OK, what);
}

static int32_t count_message(void *user_data, const om_message *m, const uint8_t *data, size_t len)
{
    (void)m;
    int *n = user_data;
    if (len > 0 && data)
        (*n)++;
    return OM_FETCH_CONTINUE;
}

/* sends an HTTP GET for `target` to [::1]:port; returns 1 when a response came */
static int get_over_ipv6(unsigned port, const char *target, char *resp, size_t n)
{
    SOCKET s = socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET)
        return 0;
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((u_short)port);
    a.sin6_addr = in6addr_loopback;
    int ok = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[2048];
        int len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: localhost:%u\r\nConnection: close\r\n\r\n",
                           target, port);
        send(s, req, len, 0);
        int got = recv(s, resp, (int)n - 1, 0);
        resp[got > 0 ? got : 0] = 0;
        ok = got > 0;
    }
    closesocket(s);
    return ok;
}

static int connect_v4(unsigned port)
{
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((u_short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    closesocket(s);
    return ok;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "--message-only") == 0) {
        hostile_attachment_names(env("OMW_WORKDIR"));
        printf("%d passed, %d failed\n", g_passed, g_failed);
        return g_failed ? 1 : 0;
    }
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    printf("# oauthmail %s, %d-bit, under %s\n", om_version(), (int)(sizeof(void *) * 8),
           GetProcAddress(GetModuleHandleA("ntdll.dll"), "wine_get_version") ? "Wine" : "Windows");

    /* ---- environment -> base configuration */
    char ca_esc[16384], esc[3][1024];
    size_t ca_len = 0;
    char *ca = read_file_utf8(env("OMW_CA_FILE"), &ca_len);
    if (!ca) {
        printf("harness: cannot read OMW_CA_FILE\n");
        return 2;
    }
    json_escape(ca, ca_esc, sizeof ca_esc);
    json_escape(env("OMW_AUTHORIZE_URL"), esc[0], sizeof esc[0]);
    json_escape(env("OMW_TOKEN_URL"), esc[1], sizeof esc[1]);
    json_escape(env("OMW_REVOCATION_URL"), esc[2], sizeof esc[2]);
    snprintf(g_base, sizeof g_base,
             "\"provider\":\"custom\",\"client_id\":\"confidential-app\","
             "\"client_secret\":\"confidential-secret\",\"client_auth\":\"request_body\","
             "\"authorize_url\":\"%s\",\"token_url\":\"%s\",\"revocation_url\":\"%s\","
             "\"scopes\":\"openid offline_access email mail\",\"email\":\"alice@example.test\","
             "\"incoming\":{\"protocol\":\"imap\",\"host\":\"127.0.0.1\",\"port\":%s,\"security\":\"tls\"},"
             "\"outgoing\":{\"host\":\"127.0.0.1\",\"port\":%s,\"security\":\"starttls\"},"
             "\"ca_certs_pem\":\"%s\",\"language\":\"en\",\"timeout_secs\":30",
             esc[0], esc[1], esc[2], env("OMW_IMAPS_PORT"), env("OMW_SUBMISSION_PORT"), ca_esc);
    free(ca);

    /* ---- static functions, init, bad input */
    check(om_version_number() == OM_VERSION_NUMBER && strcmp(om_version(), OM_VERSION_STRING) == 0,
          "om_version matches the header", "%s / %u", om_version(), om_version_number());
    expect(om_init(), OM_STATUS_OK, "om_init");
    om_account *bad = (om_account *)1;
    check(om_account_new(NULL, &bad) == OM_STATUS_INVALID_ARGUMENT && bad == NULL,
          "om_account_new(NULL) -> INVALID_ARGUMENT, out NULL", "%s", last_err());
    check(om_account_new("{\"provider\":", &bad) == OM_STATUS_INVALID_CONFIG,
          "malformed JSON -> INVALID_CONFIG", "%s", last_err());
    check(om_account_new("{\"provider\":\"custom\",\"colour\":1}", &bad) == OM_STATUS_INVALID_CONFIG &&
              strstr(last_err(), "colour"),
          "unknown key -> INVALID_CONFIG naming it", "%s", last_err());
    check(om_account_new("{\"provider\":\"\xff\xfe\"}", &bad) == OM_STATUS_INVALID_ARGUMENT,
          "not UTF-8 -> INVALID_ARGUMENT", "%s", last_err());
    static int foreign = 42;
    check(om_account_free((om_account *)(void *)&foreign) == OM_STATUS_INVALID_HANDLE,
          "foreign handle -> INVALID_HANDLE", "%s", last_err());
    check(strcmp(om_status_name(OM_STATUS_PORT_IN_USE), "OM_STATUS_PORT_IN_USE") == 0,
          "om_status_name", "%s", om_status_name(OM_STATUS_PORT_IN_USE));

    /* ---- the token file directory: non-ASCII name, created with the wide-char API */
    char dir[1024], token_file[1200], tf_esc[2400], extra[4096];
    snprintf(dir, sizeof dir, "%s\\Soci\xc3\xa9t\xc3\xa9 \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac", env("OMW_WORKDIR"));
    wchar_t *wdir = wide(dir);
    CreateDirectoryW(wdir, NULL);
    check(GetFileAttributesW(wdir) != INVALID_FILE_ATTRIBUTES,
          "non-ASCII directory created (CreateDirectoryW)", "%s", dir);
    free(wdir);
    snprintf(token_file, sizeof token_file, "%s\\jet\xc3\xb3ns \xe2\x82\xac.json", dir);
    json_escape(token_file, tf_esc, sizeof tf_esc);
    {
        wchar_t *w = wide(token_file);
        DeleteFileW(w);
        free(w);
    }

    /* ---- 1. system browser: ShellExecuteW (-> winebrowser -> scripted browser) */
    snprintf(extra, sizeof extra, "\"redirect_uri\":\"http://127.0.0.1/\",\"token_file\":\"%s\"",
             tf_esc);
    om_account *acc = new_account(extra, "account with a non-ASCII token_file");
    char refresh[4096] = "", *tokens = NULL;
    if (acc) {
        browser_flow(acc, "system browser (ShellExecuteW)");
        if (expect(om_tokens_export(acc, &tokens), OM_STATUS_OK, "om_tokens_export"))
            json_str(tokens, "refresh_token", refresh, sizeof refresh);
        check(refresh[0] != 0, "a refresh token was issued", "%s", tokens ? tokens : "(NULL)");
        om_string_free(tokens);
        om_account_free(acc);
    }

    /* ---- the token file: DPAPI, not in clear, read back by a new account */
    size_t flen = 0;
    char *fdata = read_file_utf8(token_file, &flen);
    check(fdata != NULL, "token file written at the non-ASCII path", "%s", token_file);
    if (fdata) {
        check(flen > 9 && memcmp(fdata, "OMDPAPI1\n", 9) == 0, "token file is DPAPI-protected (magic)",
              "first bytes: %.20s", fdata);
        check(refresh[0] && !mem_contains(fdata, flen, refresh) &&
                  !mem_contains(fdata, flen, "refresh_token"),
              "token file does not contain the refresh token in clear", "%zu bytes", flen);
        free(fdata);
    }
    acc = new_account(extra, "second account on the same token file");
    if (acc) {
        char *tok = NULL;
        int64_t exp = 0;
        expect(om_get_access_token(acc, 30000, &tok, &exp), OM_STATUS_OK,
               "om_get_access_token from the DPAPI token file (no browser)");
        check(tok && *tok && exp > 0, "access token and expiry", "%s %lld", tok ? tok : "(NULL)",
              (long long)exp);
        om_string_free(tok);

        /* ---- IMAPS fetch (ca_certs_pem trust) and submission send */
        int n = 0;
        char *summary = NULL;
        expect(om_fetch(acc, "{\"folder\":\"INBOX\"}", count_message, &n, &summary), OM_STATUS_OK,
               "om_fetch INBOX over IMAPS");
        int seeded = atoi(env("OMW_SEEDED"));
        check(n == seeded, "fetched every seeded message", "got %d, seeded %d; %s", n, seeded,
              summary ? summary : "(NULL)");
        om_string_free(summary);
        char *res = NULL;
        expect(om_send(acc,
                       "{\"to\":\"bob@example.test\",\"subject\":\"from Wine \xc3\xa9\","
                       "\"text\":\"sent by tests/windows/harness.c\"}",
                       NULL, &res),
               OM_STATUS_OK, "om_send over submission (STARTTLS)");
        check(res && strstr(res, "message_id"), "send result JSON", "%s", res ? res : "(NULL)");
        om_string_free(res);
        om_account_free(acc);
    }

    /* ---- 2. browser_command: CreateProcessW on the configured program */
    char bc[4096];
    snprintf(bc, sizeof bc, "\"redirect_uri\":\"http://127.0.0.1/\",\"browser_command\":%s",
             env("OMW_BROWSER_JSON"));
    acc = new_account(bc, "account with browser_command");
    if (acc) {
        browser_flow(acc, "browser_command (CreateProcessW)");
        om_account_free(acc);
    }

    /* ---- 3. localhost redirect: listener on 127.0.0.1 and ::1; the redirect comes over ::1 */
    acc = new_account("\"redirect_uri\":\"http://localhost/\"", "account with a localhost redirect");
    if (acc) {
        char *out = NULL, url[4096] = "", redirect[256] = "", state[512] = "";
        if (expect(om_authorize_start(acc, "{\"open_browser\":false}", &out), OM_STATUS_OK,
                   "localhost: om_authorize_start (no browser)")) {
            json_str(out, "authorization_url", url, sizeof url);
            json_str(out, "redirect_uri", redirect, sizeof redirect);
            const char *s = strstr(url, "state=");
            if (s) {
                s += 6;
                size_t k = strcspn(s, "&");
                snprintf(state, sizeof state, "%.*s", (int)k, s);
            }
            unsigned port = 0;
            const char *colon = strrchr(redirect, ':');
            if (colon)
                port = (unsigned)atoi(colon + 1);
            check(port > 0 && state[0], "localhost: redirect port and state", "%s", out);
            check(connect_v4(port), "localhost: listening on 127.0.0.1", "port %u", port);
            char target[1024], resp[4096];
            snprintf(target, sizeof target, "/?error=access_denied&state=%s", state);
            check(get_over_ipv6(port, target, resp, sizeof resp), "localhost: listening on ::1 (answered)",
                  "port %u", port);
            expect(om_authorize_wait(acc, 30000), OM_STATUS_ACCESS_DENIED,
                   "localhost: redirect over ::1 ends the authorization (ACCESS_DENIED)");
        }
        om_string_free(out);
        om_account_free(acc);
    }

    /* ---- 4. attachments with hostile names */
    hostile_attachment_names(env("OMW_WORKDIR"));

    expect(om_shutdown(), OM_STATUS_OK, "om_shutdown");
    printf("%d passed, %d failed\n", g_passed, g_failed);
    WSACleanup();
    return g_failed ? 1 : 0;
}
