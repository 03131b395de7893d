/*
 * stdcall.c -- the stdcall entry set (oms_*) of the 32-bit oauthmail.dll, as VB6, VBA, Visual
 * FoxPro or WinDev call it, run under 32-bit Wine by scripts/test-windows.sh after the harness
 * (it reuses the token file the harness's authorization wrote). i686 only:
 *
 *   i686-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -I include tests/windows/stdcall.c \
 *       wine_crypt32_fix.o -o stdcall.exe -L DIR -l:oauthmail.dll -lcrypt32
 *
 * Linked to the DLL only for om_version (so it is loaded before wine_crypt32_fix.c's
 * constructor runs); every entry tested is found by its undecorated name with
 * GetProcAddress (as VB6's Declare ... Alias does) and called through stack_call(), a few lines
 * of assembly that push the arguments, call, and measure how far the stack pointer moved: a
 * stdcall callee pops its own arguments (moved 0 bytes), a cdecl one leaves them (-4 per
 * argument) -- the corruption VB6 reports as "Bad DLL calling convention". Checked:
 *  - the checker itself: cdecl om_status_name leaves 4 bytes, oms_status_name none;
 *  - every oms_ function of include/oauthmail_stdcall.h (OMW_OMS_COUNT of them) exported
 *    undecorated, called with bad input or harmless arguments: balanced stack and the status
 *    its om_ twin documents;
 *  - stdcall callbacks (what AddressOf gives), through real calls: oms_fetch and
 *    oms_messages_fetch from Dovecot over IMAPS with a message callback, oms_log_set_callback +
 *    1,000 oms_log_write calls (the callback's frame at the same address every time: the
 *    library pops nothing of the callee's), the token callback and its free function, the token
 *    store's lock/unlock around a real refresh at the sandbox's OAuth2 server.
 *
 * Environment: OMW_CONFIG_JSON (the account JSON members, as the harness builds them, with the
 * harness's token_file), OMW_SEEDED, OMW_OMS_COUNT.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauthmail_stdcall.h"

#if !defined(_WIN32) || defined(_WIN64)
#error "stdcall.c is the 32-bit Windows test"
#endif

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

/*
 * int32_t stack_call(const void *fn, int nargs, const uint32_t *args, uint32_t *ret):
 * pushes args[nargs-1] .. args[0], calls fn, stores EAX in *ret, and returns how far ESP moved
 * across the call (0: the callee popped its arguments; -4 * nargs: it did not). ESP is then
 * restored, so a wrong callee cannot break this program.
 */
int32_t stack_call(const void *fn, int nargs, const uint32_t *args, uint32_t *ret);
__asm__(".text\n"
        ".globl _stack_call\n"
        "_stack_call:\n"
        "    pushl %ebp\n"
        "    movl %esp, %ebp\n"
        "    pushl %ebx\n"
        "    pushl %esi\n"
        "    pushl %edi\n"
        "    movl 12(%ebp), %ecx\n" /* nargs */
        "    movl 16(%ebp), %esi\n" /* args */
        "    movl %esp, %edi\n"     /* ESP before the arguments */
        "1:  testl %ecx, %ecx\n"
        "    jz 2f\n"
        "    pushl -4(%esi,%ecx,4)\n"
        "    decl %ecx\n"
        "    jmp 1b\n"
        "2:  call *8(%ebp)\n"
        "    movl 20(%ebp), %ecx\n"
        "    movl %eax, (%ecx)\n"
        "    movl %esp, %eax\n"
        "    subl %edi, %eax\n" /* ESP after - ESP before */
        "    movl %edi, %esp\n"
        "    popl %edi\n"
        "    popl %esi\n"
        "    popl %ebx\n"
        "    popl %ebp\n"
        "    ret\n");

static HMODULE g_dll;
static int g_entries;
static char g_seen[64][48];

#define ANY 0x7fffffff
#define U(x) ((uint32_t)(uintptr_t)(x))

/* Calls the named export with up to 6 arguments; checks the balance and, unless ANY, the result. */
static uint32_t call(const char *name, int32_t want, int nargs, ...)
{
    uint32_t args[6] = {0}, ret = 0xdeadbeef;
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++)
        args[i] = va_arg(ap, uint32_t);
    va_end(ap);
    FARPROC fn = GetProcAddress(g_dll, name);
    char what[160];
    snprintf(what, sizeof what, "%s exported undecorated", name);
    if (!check(fn != NULL, what, "GetProcAddress failed (%lu)", GetLastError()))
        return 0xdeadbeef;
    if (strncmp(name, "oms_", 4) == 0) {
        int known = 0;
        for (int i = 0; i < g_entries; i++)
            known |= strcmp(g_seen[i], name) == 0;
        if (!known && g_entries < 64)
            snprintf(g_seen[g_entries++], sizeof g_seen[0], "%s", name);
    }
    int32_t delta = stack_call((const void *)fn, nargs, args, &ret);
    int32_t expected = strncmp(name, "oms_", 4) == 0 ? 0 : -4 * nargs;
    snprintf(what, sizeof what, "%s(%d args): stack balanced (%s)", name, nargs,
             expected == 0 ? "stdcall: the callee pops" : "cdecl: the caller pops");
    check(delta == expected, what, "ESP moved %d bytes, expected %d", delta, expected);
    if (want != ANY) {
        snprintf(what, sizeof what, "%s -> %d", name, want);
        const char *(OMS_CALL *msg)(void) = (const char *(OMS_CALL *)(void))(void *)GetProcAddress(g_dll, "oms_last_error_message");
        check((int32_t)ret == want, what, "got %d (%s)", (int32_t)ret, msg ? msg() : "?");
    }
    return ret;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        printf("stdcall: environment variable %s is not set\n", name);
        exit(2);
    }
    return v;
}

/* ---- stdcall callbacks ------------------------------------------------------------------ */

struct seen {
    int messages, bad_args, tokens, freed, logs, locks, unlocks, saved;
    void *log_frame;
    int log_frame_moved;
    char stored[16384];
};

static int32_t OMS_CALL on_message(void *ud, const om_message *m, const uint8_t *data, size_t len)
{
    struct seen *s = ud;
    if (!m || !data || len < 10 || !m->folder || strcmp(m->folder, "INBOX") != 0 || m->uid == 0)
        s->bad_args++;
    s->messages++;
    return OM_FETCH_CONTINUE;
}

static void OMS_CALL on_tokens(void *ud, const char *json)
{
    struct seen *s = ud;
    if (json && strstr(json, "refresh_token"))
        s->tokens++;
    else
        s->bad_args++;
}

static void OMS_CALL on_free(void *ud)
{
    ((struct seen *)ud)->freed++;
}

static void OMS_CALL on_log(void *ud, int32_t level, const char *message)
{
    struct seen *s = ud;
    void *frame = __builtin_frame_address(0);
    if (level == OM_LOG_WARN && message && strstr(message, "stdcall log")) {
        if (s->log_frame && frame != s->log_frame)
            s->log_frame_moved++;
        s->log_frame = frame;
        s->logs++;
    }
}

static int32_t OMS_CALL on_lock(void *ud, uint32_t timeout_ms, const char **out)
{
    struct seen *s = ud;
    if (timeout_ms == 0 || !out)
        s->bad_args++;
    s->locks++;
    *out = s->stored;
    return OM_TOKEN_STORE_OK;
}

static int32_t OMS_CALL on_unlock(void *ud, const char *json)
{
    struct seen *s = ud;
    s->unlocks++;
    if (json && strstr(json, "refresh_token") && strlen(json) < sizeof s->stored) {
        strcpy(s->stored, json);
        s->saved++;
    }
    return OM_TOKEN_STORE_OK;
}

/* ---- the program -------------------------------------------------------------------------- */

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("# oauthmail %s, 32-bit, the stdcall entry set\n", om_version());
    g_dll = LoadLibraryW(L"oauthmail.dll");
    if (!g_dll) {
        printf("stdcall: cannot load oauthmail.dll (%lu)\n", GetLastError());
        return 2;
    }
    char config[32768];
    snprintf(config, sizeof config, "{%s}", env("OMW_CONFIG_JSON"));
    int seeded = atoi(env("OMW_SEEDED")), expected_entries = atoi(env("OMW_OMS_COUNT"));

    /* the checker tells the two conventions apart */
    call("om_status_name", ANY, 1, U(OM_STATUS_TIMEOUT));
    call("oms_status_name", ANY, 1, U(OM_STATUS_TIMEOUT));

    /* every entry, bad input or harmless arguments */
    char *s = NULL;
    om_account *h = NULL;
    uint32_t n32 = 0;
    size_t len = 0;
    uint8_t *buf = NULL;
    int64_t exp = 0;
    static const char eml[] = "From: a@example.test\r\nSubject: stdcall\r\n\r\nbody\r\n";
    const int IA = OM_STATUS_INVALID_ARGUMENT;
    call("oms_init", OM_STATUS_OK, 0);
    call("oms_version", ANY, 0);
    call("oms_version_number", OM_VERSION_NUMBER, 0);
    call("oms_status_description", ANY, 1, U(OM_STATUS_TIMEOUT));
    call("oms_account_new", IA, 2, U(NULL), U(&h));
    call("oms_last_error_status", IA, 0);
    call("oms_last_error_message", ANY, 0);
    call("oms_last_error_detail", ANY, 0);
    call("oms_last_error_hint", ANY, 0);
    call("oms_account_free", OM_STATUS_OK, 1, U(NULL));
    call("oms_account_config_json", IA, 2, U(NULL), U(&s));
    call("oms_account_check", IA, 2, U(NULL), U(&s));
    call("oms_account_cancel", IA, 1, U(NULL));
    call("oms_account_set_token_callback", IA, 4, U(NULL), U(NULL), U(NULL), U(NULL));
    call("oms_account_set_token_store", IA, 5, U(NULL), U(NULL), U(NULL), U(NULL), U(NULL));
    call("oms_authorize_start", IA, 3, U(NULL), U(NULL), U(&s));
    call("oms_authorize_wait", IA, 2, U(NULL), U(0));
    call("oms_authorize_complete", IA, 3, U(NULL), U("http://127.0.0.1/?code=x"), U(0));
    call("oms_authorize_cancel", IA, 1, U(NULL));
    call("oms_device_start", IA, 3, U(NULL), U(0), U(&s));
    call("oms_messages_list", IA, 3, U(NULL), U(NULL), U(&s));
    call("oms_messages_fetch", IA, 5, U(NULL), U("{\"uids\":[1]}"), U(NULL), U(NULL), U(&n32));
    call("oms_messages_set_flags", IA, 2, U(NULL), U(NULL));
    call("oms_messages_move", IA, 2, U(NULL), U(NULL));
    call("oms_messages_copy", IA, 2, U(NULL), U(NULL));
    call("oms_messages_delete", IA, 2, U(NULL), U(NULL));
    call("oms_folder_create", IA, 3, U(NULL), U("x"), U(0));
    call("oms_wait_for_mail", IA, 4, U(NULL), U(NULL), U(0), U(&s));
    call("oms_fetch", IA, 5, U(NULL), U(NULL), U(NULL), U(NULL), U(&s));
    call("oms_folders_list", IA, 3, U(NULL), U(0), U(&s));
    call("oms_sync_state_export", IA, 2, U(NULL), U(&s));
    call("oms_sync_state_import", IA, 2, U(NULL), U(NULL));
    call("oms_fetch_to_directory", IA, 4, U(NULL), U(NULL), U(NULL), U(&s));
    call("oms_servers_check", IA, 3, U(NULL), U(0), U(&s));
    call("oms_string_free", ANY, 1, U(NULL));
    call("oms_log_set_callback", IA, 4, U(NULL), U(9), U(NULL), U(NULL));
    call("oms_log_write", IA, 2, U(0), U(NULL));
    if (call("oms_message_parse", OM_STATUS_OK, 4, U(eml), U(sizeof eml - 1), U(NULL), U(&s)) == OM_STATUS_OK)
        check(s && strstr(s, "\"stdcall\""), "oms_message_parse: the subject parsed", "%s", s ? s : "(NULL)");
    call("oms_string_free", ANY, 1, U(s));
    s = NULL;
    call("oms_message_attachment", IA, 5, U(eml), U(sizeof eml - 1), U(0), U(&buf), U(&len));
    call("oms_buffer_free", ANY, 1, U(NULL));
    call("oms_message_save_attachments", IA, 5, U(eml), U(sizeof eml - 1), U(NULL), U(NULL), U(&s));
    call("oms_send", IA, 4, U(NULL), U(NULL), U(NULL), U(&s));
    call("oms_send_raw", IA, 5, U(NULL), U(NULL), U(0), U(NULL), U(&s));
    call("oms_send_batch", IA, 4, U(NULL), U(NULL), U(NULL), U(&s));
    call("oms_get_access_token", IA, 4, U(NULL), U(0), U(&s), U(&exp));
    call("oms_tokens_export", IA, 2, U(NULL), U(&s));
    call("oms_tokens_import", IA, 2, U(NULL), U(NULL));
    call("oms_tokens_revoke", IA, 2, U(NULL), U(0));

    /* real calls with stdcall callbacks: fetch, log, token callback */
    struct seen seen;
    memset(&seen, 0, sizeof seen);
    if (call("oms_account_new", OM_STATUS_OK, 2, U(config), U(&h)) == OM_STATUS_OK) {
        call("oms_account_set_token_callback", OM_STATUS_OK, 4, U(h), U(on_tokens), U(&seen), U(on_free));
        char *summary = NULL;
        call("oms_fetch", OM_STATUS_OK, 5, U(h), U("{\"folder\":\"INBOX\",\"only_new\":false}"), U(on_message),
             U(&seen), U(&summary));
        check(seen.messages == seeded && seen.bad_args == 0, "oms_fetch: the stdcall callback got every message",
              "%d messages (seeded %d), %d with bad arguments; %s", seen.messages, seeded, seen.bad_args,
              summary ? summary : "(NULL)");
        call("oms_string_free", ANY, 1, U(summary));
        seen.messages = 0;
        n32 = 0;
        call("oms_messages_fetch", OM_STATUS_OK, 5, U(h), U("{\"folder\":\"INBOX\",\"uids\":[1,2]}"),
             U(on_message), U(&seen), U(&n32));
        check(seen.messages == 2 && n32 == 2 && seen.bad_args == 0,
              "oms_messages_fetch: the stdcall callback got the two chosen", "%d calls, count %u",
              seen.messages, n32);
        call("oms_log_set_callback", OM_STATUS_OK, 4, U(on_log), U(OM_LOG_INFO), U(&seen), U(on_free));
        typedef om_status(OMS_CALL * write_fn)(int32_t, const char *);
        write_fn w = (write_fn)(void *)GetProcAddress(g_dll, "oms_log_write");
        for (int i = 0; w && i < 1000; i++)
            w(OM_LOG_WARN, "stdcall log line");
        call("oms_log_set_callback", OM_STATUS_OK, 4, U(NULL), U(0), U(NULL), U(NULL));
        check(seen.logs == 1000 && seen.log_frame_moved == 0,
              "1,000 stdcall log callbacks, the callback's frame never moved", "%d calls, frame moved %d times",
              seen.logs, seen.log_frame_moved);
        check(seen.freed == 1, "the log callback's free function ran once when removed", "%d", seen.freed);
        /* the token set for the token store below; then the account goes */
        char *tokens = NULL;
        call("oms_tokens_export", OM_STATUS_OK, 2, U(h), U(&tokens));
        if (tokens && strlen(tokens) < sizeof seen.stored) {
            /* expired: the next token request refreshes under the store's lock */
            char *e = strstr(tokens, "\"expires_at\":");
            strcpy(seen.stored, tokens);
            if (e) {
                char *d = seen.stored + (e - tokens) + strlen("\"expires_at\":");
                while (*d >= '0' && *d <= '9')
                    *d++ = '1';
            }
        }
        call("oms_string_free", ANY, 1, U(tokens));
        call("oms_account_free", OM_STATUS_OK, 1, U(h));
        check(seen.freed == 2, "the token callback's free function ran when the account was freed", "%d",
              seen.freed);
        h = NULL;
    }

    /* the token store: a second account without token_file, tokens from the store */
    char config2[32768];
    snprintf(config2, sizeof config2, "{%s}", env("OMW_CONFIG_JSON"));
    char *tf = strstr(config2, ",\"token_file\":");
    if (tf) {
        char *end = strchr(tf + 15, '"');
        while (end && end[-1] == '\\')
            end = strchr(end + 1, '"');
        if (end)
            memmove(tf, end + 1, strlen(end + 1) + 1);
    }
    if (seen.stored[0] && call("oms_account_new", OM_STATUS_OK, 2, U(config2), U(&h)) == OM_STATUS_OK) {
        call("oms_account_set_token_store", OM_STATUS_OK, 5, U(h), U(on_lock), U(on_unlock), U(&seen), U(on_free));
        char *tok = NULL;
        exp = 0;
        call("oms_get_access_token", OM_STATUS_OK, 4, U(h), U(30000), U(&tok), U(&exp));
        check(tok && *tok && exp > 2000000000LL / 2, "oms_get_access_token through the stdcall token store",
              "token %s, expires %lld", tok ? "set" : "(NULL)", (long long)exp);
        call("oms_string_free", ANY, 1, U(tok));
        check(seen.locks >= 1 && seen.unlocks == seen.locks && seen.saved >= 1 && seen.bad_args == 0,
              "lock and unlock callbacks around the refresh, the new set saved",
              "%d locks, %d unlocks, %d saved, %d bad", seen.locks, seen.unlocks, seen.saved, seen.bad_args);
        call("oms_account_free", OM_STATUS_OK, 1, U(h));
        check(seen.freed == 3, "the store's free function ran when the account was freed", "%d", seen.freed);
    } else {
        check(0, "token store account", "no token set exported (%s)", seen.stored[0] ? "account" : "export");
    }

    call("oms_shutdown", OM_STATUS_OK, 0);
    check(g_entries == expected_entries, "every oms_ function of oauthmail_stdcall.h was called",
          "%d called, the header has %d", g_entries, expected_entries);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
