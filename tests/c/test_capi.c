/*
 * test_capi.c -- tests of the oauthmail C ABI from C, against the sandbox OAuth2 server
 * (tests/sandbox) and the Microsoft Graph emulator (tests/sandbox/graph). Compiled against
 * include/oauthmail.h only:
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -pedantic -I include tests/c/test_capi.c \
 *       -L target/debug -loauthmail -lpthread
 *
 * Normally run by tests/c/run.sh (under valgrind), which starts the sandbox, seeds the Graph
 * mailbox and sets:
 *
 *   OM_TEST_ISSUER          https://127.0.0.1:PORT                (sandbox issuer)
 *   OM_TEST_AUTHORIZE_URL   authorization endpoint
 *   OM_TEST_TOKEN_URL       token endpoint
 *   OM_TEST_DEVICE_URL      device authorization endpoint
 *   OM_TEST_REVOCATION_URL  revocation endpoint
 *   OM_TEST_CA_FILE         the sandbox CA (PEM)
 *   OM_TEST_BROWSER         browser_command as JSON array text, e.g.
 *                           ["node","/repo/tests/sandbox/browser.mjs","--ca","/pki/ca.pem"]
 *   OM_TEST_GRAPH_URL       the Microsoft Graph emulator's service root (its "graph_url")
 *   OM_TEST_GRAPH_USER      the Graph scenario's mailbox, where run.sh seeded 3 messages
 *
 * Output: one line per check, "ok - what" or "not ok - what: details", then exactly one line
 * "N passed, M failed". Exit status 0 when nothing failed, 1 otherwise (2: bad environment).
 */

#define _POSIX_C_SOURCE 200809L

#include "oauthmail.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Reporting                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static pthread_mutex_t g_report_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_passed, g_failed;

__attribute__((format(printf, 3, 4))) static int check(int cond, const char *what,
                                                        const char *fmt, ...)
{
    char details[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(details, sizeof details, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_report_lock);
    if (cond) {
        g_passed++;
        printf("ok - %s\n", what);
    } else {
        g_failed++;
        printf("not ok - %s: %s\n", what, details);
    }
    fflush(stdout);
    pthread_mutex_unlock(&g_report_lock);
    return cond;
}

static void section(const char *name)
{
    pthread_mutex_lock(&g_report_lock);
    printf("# %s\n", name);
    fflush(stdout);
    pthread_mutex_unlock(&g_report_lock);
}

static const char *nn(const char *s) { return s ? s : "(NULL)"; }

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Marks the threads this program created (host threads), to check where callbacks run. */
static _Thread_local int t_host_thread;

/* Something that is not a handle: the library must answer OM_STATUS_INVALID_HANDLE without
 * ever dereferencing it. */
static int g_unrelated_int = 42;
#define FOREIGN_HANDLE ((om_account *)(void *)&g_unrelated_int)
#define WILD_HANDLE ((om_account *)(uintptr_t)0x10)

/* Out-pointers are preset to this, so we see whether a failing call set them to NULL. */
static char g_sentinel_byte;
#define SENTINEL ((char *)&g_sentinel_byte)
#define SENTINEL_ACC ((om_account *)(void *)&g_sentinel_byte)

/* The last error, copied at once (the library's pointer is only valid until the next call). */
struct last_err {
    om_status status;
    char message[2048];
    char detail[1024];
    char hint[1024];
    int message_null, detail_null, hint_null;
};

static void grab_last_error(struct last_err *e)
{
    const char *m = om_last_error_message();
    const char *d = om_last_error_detail();
    const char *h = om_last_error_hint();
    e->status = om_last_error_status();
    e->message_null = m == NULL;
    e->detail_null = d == NULL;
    e->hint_null = h == NULL;
    snprintf(e->message, sizeof e->message, "%s", m ? m : "");
    snprintf(e->detail, sizeof e->detail, "%s", d ? d : "");
    snprintf(e->hint, sizeof e->hint, "%s", h ? h : "");
}

/*
 * Checks a call's outcome; must be called right after the call (reads the last error).
 * want == OM_STATUS_OK: the last error must be "" everywhere and its status OK.
 * Otherwise: status as wanted, om_last_error_status() the same, a non-empty message that
 * contains `needle` (if not NULL), and `outs_null` true (the caller's out-pointer test).
 */
static int expect_(om_status got, om_status want, int outs_null, const char *needle,
                   const char *what)
{
    struct last_err e;
    char buf[8192];
    grab_last_error(&e);
    if (e.message_null || e.detail_null || e.hint_null) {
        snprintf(buf, sizeof buf, "om_last_error_* returned NULL (message %d, detail %d, hint %d)",
                 e.message_null, e.detail_null, e.hint_null);
        return check(0, what, "%s", buf);
    }
    if (got != want) {
        snprintf(buf, sizeof buf, "status %d (%s), wanted %d (%s); last error: %s", got,
                 nn(om_status_name(got)), want, nn(om_status_name(want)), e.message);
        return check(0, what, "%s", buf);
    }
    if (want == OM_STATUS_OK) {
        if (e.message[0] || e.detail[0] || e.hint[0] || e.status != OM_STATUS_OK) {
            snprintf(buf, sizeof buf,
                     "succeeded but the last error is not empty: status %d, message \"%s\", "
                     "detail \"%s\", hint \"%s\"",
                     e.status, e.message, e.detail, e.hint);
            return check(0, what, "%s", buf);
        }
        return check(outs_null, what, "%s", "out-pointer check failed");
    }
    if (e.status != want) {
        snprintf(buf, sizeof buf, "om_last_error_status() = %d, wanted %d", e.status, want);
        return check(0, what, "%s", buf);
    }
    if (!e.message[0])
        return check(0, what, "%s", "empty om_last_error_message()");
    if (needle && !strstr(e.message, needle)) {
        snprintf(buf, sizeof buf, "message does not name \"%s\": %s", needle, e.message);
        return check(0, what, "%s", buf);
    }
    return check(outs_null, what, "out-pointer not set to NULL on failure (message: %s)",
                 e.message);
}

/* The call is made first (comma operator: a sequence point), then the out-pointer expression
 * `outs` is evaluated and the outcome checked. Usable as an expression (returns 1 when ok). */
static _Thread_local om_status t_st;
#define expect(call, want, outs, needle, what)                                                 \
    (t_st = (call), expect_(t_st, (want), (outs), (needle), (what)))

/* ------------------------------------------------------------------------------------------ */
/* Tiny JSON helpers                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
    if (*p != '"')
        return NULL;
    p++;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *js_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *js_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = js_ws(p);
    switch (*p) {
    case '{':
        p = js_ws(p + 1);
        if (*p == '}')
            return p + 1;
        for (;;) {
            p = js_string(js_ws(p));
            if (!p)
                return NULL;
            p = js_ws(p);
            if (*p != ':')
                return NULL;
            p = js_value(p + 1, depth + 1);
            if (!p)
                return NULL;
            p = js_ws(p);
            if (*p == '}')
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    case '[':
        p = js_ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            p = js_value(p, depth + 1);
            if (!p)
                return NULL;
            p = js_ws(p);
            if (*p == ']')
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    case '"':
        return js_string(p);
    case 't':
        return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f':
        return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n':
        return strncmp(p, "null", 4) ? NULL : p + 4;
    default:
        return js_number(p);
    }
}

/* 1 when `s` is one complete JSON value whose first character is `kind` ('{' or '['). */
static int json_valid(const char *s, char kind)
{
    if (!s)
        return 0;
    const char *p = js_ws(s);
    if (*p != kind)
        return 0;
    p = js_value(p, 0);
    return p && *js_ws(p) == '\0';
}

/* Where the value of top-level-ish `"key":` starts (first occurrence), or NULL. */
static const char *json_find(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? js_ws(p + strlen(pat)) : NULL;
}

static long long json_get_int(const char *json, const char *key, long long dflt)
{
    const char *p = json_find(json, key);
    if (!p || !js_number(p))
        return dflt;
    return strtoll(p, NULL, 10);
}

/* Copies the string value of `key` (no escapes expected: tokens, ids, URLs). */
static int json_get_str(const char *json, const char *key, char *out, size_t n)
{
    const char *p = json_find(json, key);
    out[0] = '\0';
    if (!p || *p != '"')
        return 0;
    const char *end = strchr(p + 1, '"');
    if (!end || (size_t)(end - p - 1) >= n)
        return 0;
    memcpy(out, p + 1, (size_t)(end - p - 1));
    out[end - p - 1] = '\0';
    return 1;
}

/* A malloc'd copy of `json` with the number after `"key":` replaced by `value`. */
static char *json_set_int(const char *json, const char *key, long long value)
{
    const char *p = json_find(json, key);
    const char *end = p ? js_number(p) : NULL;
    if (!end)
        return NULL;
    char num[32];
    snprintf(num, sizeof num, "%lld", value);
    size_t n = (size_t)(p - json) + strlen(num) + strlen(end) + 1;
    char *r = malloc(n);
    if (!r)
        return NULL;
    memcpy(r, json, (size_t)(p - json));
    snprintf(r + (p - json), n - (size_t)(p - json), "%s%s", num, end);
    return r;
}

/* A malloc'd copy of `json` without the whitespace between tokens (om_servers_check's JSON is
 * pretty-printed; strings are kept as they are). */
static char *json_compact(const char *json)
{
    char *r = malloc(strlen(json) + 1);
    if (!r)
        abort();
    size_t j = 0;
    int in_string = 0;
    for (const char *p = json; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1]) {
                r[j++] = *p++;
            } else if (*p == '"') {
                in_string = 0;
            }
        } else if (*p == '"') {
            in_string = 1;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            continue;
        }
        r[j++] = *p;
    }
    r[j] = '\0';
    return r;
}

/* JSON string body for `s` (quotes and backslashes escaped). */
static void json_escape(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (; *s && j + 3 < n; s++) {
        if (*s == '"' || *s == '\\')
            out[j++] = '\\';
        out[j++] = *s;
    }
    out[j] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* Environment and configurations                                                             */
/* ------------------------------------------------------------------------------------------ */

#define SECRET "confidential-secret"

static struct {
    char issuer[512], authorize[512], token[512], device[512], revocation[512], ca[1024];
    char graph_url[512], graph_user[512];
    const char *browser;
} env;

static char g_cfg_quiet[8192];   /* confidential-app, no browser */
static char g_cfg_browser[8192]; /* confidential-app, opens the scripted browser */
static char g_token_url_exported[512];

static int load_env(void)
{
    struct {
        const char *name;
        char *dst;
    } vars[] = {
        {"OM_TEST_ISSUER", env.issuer},         {"OM_TEST_AUTHORIZE_URL", env.authorize},
        {"OM_TEST_TOKEN_URL", env.token},       {"OM_TEST_DEVICE_URL", env.device},
        {"OM_TEST_REVOCATION_URL", env.revocation}, {"OM_TEST_CA_FILE", env.ca},
        {"OM_TEST_GRAPH_URL", env.graph_url},   {"OM_TEST_GRAPH_USER", env.graph_user},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].name);
        if (!v || !*v) {
            fprintf(stderr, "test_capi: %s is not set (run tests/c/run.sh)\n", vars[i].name);
            return 0;
        }
        json_escape(v, vars[i].dst, 512);
    }
    env.browser = getenv("OM_TEST_BROWSER");
    if (!env.browser || !json_valid(env.browser, '[')) {
        fprintf(stderr, "test_capi: OM_TEST_BROWSER must be a JSON array (run tests/c/run.sh)\n");
        return 0;
    }
    const char *base =
        "\"provider\":\"custom\",\"client_id\":\"confidential-app\","
        "\"client_secret\":\"" SECRET "\",\"authorize_url\":\"%s\",\"token_url\":\"%s\","
        "\"device_authorization_url\":\"%s\",\"revocation_url\":\"%s\","
        "\"client_auth\":\"request_body\",\"scopes\":\"openid offline_access email mail\","
        "\"redirect_uri\":\"http://127.0.0.1/\",\"email\":\"alice@example.test\","
        "\"ca_certs_file\":\"%s\",\"timeout_secs\":30";
    char common[4096];
    snprintf(common, sizeof common, base, env.authorize, env.token, env.device, env.revocation,
             env.ca);
    snprintf(g_cfg_quiet, sizeof g_cfg_quiet, "{%s,\"open_browser\":false}", common);
    snprintf(g_cfg_browser, sizeof g_cfg_browser,
             "{%s,\"open_browser\":true,\"browser_command\":%s}", common, env.browser);
    return 1;
}

/* A config with `extra` (",\"key\":value" text) inserted before the closing brace. */
static char *cfg_with(const char *extra)
{
    size_t n = strlen(g_cfg_quiet) + strlen(extra) + 1;
    char *r = malloc(n);
    if (!r)
        abort();
    size_t base = strlen(g_cfg_quiet) - 1;
    memcpy(r, g_cfg_quiet, base);
    snprintf(r + base, n - base, "%s}", extra);
    return r;
}

/* A token set for confidential-app holding a (fake) access token valid for an hour. */
static void fake_token_set(char *out, size_t n, long long version, const char *access,
                           long long expires_at, const char *refresh)
{
    long long now = (long long)time(NULL);
    char rt[256] = "";
    if (refresh)
        snprintf(rt, sizeof rt, ",\"refresh_token\":\"%s\"", refresh);
    snprintf(out, n,
             "{\"format\":1,\"version\":%lld,\"updated_at\":%lld,\"client_id\":"
             "\"confidential-app\",\"token_url\":\"%s\",\"access_token\":\"%s\","
             "\"expires_at\":%lld%s,\"token_type\":\"Bearer\"}",
             version, now, g_token_url_exported, access, expires_at, rt);
}

/* ------------------------------------------------------------------------------------------ */
/* Log callback: counts and keeps every message (checked for secrets after the flow)         */
/* ------------------------------------------------------------------------------------------ */

static struct {
    pthread_mutex_t lock;
    char **msgs;
    size_t n, cap;
    atomic_long count;
    atomic_int bad_level;
} g_log = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0};

static void on_log(void *user_data, int32_t level, const char *message)
{
    if (user_data != (void *)&g_log || level < OM_LOG_ERROR || level > OM_LOG_DEBUG ||
        message == NULL) {
        atomic_fetch_add(&g_log.bad_level, 1);
        return;
    }
    atomic_fetch_add(&g_log.count, 1);
    pthread_mutex_lock(&g_log.lock);
    if (g_log.n == g_log.cap) {
        size_t cap = g_log.cap ? g_log.cap * 2 : 256;
        char **m = realloc(g_log.msgs, cap * sizeof *m);
        if (m) {
            g_log.msgs = m;
            g_log.cap = cap;
        }
    }
    if (g_log.n < g_log.cap) {
        char *copy = malloc(strlen(message) + 1);
        if (copy) {
            strcpy(copy, message);
            g_log.msgs[g_log.n++] = copy;
        }
    }
    pthread_mutex_unlock(&g_log.lock);
}

/* The first kept log message containing `needle`, or NULL. */
static const char *log_find(const char *needle)
{
    const char *hit = NULL;
    if (!needle || strlen(needle) < 6)
        return NULL;
    pthread_mutex_lock(&g_log.lock);
    for (size_t i = 0; i < g_log.n && !hit; i++)
        if (strstr(g_log.msgs[i], needle))
            hit = g_log.msgs[i];
    pthread_mutex_unlock(&g_log.lock);
    return hit;
}

static void log_free_all(void)
{
    pthread_mutex_lock(&g_log.lock);
    for (size_t i = 0; i < g_log.n; i++)
        free(g_log.msgs[i]);
    free(g_log.msgs);
    g_log.msgs = NULL;
    g_log.n = g_log.cap = 0;
    pthread_mutex_unlock(&g_log.lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Token callback                                                                             */
/* ------------------------------------------------------------------------------------------ */

#define MAX_SETS 16

struct token_cb_data {
    om_account *account; /* the account the callback belongs to */
    om_account *other;   /* another account (usable from inside the callback) */
    int calls;
    int off_host_thread; /* calls that ran on a thread we did not create */
    int reentry_done;
    om_status reentrant_export, reentrant_free, reentrant_shutdown, other_config;
    om_status other_import_null;
    int reentrant_export_out_null;
    char *sets[MAX_SETS]; /* copies of every token set received */
};

static atomic_int g_token_data_freed;

static void on_tokens(void *user_data, const char *tokens_json)
{
    struct token_cb_data *d = user_data;
    if (!t_host_thread)
        d->off_host_thread++;
    if (d->calls < MAX_SETS && tokens_json) {
        d->sets[d->calls] = malloc(strlen(tokens_json) + 1);
        if (d->sets[d->calls])
            strcpy(d->sets[d->calls], tokens_json);
    }
    d->calls++;
    if (!d->reentry_done) {
        /* Calls into the same account from inside its callback are refused... */
        d->reentry_done = 1;
        char *out = SENTINEL;
        d->reentrant_export = om_tokens_export(d->account, &out);
        d->reentrant_export_out_null = out == NULL;
        if (out && out != SENTINEL)
            om_string_free(out);
        d->reentrant_free = om_account_free(d->account);
        /* ...as is om_shutdown (the header: "not from inside a callback"). main() holds an
         * extra om_init() reference, so a wrongly accepted shutdown only drops that one. */
        d->reentrant_shutdown = om_shutdown();
        /* another account is fine */
        out = NULL;
        d->other_config = om_account_config_json(d->other, &out);
        om_string_free(out);
        /* end with a failing call: the enclosing call that succeeds must still leave the last
         * error empty ("" after a successful call) */
        d->other_import_null = om_tokens_import(d->other, NULL);
    }
}

static void free_token_data(void *user_data)
{
    struct token_cb_data *d = user_data;
    for (int i = 0; i < MAX_SETS; i++)
        free(d->sets[i]);
    free(d);
    atomic_fetch_add(&g_token_data_freed, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Part 0: library functions that need no account; calls before om_init()                   */
/* ------------------------------------------------------------------------------------------ */

struct status_entry {
    om_status code;
    const char *name;
};
#define ST(x) {x, #x}
static const struct status_entry k_statuses[] = {
    ST(OM_STATUS_OK),
    ST(OM_STATUS_INVALID_ARGUMENT),
    ST(OM_STATUS_INVALID_CONFIG),
    ST(OM_STATUS_INVALID_HANDLE),
    ST(OM_STATUS_NOT_INITIALIZED),
    ST(OM_STATUS_PENDING),
    ST(OM_STATUS_TIMEOUT),
    ST(OM_STATUS_CANCELLED),
    ST(OM_STATUS_AUTHORIZATION_REQUIRED),
    ST(OM_STATUS_ACCESS_DENIED),
    ST(OM_STATUS_PROVIDER_ERROR),
    ST(OM_STATUS_NETWORK_ERROR),
    ST(OM_STATUS_TLS_ERROR),
    ST(OM_STATUS_PORT_IN_USE),
    ST(OM_STATUS_STATE_MISMATCH),
    ST(OM_STATUS_WRONG_STATE),
    ST(OM_STATUS_REENTRANT_CALL),
    ST(OM_STATUS_IO_ERROR),
    ST(OM_STATUS_STALE_TOKENS),
    ST(OM_STATUS_UNSUPPORTED),
    ST(OM_STATUS_PROTOCOL_ERROR),
    ST(OM_STATUS_PANIC),
};

static int32_t accept_message(void *user_data, const om_message *m, const uint8_t *data, size_t len)
{
    (void)user_data; (void)m; (void)data; (void)len;
    return OM_FETCH_CONTINUE;
}

static void test_static_functions(void)
{
    section("library functions without an account");
    const char *v = om_version();
    check(v && strcmp(v, OM_VERSION_STRING) == 0, "om_version() matches OM_VERSION_STRING",
          "got %s", nn(v));
    check(om_version_number() == OM_VERSION_NUMBER,
          "om_version_number() matches OM_VERSION_NUMBER", "got %u",
          (unsigned)om_version_number());

    int names_ok = 1, descr_ok = 1;
    char bad[512] = "";
    for (size_t i = 0; i < sizeof k_statuses / sizeof k_statuses[0]; i++) {
        const char *n = om_status_name(k_statuses[i].code);
        const char *d = om_status_description(k_statuses[i].code);
        if (!n || strcmp(n, k_statuses[i].name) != 0) {
            names_ok = 0;
            snprintf(bad, sizeof bad, "%d -> %s", k_statuses[i].code, nn(n));
        }
        if (!d || !*d || strcmp(d, "unknown status") == 0) {
            descr_ok = 0;
            snprintf(bad, sizeof bad, "%d -> description %s", k_statuses[i].code, nn(d));
        }
    }
    check(names_ok, "om_status_name() of every OM_STATUS_* constant is its name", "%s", bad);
    check(descr_ok, "om_status_description() of every OM_STATUS_* constant is a real text", "%s",
          bad);
    const om_status unknown[] = {-1, 98, 100, 1000, 4242, INT32_MAX, INT32_MIN};
    int unk_ok = 1;
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *n = om_status_name(unknown[i]);
        const char *d = om_status_description(unknown[i]);
        if (!n || strcmp(n, "OM_STATUS_UNKNOWN") || !d || strcmp(d, "unknown status")) {
            unk_ok = 0;
            snprintf(bad, sizeof bad, "%d -> %s / %s", unknown[i], nn(n), nn(d));
        }
    }
    check(unk_ok, "om_status_name/description of unknown codes: OM_STATUS_UNKNOWN / unknown status",
          "%s", bad);

    om_string_free(NULL);
    check(1, "om_string_free(NULL) is ignored", "%s", "");

    struct last_err e;
    grab_last_error(&e);
    check(!e.message_null && !e.detail_null && !e.hint_null && !e.message[0] && !e.detail[0] &&
              !e.hint[0] && e.status == OM_STATUS_OK,
          "om_last_error_* never NULL and empty before any failing call",
          "status %d message '%s'", e.status, e.message);

    expect(om_log_set_callback(on_log, 4, &g_log, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "max_level",
           "om_log_set_callback(level 4) -> INVALID_ARGUMENT naming max_level");
    expect(om_log_set_callback(on_log, -1, &g_log, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "max_level",
           "om_log_set_callback(level -1) -> INVALID_ARGUMENT");
    expect(om_log_set_callback(NULL, INT32_MAX, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, NULL,
           "om_log_set_callback(NULL, INT32_MAX) -> INVALID_ARGUMENT");
    expect(om_log_write(OM_LOG_INFO, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "message",
           "om_log_write(NULL message) -> INVALID_ARGUMENT naming message");
    expect(om_log_write(7, "x"), OM_STATUS_INVALID_ARGUMENT, 1, "level",
           "om_log_write(level 7) -> INVALID_ARGUMENT naming level");
    expect(om_log_write(-3, "x"), OM_STATUS_INVALID_ARGUMENT, 1, "level",
           "om_log_write(level -3) -> INVALID_ARGUMENT");
    expect(om_log_write(OM_LOG_ERROR, "\xff\xfe"), OM_STATUS_INVALID_ARGUMENT, 1, "UTF-8",
           "om_log_write(invalid UTF-8) -> INVALID_ARGUMENT");
    expect(om_log_write(OM_LOG_DEBUG, "no callback installed"), OM_STATUS_OK, 1, NULL,
           "om_log_write without a callback -> OK");
}

static void test_before_init(void)
{
    section("before om_init()");
    expect(om_shutdown(), OM_STATUS_NOT_INITIALIZED, 1, NULL,
           "om_shutdown() before any om_init() -> NOT_INITIALIZED");

    om_account *a = SENTINEL_ACC;
    if (!expect(om_account_new(g_cfg_quiet, &a), OM_STATUS_OK, a != NULL && a != SENTINEL_ACC,
                NULL, "om_account_new works before om_init()"))
        return;

    char *out = SENTINEL;
    expect(om_tokens_export(a, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
           "om_tokens_export before om_init()");
    if (out && out != SENTINEL) {
        check(json_valid(out, '{') && json_get_int(out, "version", -1) == 0,
              "an empty token set has version 0", "%s", out);
        json_get_str(out, "token_url", g_token_url_exported, sizeof g_token_url_exported);
        check(g_token_url_exported[0] != '\0', "the exported set names its token_url", "%s", out);
        om_string_free(out);
    }

    out = SENTINEL;
    expect(om_authorize_start(a, "{\"open_browser\":false}", &out), OM_STATUS_NOT_INITIALIZED,
           out == NULL, "om_init", "om_authorize_start before om_init() -> NOT_INITIALIZED");
    out = SENTINEL;
    expect(om_device_start(a, 2000, &out), OM_STATUS_NOT_INITIALIZED, out == NULL, NULL,
           "om_device_start before om_init() -> NOT_INITIALIZED");
    expect(om_tokens_revoke(a, 2000), OM_STATUS_NOT_INITIALIZED, 1, NULL,
           "om_tokens_revoke before om_init() -> NOT_INITIALIZED");
    expect(om_authorize_complete(a, "http://127.0.0.1:1234/?code=abc&state=def", 2000),
           OM_STATUS_NOT_INITIALIZED, 1, NULL,
           "om_authorize_complete before om_init() -> NOT_INITIALIZED");

    /* a cached token needs no runtime; a refresh does */
    char set[2048];
    long long now = (long long)time(NULL);
    fake_token_set(set, sizeof set, 3, "fake-access-token-preinit", now + 3600,
                   "fake-refresh-token-preinit");
    expect(om_tokens_import(a, set), OM_STATUS_OK, 1, NULL,
           "om_tokens_import before om_init()");
    out = SENTINEL;
    int64_t exp = 0;
    expect(om_get_access_token(a, 2000, &out, &exp), OM_STATUS_OK, out && out != SENTINEL, NULL,
           "om_get_access_token returns a cached token before om_init()");
    if (out && out != SENTINEL) {
        check(strcmp(out, "fake-access-token-preinit") == 0 && exp == now + 3600,
              "the cached token and its expiry are the imported ones", "got %s, %lld", out,
              (long long)exp);
        om_string_free(out);
    }
    fake_token_set(set, sizeof set, 4, "fake-access-token-preinit", 1,
                   "fake-refresh-token-preinit");
    expect(om_tokens_import(a, set), OM_STATUS_OK, 1, NULL, "import an expired set (version 4)");
    out = SENTINEL;
    exp = 777;
    expect(om_get_access_token(a, 2000, &out, &exp), OM_STATUS_NOT_INITIALIZED,
           out == NULL && exp == 0, NULL,
           "om_get_access_token needing a refresh before om_init() -> NOT_INITIALIZED");
    om_status w = om_authorize_wait(a, 0);
    check(w == OM_STATUS_WRONG_STATE || w == OM_STATUS_NOT_INITIALIZED,
          "om_authorize_wait before om_init() -> WRONG_STATE or NOT_INITIALIZED", "got %d (%s)",
          w, nn(om_status_name(w)));
    expect(om_account_free(a), OM_STATUS_OK, 1, NULL, "om_account_free before om_init()");
}

/* ------------------------------------------------------------------------------------------ */
/* Part b: bad input on every function                                                        */
/* ------------------------------------------------------------------------------------------ */

static void test_bad_input(void)
{
    section("bad input: om_account_new");
    om_account *a = SENTINEL_ACC;
    expect(om_account_new(NULL, &a), OM_STATUS_INVALID_ARGUMENT, a == NULL, "config_json",
           "om_account_new(NULL config) -> INVALID_ARGUMENT naming config_json");
    expect(om_account_new(g_cfg_quiet, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_account",
           "om_account_new(NULL out_account) -> INVALID_ARGUMENT naming out_account");
    expect(om_account_new(NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, NULL,
           "om_account_new(NULL, NULL) -> INVALID_ARGUMENT");
    a = SENTINEL_ACC;
    expect(om_account_new("\xff\xfe", &a), OM_STATUS_INVALID_ARGUMENT, a == NULL, "UTF-8",
           "om_account_new(invalid UTF-8) -> INVALID_ARGUMENT");
    a = SENTINEL_ACC;
    expect(om_account_new("{\"provider\":\"custom\",\"client_id\":\"\xc3\x28\"}", &a),
           OM_STATUS_INVALID_ARGUMENT, a == NULL, "UTF-8",
           "om_account_new(invalid UTF-8 inside a JSON string) -> INVALID_ARGUMENT");

    static const struct {
        const char *json, *needle, *what;
    } bad_json[] = {
        {"", NULL, "om_account_new(\"\") -> INVALID_CONFIG"},
        {"{", "EOF", "om_account_new(\"{\") -> INVALID_CONFIG (message says where)"},
        {"{\"provider\":\"custom\",}", "line", "om_account_new(trailing comma) -> INVALID_CONFIG"},
        {"[]", NULL, "om_account_new(\"[]\") -> INVALID_CONFIG"},
        {"null", NULL, "om_account_new(\"null\") -> INVALID_CONFIG"},
        {"{\"provider\":\"custom\"}garbage", NULL,
         "om_account_new(trailing garbage) -> INVALID_CONFIG"},
        {"{\"provider\":\"nonesuch\",\"client_id\":\"x\"}", "provider",
         "om_account_new(unknown provider) -> INVALID_CONFIG naming provider"},
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        a = SENTINEL_ACC;
        expect(om_account_new(bad_json[i].json, &a), OM_STATUS_INVALID_CONFIG, a == NULL,
               bad_json[i].needle, bad_json[i].what);
    }
    static const struct {
        const char *extra, *needle, *what;
    } bad_keys[] = {
        {",\"bogus_key\":1", "bogus_key", "om_account_new(unknown key) -> INVALID_CONFIG naming it"},
        {",\"refresh_margin_secs\":\"ten\"", "refresh_margin_secs",
         "om_account_new(wrong type) -> INVALID_CONFIG naming the key"},
        {",\"allow_insecure_transport\":\"yes\"", "allow_insecure_transport",
         "om_account_new(a bool key given a string) -> INVALID_CONFIG naming it"},
        {",\"browser_command\":\"node\"", "browser_command",
         "om_account_new(browser_command not an array) -> INVALID_CONFIG naming it"},
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        char *cfg = cfg_with(bad_keys[i].extra);
        a = SENTINEL_ACC;
        expect(om_account_new(cfg, &a), OM_STATUS_INVALID_CONFIG, a == NULL, bad_keys[i].needle,
               bad_keys[i].what);
        free(cfg);
    }
    a = SENTINEL_ACC;
    expect(om_account_new("{\"provider\":\"custom\",\"token_url\":\"https://127.0.0.1:1/token\"}",
                          &a),
           OM_STATUS_INVALID_CONFIG, a == NULL, "client_id",
           "om_account_new(missing client_id) -> INVALID_CONFIG naming client_id");

    /* two live accounts, one freed handle */
    om_account *acc = NULL, *dead = NULL;
    if (!expect(om_account_new(g_cfg_quiet, &acc), OM_STATUS_OK, acc != NULL, NULL,
                "om_account_new(valid config)") ||
        !expect(om_account_new(g_cfg_quiet, &dead), OM_STATUS_OK, dead != NULL, NULL,
                "om_account_new(second account)"))
        return;
    check(acc != dead, "two accounts get different handles", "%p", (void *)acc);
    expect(om_account_free(dead), OM_STATUS_OK, 1, NULL, "om_account_free(account)");

    struct {
        om_account *h;
        const char *name;
    } bad_handles[] = {{dead, "freed"}, {FOREIGN_HANDLE, "foreign"}, {WILD_HANDLE, "wild (0x10)"}};
    char what[256];

    section("bad input: om_account_free / config_json / check / cancel");
    expect(om_account_free(NULL), OM_STATUS_OK, 1, NULL, "om_account_free(NULL) is ignored");
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_account_free(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_account_free(bad_handles[i].h), OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }

    typedef om_status (*out_fn)(om_account *, char **);
    struct {
        out_fn fn;
        const char *name;
    } outfns[] = {{om_account_config_json, "om_account_config_json"},
                  {om_account_check, "om_account_check"},
                  {om_tokens_export, "om_tokens_export"}};
    for (size_t f = 0; f < 3; f++) {
        char *out = SENTINEL;
        snprintf(what, sizeof what, "%s(NULL account) -> INVALID_ARGUMENT", outfns[f].name);
        expect(outfns[f].fn(NULL, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL, "account",
               what);
        snprintf(what, sizeof what, "%s(NULL out_json) -> INVALID_ARGUMENT", outfns[f].name);
        expect(outfns[f].fn(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json", what);
        for (size_t i = 0; i < 3; i++) {
            out = SENTINEL;
            snprintf(what, sizeof what, "%s(%s handle) -> INVALID_HANDLE", outfns[f].name,
                     bad_handles[i].name);
            expect(outfns[f].fn(bad_handles[i].h, &out), OM_STATUS_INVALID_HANDLE, out == NULL,
                   NULL, what);
        }
        out = SENTINEL;
        snprintf(what, sizeof what, "%s(valid) -> OK", outfns[f].name);
        expect(outfns[f].fn(acc, &out), OM_STATUS_OK, out && out != SENTINEL, NULL, what);
        if (out && out != SENTINEL)
            om_string_free(out);
    }

    expect(om_account_cancel(NULL), OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_account_cancel(NULL) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_account_cancel(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_account_cancel(bad_handles[i].h), OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }
    expect(om_account_cancel(acc), OM_STATUS_OK, 1, NULL, "om_account_cancel(idle account) -> OK");

    section("bad input: om_account_set_token_callback");
    int before = atomic_load(&g_token_data_freed);
    struct token_cb_data *d = calloc(1, sizeof *d);
    om_status st = om_account_set_token_callback(NULL, on_tokens, d, free_token_data);
    expect(st, OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_account_set_token_callback(NULL account) -> INVALID_ARGUMENT");
    /* Whether a refused call releases user_data is not documented: do not free it twice. */
    int freed_on_error = atomic_load(&g_token_data_freed) - before;
    printf("# note: om_account_set_token_callback(NULL account) %s free_user_data\n",
           freed_on_error ? "called" : "did not call");
    if (!freed_on_error)
        free(d);
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_account_set_token_callback(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_account_set_token_callback(bad_handles[i].h, on_tokens, NULL, NULL),
               OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }
    d = calloc(1, sizeof *d);
    before = atomic_load(&g_token_data_freed);
    expect(om_account_set_token_callback(acc, on_tokens, d, free_token_data), OM_STATUS_OK, 1,
           NULL, "om_account_set_token_callback(valid) -> OK");
    expect(om_account_set_token_callback(acc, NULL, NULL, NULL), OM_STATUS_OK, 1, NULL,
           "om_account_set_token_callback(NULL callback) removes it -> OK");
    check(atomic_load(&g_token_data_freed) == before + 1,
          "replacing the token callback calls free_user_data once", "freed %d times",
          atomic_load(&g_token_data_freed) - before);

    section("bad input: om_authorize_start / wait / complete / cancel");
    char *out = SENTINEL;
    expect(om_authorize_start(NULL, NULL, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL,
           "account", "om_authorize_start(NULL account) -> INVALID_ARGUMENT");
    expect(om_authorize_start(acc, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
           "om_authorize_start(NULL out_json) -> INVALID_ARGUMENT");
    out = SENTINEL;
    expect(om_authorize_start(acc, "\xff\xfe", &out), OM_STATUS_INVALID_ARGUMENT, out == NULL,
           "options_json", "om_authorize_start(invalid UTF-8 options) -> INVALID_ARGUMENT");
    static const struct {
        const char *opts, *needle, *what;
    } bad_opts[] = {
        {"{", "EOF", "om_authorize_start(options \"{\") -> INVALID_CONFIG"},
        {"[1]", NULL, "om_authorize_start(options not an object) -> INVALID_CONFIG"},
        {"{\"open_browser\":false,\"bogus_option\":1}", "bogus_option",
         "om_authorize_start(unknown option) -> INVALID_CONFIG naming it"},
        {"{\"listen\":\"yes\"}", "listen",
         "om_authorize_start(listen not a bool) -> INVALID_CONFIG naming it"},
    };
    for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
        out = SENTINEL;
        expect(om_authorize_start(acc, bad_opts[i].opts, &out), OM_STATUS_INVALID_CONFIG,
               out == NULL, bad_opts[i].needle, bad_opts[i].what);
    }
    for (size_t i = 0; i < 3; i++) {
        out = SENTINEL;
        snprintf(what, sizeof what, "om_authorize_start(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_authorize_start(bad_handles[i].h, "{\"open_browser\":false}", &out),
               OM_STATUS_INVALID_HANDLE, out == NULL, NULL, what);
    }

    expect(om_authorize_wait(NULL, 0), OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_authorize_wait(NULL) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_authorize_wait(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_authorize_wait(bad_handles[i].h, 0), OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }
    expect(om_authorize_wait(acc, 0), OM_STATUS_WRONG_STATE, 1, NULL,
           "om_authorize_wait with nothing started -> WRONG_STATE");
    expect(om_authorize_wait(acc, 100), OM_STATUS_WRONG_STATE, 1, NULL,
           "om_authorize_wait(100 ms) with nothing started -> WRONG_STATE");

    const char *url = "http://127.0.0.1:1234/?code=abc&state=def";
    expect(om_authorize_complete(NULL, url, 1000), OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_authorize_complete(NULL account) -> INVALID_ARGUMENT");
    expect(om_authorize_complete(acc, NULL, 1000), OM_STATUS_INVALID_ARGUMENT, 1, "redirect_url",
           "om_authorize_complete(NULL url) -> INVALID_ARGUMENT naming redirect_url");
    expect(om_authorize_complete(acc, "http://127.0.0.1/?code=\xff", 1000),
           OM_STATUS_INVALID_ARGUMENT, 1, "UTF-8",
           "om_authorize_complete(invalid UTF-8 url) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_authorize_complete(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_authorize_complete(bad_handles[i].h, url, 1000), OM_STATUS_INVALID_HANDLE, 1,
               NULL, what);
    }
    expect(om_authorize_complete(acc, url, 1000), OM_STATUS_WRONG_STATE, 1, NULL,
           "om_authorize_complete with nothing started -> WRONG_STATE");

    expect(om_authorize_cancel(NULL), OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_authorize_cancel(NULL) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_authorize_cancel(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_authorize_cancel(bad_handles[i].h), OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }
    expect(om_authorize_cancel(acc), OM_STATUS_OK, 1, NULL,
           "om_authorize_cancel with nothing running -> OK");

    out = SENTINEL;
    if (expect(om_authorize_start(acc, NULL, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_authorize_start(NULL options: defaults, config says no browser) -> OK")) {
        check(json_valid(out, '{') && strstr(out, "\"browser_opened\":false") &&
                  strstr(out, "\"listening\":true"),
              "om_authorize_start(NULL options) listens and does not open a browser", "%s", out);
        om_string_free(out);
        /* a second start cancels the first (documented) */
        out = SENTINEL;
        expect(om_authorize_start(acc, "", &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_authorize_start(\"\" options) again -> OK");
        if (out && out != SENTINEL)
            om_string_free(out);
        expect(om_authorize_cancel(acc), OM_STATUS_OK, 1, NULL, "om_authorize_cancel -> OK");
    }

    /* a started flow without listener: bad pasted URLs, then cancel */
    out = SENTINEL;
    if (expect(om_authorize_start(acc, "{\"open_browser\":false,\"listen\":false}", &out),
               OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_authorize_start(listen:false, open_browser:false) -> OK")) {
        check(json_valid(out, '{') && strstr(out, "\"authorization_url\"") &&
                  strstr(out, "\"listening\":false") && strstr(out, "\"browser_opened\":false"),
              "om_authorize_start out_json is an object with authorization_url, listening:false",
              "%s", out);
        om_string_free(out);
        expect(om_authorize_wait(acc, 0), OM_STATUS_PENDING, 1, NULL,
               "om_authorize_wait(0) on a started flow -> PENDING");
        expect(om_authorize_complete(acc, "not a url", 2000), OM_STATUS_INVALID_ARGUMENT, 1, NULL,
               "om_authorize_complete(\"not a url\") -> INVALID_ARGUMENT");
        expect(om_authorize_complete(acc, "http://127.0.0.1/?code=abc&state=forged", 2000),
               OM_STATUS_STATE_MISMATCH, 1, "state",
               "om_authorize_complete(forged state) -> STATE_MISMATCH");
        expect(om_authorize_cancel(acc), OM_STATUS_OK, 1, NULL, "om_authorize_cancel -> OK");
        expect(om_authorize_wait(acc, 1000), OM_STATUS_CANCELLED, 1, NULL,
               "om_authorize_wait after cancel -> CANCELLED");
        expect(om_authorize_wait(acc, 0), OM_STATUS_CANCELLED, 1, NULL,
               "om_authorize_wait again -> the same outcome (CANCELLED)");
    }

    section("bad input: om_device_start");
    out = SENTINEL;
    expect(om_device_start(NULL, 1000, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL, "account",
           "om_device_start(NULL account) -> INVALID_ARGUMENT");
    expect(om_device_start(acc, 1000, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
           "om_device_start(NULL out_json) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        out = SENTINEL;
        snprintf(what, sizeof what, "om_device_start(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_device_start(bad_handles[i].h, 1000, &out), OM_STATUS_INVALID_HANDLE,
               out == NULL, NULL, what);
    }
    out = SENTINEL;
    if (expect(om_device_start(acc, 0, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_device_start against the sandbox -> OK")) {
        check(json_valid(out, '{') && strstr(out, "\"user_code\"") &&
                  strstr(out, "\"verification_uri\""),
              "om_device_start out_json has user_code and verification_uri", "%s", out);
        om_string_free(out);
        expect(om_authorize_wait(acc, 0), OM_STATUS_PENDING, 1, NULL,
               "om_authorize_wait(0) on a device flow -> PENDING");
        expect(om_authorize_cancel(acc), OM_STATUS_OK, 1, NULL, "cancel the device flow");
        expect(om_authorize_wait(acc, 1000), OM_STATUS_CANCELLED, 1, NULL,
               "om_authorize_wait after cancelling the device flow -> CANCELLED");
    }

    section("bad input: om_get_access_token / om_tokens_*");
    int64_t exp = 5;
    out = SENTINEL;
    expect(om_get_access_token(NULL, 1000, &out, &exp), OM_STATUS_INVALID_ARGUMENT,
           out == NULL && exp == 0, "account",
           "om_get_access_token(NULL account) -> INVALID_ARGUMENT, outs cleared");
    expect(om_get_access_token(acc, 1000, NULL, &exp), OM_STATUS_INVALID_ARGUMENT, 1, "out_token",
           "om_get_access_token(NULL out_token) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        out = SENTINEL;
        exp = 5;
        snprintf(what, sizeof what, "om_get_access_token(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_get_access_token(bad_handles[i].h, 1000, &out, &exp), OM_STATUS_INVALID_HANDLE,
               out == NULL && exp == 0, NULL, what);
    }
    out = SENTINEL;
    exp = 5;
    expect(om_get_access_token(acc, 2000, &out, &exp), OM_STATUS_AUTHORIZATION_REQUIRED,
           out == NULL && exp == 0, NULL,
           "om_get_access_token without tokens -> AUTHORIZATION_REQUIRED");
    out = SENTINEL;
    expect(om_get_access_token(acc, 2000, &out, NULL), OM_STATUS_AUTHORIZATION_REQUIRED,
           out == NULL, NULL,
           "om_get_access_token(NULL out_expires_at, no tokens) -> AUTHORIZATION_REQUIRED");

    expect(om_tokens_import(NULL, "{}"), OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_tokens_import(NULL account) -> INVALID_ARGUMENT");
    expect(om_tokens_import(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "tokens_json",
           "om_tokens_import(NULL json) -> INVALID_ARGUMENT naming tokens_json");
    expect(om_tokens_import(acc, "\xff\xfe"), OM_STATUS_INVALID_ARGUMENT, 1, "UTF-8",
           "om_tokens_import(invalid UTF-8) -> INVALID_ARGUMENT");
    char set[2048];
    long long now = (long long)time(NULL);
    fake_token_set(set, sizeof set, 7, "fake-access-token-badinput", now + 3600, NULL);
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_tokens_import(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_tokens_import(bad_handles[i].h, set), OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }
    static const struct {
        const char *json, *needle, *what;
    } bad_sets[] = {
        {"{", "EOF", "om_tokens_import(\"{\") -> INVALID_ARGUMENT"},
        {"", NULL, "om_tokens_import(\"\") -> INVALID_ARGUMENT"},
        {"[]", NULL, "om_tokens_import(\"[]\") -> INVALID_ARGUMENT"},
        {"{\"format\":1,\"version\":\"x\"}", "version",
         "om_tokens_import(version not a number) -> INVALID_ARGUMENT naming version"},
        {"{\"format\":1,\"version\":1,\"updated_at\":1,\"client_id\":\"confidential-app\","
         "\"token_url\":\"x\",\"surprise\":1}",
         "surprise", "om_tokens_import(unknown key) -> INVALID_ARGUMENT naming it"},
        {"{\"format\":3,\"version\":1,\"updated_at\":1,\"client_id\":\"confidential-app\","
         "\"token_url\":\"x\"}",
         "format", "om_tokens_import(format 3, unknown) -> INVALID_ARGUMENT naming format"},
    };
    for (size_t i = 0; i < sizeof bad_sets / sizeof bad_sets[0]; i++)
        expect(om_tokens_import(acc, bad_sets[i].json), OM_STATUS_INVALID_ARGUMENT, 1,
               bad_sets[i].needle, bad_sets[i].what);
    char other[2048];
    snprintf(other, sizeof other,
             "{\"format\":1,\"version\":9,\"updated_at\":%lld,\"client_id\":\"someone-else\","
             "\"token_url\":\"%s\",\"access_token\":\"fake-access-other\"}",
             now, g_token_url_exported);
    expect(om_tokens_import(acc, other), OM_STATUS_INVALID_ARGUMENT, 1, "someone-else",
           "om_tokens_import(tokens of another client) -> INVALID_ARGUMENT");
    snprintf(other, sizeof other,
             "{\"format\":1,\"version\":9,\"updated_at\":%lld,\"client_id\":\"confidential-app\","
             "\"token_url\":\"https://elsewhere.example/token\",\"access_token\":\"fake-x-1234\"}",
             now);
    expect(om_tokens_import(acc, other), OM_STATUS_INVALID_ARGUMENT, 1, "elsewhere",
           "om_tokens_import(tokens of another token endpoint) -> INVALID_ARGUMENT");
    expect(om_tokens_import(acc, set), OM_STATUS_OK, 1, NULL, "om_tokens_import(valid set) -> OK");
    out = SENTINEL;
    exp = 0;
    if (expect(om_get_access_token(acc, 1000, &out, &exp), OM_STATUS_OK, out && out != SENTINEL,
               NULL, "om_get_access_token(imported token) -> OK")) {
        check(strcmp(out, "fake-access-token-badinput") == 0 && exp == now + 3600,
              "the imported token is returned", "%s %lld", out, (long long)exp);
        om_string_free(out);
    }

    expect(om_tokens_revoke(NULL, 1000), OM_STATUS_INVALID_ARGUMENT, 1, "account",
           "om_tokens_revoke(NULL) -> INVALID_ARGUMENT");
    for (size_t i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "om_tokens_revoke(%s handle) -> INVALID_HANDLE",
                 bad_handles[i].name);
        expect(om_tokens_revoke(bad_handles[i].h, 1000), OM_STATUS_INVALID_HANDLE, 1, NULL, what);
    }

    section("fetch functions");
    {
        char *sum = SENTINEL;
        expect(om_fetch(acc, NULL, NULL, NULL, &sum), OM_STATUS_INVALID_ARGUMENT, sum == NULL,
               "callback", "om_fetch(NULL callback) -> INVALID_ARGUMENT");
        expect(om_fetch(acc, "{\"folder\":1}", accept_message, NULL, NULL), OM_STATUS_INVALID_CONFIG, 1,
               "folder", "om_fetch(bad options) -> INVALID_CONFIG naming the key");
        expect(om_fetch(acc, "\xff\xfe", accept_message, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1,
               "UTF-8", "om_fetch(invalid UTF-8 options) -> INVALID_ARGUMENT");
        expect(om_fetch(acc, NULL, accept_message, NULL, NULL), OM_STATUS_INVALID_CONFIG, 1,
               "incoming", "om_fetch without an incoming server -> INVALID_CONFIG");
        expect(om_fetch_to_directory(acc, NULL, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1,
               "directory", "om_fetch_to_directory(NULL directory) -> INVALID_ARGUMENT");
        expect(om_fetch_to_directory(acc, NULL, "/no/such/dir/oauthmail", NULL), OM_STATUS_IO_ERROR, 1,
               "does not exist", "om_fetch_to_directory(missing directory) -> IO_ERROR");
        out = SENTINEL;
        expect(om_folders_list(acc, 1000, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
               "om_folders_list(NULL out) -> INVALID_ARGUMENT");
        expect(om_sync_state_export(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
               "om_sync_state_export(NULL out) -> INVALID_ARGUMENT");
        expect(om_sync_state_import(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "state_json",
               "om_sync_state_import(NULL) -> INVALID_ARGUMENT");
        expect(om_sync_state_import(acc, "{\"format\":1,\"imap\":[]"), OM_STATUS_INVALID_ARGUMENT, 1,
               "sync state", "om_sync_state_import(malformed) -> INVALID_ARGUMENT");
        expect(om_servers_check(acc, 1000, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
               "om_servers_check(NULL out) -> INVALID_ARGUMENT");
        expect(om_send(acc, NULL, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "message_json",
               "om_send(NULL message) -> INVALID_ARGUMENT");
        expect(om_send(acc, "{\"to\":", NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "JSON",
               "om_send(malformed JSON) -> INVALID_ARGUMENT");
        expect(om_send(acc, "{\"to\":\"a@example.test\",\"text\":\"x\"}", "\xff", NULL),
               OM_STATUS_INVALID_ARGUMENT, 1, "UTF-8", "om_send(invalid UTF-8 options) -> INVALID_ARGUMENT");
        expect(om_send(acc, "{\"to\":\"a@example.test\",\"text\":\"x\"}", NULL, NULL),
               OM_STATUS_INVALID_CONFIG, 1, "outgoing", "om_send without an outgoing server -> INVALID_CONFIG");
        expect(om_send_raw(acc, NULL, 5, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "data",
               "om_send_raw(NULL data) -> INVALID_ARGUMENT");
        out = SENTINEL;
        expect(om_send_batch(acc, "[]", NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_results_json",
               "om_send_batch(NULL out) -> INVALID_ARGUMENT");
        expect(om_send_batch(acc, NULL, NULL, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL, "messages_json",
               "om_send_batch(NULL messages) -> INVALID_ARGUMENT");
        for (size_t i = 0; i < 3; i++) {
            snprintf(what, sizeof what, "fetch functions on a %s handle -> INVALID_HANDLE", bad_handles[i].name);
            out = SENTINEL;
            int all = om_fetch(bad_handles[i].h, NULL, accept_message, NULL, NULL) == OM_STATUS_INVALID_HANDLE &&
                      om_folders_list(bad_handles[i].h, 1000, &out) == OM_STATUS_INVALID_HANDLE && out == NULL &&
                      om_sync_state_export(bad_handles[i].h, &out) == OM_STATUS_INVALID_HANDLE && out == NULL &&
                      om_sync_state_import(bad_handles[i].h, "{}") == OM_STATUS_INVALID_HANDLE &&
                      om_servers_check(bad_handles[i].h, 1000, &out) == OM_STATUS_INVALID_HANDLE && out == NULL &&
                      om_send(bad_handles[i].h, "{}", NULL, NULL) == OM_STATUS_INVALID_HANDLE &&
                      om_send_raw(bad_handles[i].h, (const uint8_t *)"x", 1, NULL, NULL) == OM_STATUS_INVALID_HANDLE &&
                      om_send_batch(bad_handles[i].h, "[]", NULL, &out) == OM_STATUS_INVALID_HANDLE && out == NULL;
            check(all, what, "%s", "a call did not return INVALID_HANDLE");
        }
    }

    section("bad input: om_messages_* / om_folder_create / om_wait_for_mail");
    {
        /* The account has no incoming server: well-formed calls end with INVALID_CONFIG naming
         * `incoming`, so every other status here comes from the argument checks. */
        static const char sel[] = "{\"ids\":[\"1\"]}";
        uint32_t count = 77;
        out = SENTINEL;
        expect(om_messages_list(NULL, NULL, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL, "account",
               "om_messages_list(NULL account) -> INVALID_ARGUMENT, out NULL");
        expect(om_messages_list(acc, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
               "om_messages_list(NULL out_json) -> INVALID_ARGUMENT");
        static const struct {
            const char *opts;
            om_status want;
            const char *needle, *what;
        } bad_list[] = {
            {"{", OM_STATUS_INVALID_CONFIG, NULL, "om_messages_list(options \"{\") -> INVALID_CONFIG"},
            {"[]", OM_STATUS_INVALID_CONFIG, NULL, "om_messages_list(options not an object) -> INVALID_CONFIG"},
            {"{\"bogus\":1}", OM_STATUS_INVALID_CONFIG, "bogus",
             "om_messages_list(unknown key) -> INVALID_CONFIG naming it"},
            {"{\"limit\":0}", OM_STATUS_INVALID_CONFIG, "limit",
             "om_messages_list(limit 0) -> INVALID_CONFIG naming limit"},
            {"{\"limit\":1001}", OM_STATUS_INVALID_CONFIG, "limit",
             "om_messages_list(limit 1001) -> INVALID_CONFIG naming limit"},
            {"{\"search\":{\"since\":\"yesterday\"}}", OM_STATUS_INVALID_CONFIG, "since",
             "om_messages_list(search.since not a date) -> INVALID_CONFIG naming it"},
            {"{\"search\":{\"colour\":\"blue\"}}", OM_STATUS_INVALID_CONFIG, "colour",
             "om_messages_list(unknown search key) -> INVALID_CONFIG naming it"},
            {"{\"order\":\"sideways\"}", OM_STATUS_INVALID_CONFIG, "sideways",
             "om_messages_list(unknown order) -> INVALID_CONFIG"},
            {"\xff\xfe", OM_STATUS_INVALID_ARGUMENT, "UTF-8",
             "om_messages_list(invalid UTF-8 options) -> INVALID_ARGUMENT"},
            {NULL, OM_STATUS_INVALID_CONFIG, "incoming",
             "om_messages_list without an incoming server -> INVALID_CONFIG"},
        };
        for (size_t i = 0; i < sizeof bad_list / sizeof bad_list[0]; i++) {
            out = SENTINEL;
            expect(om_messages_list(acc, bad_list[i].opts, &out), bad_list[i].want, out == NULL,
                   bad_list[i].needle, bad_list[i].what);
        }

        expect(om_messages_fetch(NULL, sel, accept_message, NULL, &count), OM_STATUS_INVALID_ARGUMENT,
               count == 0, "account", "om_messages_fetch(NULL account) -> INVALID_ARGUMENT, count 0");
        count = 77;
        expect(om_messages_fetch(acc, NULL, accept_message, NULL, &count), OM_STATUS_INVALID_ARGUMENT,
               count == 0, "selection_json", "om_messages_fetch(NULL selection) -> INVALID_ARGUMENT");
        count = 77;
        expect(om_messages_fetch(acc, sel, NULL, NULL, &count), OM_STATUS_INVALID_ARGUMENT,
               count == 0, "callback", "om_messages_fetch(NULL callback) -> INVALID_ARGUMENT");
        static const struct {
            const char *sel, *needle, *what;
        } bad_sel[] = {
            {"{", NULL, "om_messages_fetch(selection \"{\") -> INVALID_ARGUMENT"},
            {"{\"folder\":\"INBOX\"}", "no message chosen",
             "om_messages_fetch(nothing chosen) -> INVALID_ARGUMENT"},
            {"{\"ids\":[]}", "no message chosen", "om_messages_fetch(ids []) -> INVALID_ARGUMENT"},
            {"{\"ids\":[\"1\"],\"bogus\":1}", "bogus",
             "om_messages_fetch(unknown key) -> INVALID_ARGUMENT naming it"},
            {"{\"ids\":[\"1\"],\"parse\":\"yes\"}", NULL,
             "om_messages_fetch(parse not a bool) -> INVALID_ARGUMENT"},
            {"{\"uids\":[\"x\"]}", "uids", "om_messages_fetch(uids not numbers) -> INVALID_ARGUMENT"},
            {"\xff", "UTF-8", "om_messages_fetch(invalid UTF-8 selection) -> INVALID_ARGUMENT"},
        };
        for (size_t i = 0; i < sizeof bad_sel / sizeof bad_sel[0]; i++) {
            count = 77;
            expect(om_messages_fetch(acc, bad_sel[i].sel, accept_message, NULL, &count),
                   OM_STATUS_INVALID_ARGUMENT, count == 0, bad_sel[i].needle, bad_sel[i].what);
        }
        count = 77;
        expect(om_messages_fetch(acc, sel, accept_message, NULL, &count), OM_STATUS_INVALID_CONFIG,
               count == 0, "incoming", "om_messages_fetch without an incoming server -> INVALID_CONFIG");
        expect(om_messages_fetch(acc, sel, accept_message, NULL, NULL), OM_STATUS_INVALID_CONFIG, 1,
               "incoming", "om_messages_fetch(NULL out_count) -> the same INVALID_CONFIG");

        expect(om_messages_set_flags(NULL, "{\"ids\":[\"1\"],\"add\":[\"seen\"]}"),
               OM_STATUS_INVALID_ARGUMENT, 1, "account", "om_messages_set_flags(NULL account) -> INVALID_ARGUMENT");
        static const struct {
            const char *opts, *needle, *what;
        } bad_flags[] = {
            {NULL, "options_json", "om_messages_set_flags(NULL options) -> INVALID_ARGUMENT"},
            {"{", NULL, "om_messages_set_flags(options \"{\") -> INVALID_ARGUMENT"},
            {"{\"ids\":[\"1\"]}", "nothing to change",
             "om_messages_set_flags(nothing to add or remove) -> INVALID_ARGUMENT"},
            {"{\"add\":[\"seen\"]}", "no message chosen",
             "om_messages_set_flags(no message chosen) -> INVALID_ARGUMENT"},
            {"{\"ids\":[\"1\"],\"add\":[\"\\\\Recent\"]}", "Recent",
             "om_messages_set_flags(add \\Recent, not settable) -> INVALID_ARGUMENT naming it"},
            {"{\"ids\":[\"1\"],\"add\":[\"a b\"]}", "a b",
             "om_messages_set_flags(keyword with a space) -> INVALID_ARGUMENT naming it"},
            {"{\"ids\":[\"1\"],\"add\":\"seen\"}", "add",
             "om_messages_set_flags(add not an array) -> INVALID_ARGUMENT naming it"},
            {"{\"ids\":[\"1\"],\"add\":[\"seen\"],\"bogus\":1}", "bogus",
             "om_messages_set_flags(unknown key) -> INVALID_ARGUMENT naming it"},
            {"\xff", "UTF-8", "om_messages_set_flags(invalid UTF-8) -> INVALID_ARGUMENT"},
        };
        for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++)
            expect(om_messages_set_flags(acc, bad_flags[i].opts), OM_STATUS_INVALID_ARGUMENT, 1,
                   bad_flags[i].needle, bad_flags[i].what);
        expect(om_messages_set_flags(acc, "{\"ids\":[\"1\"],\"add\":[\"seen\"]}"), OM_STATUS_INVALID_CONFIG,
               1, "incoming", "om_messages_set_flags without an incoming server -> INVALID_CONFIG");

        typedef om_status (*opts_fn)(om_account *, const char *);
        static const struct {
            opts_fn fn;
            const char *name;
            int takes_to;
        } movers[] = {
            {om_messages_move, "om_messages_move", 1},
            {om_messages_copy, "om_messages_copy", 1},
            {om_messages_delete, "om_messages_delete", 0},
        };
        for (size_t f = 0; f < sizeof movers / sizeof movers[0]; f++) {
            const char *valid = movers[f].takes_to ? "{\"ids\":[\"1\"],\"to\":\"Archive\"}" : sel;
            snprintf(what, sizeof what, "%s(NULL account) -> INVALID_ARGUMENT", movers[f].name);
            expect(movers[f].fn(NULL, valid), OM_STATUS_INVALID_ARGUMENT, 1, "account", what);
            snprintf(what, sizeof what, "%s(NULL options) -> INVALID_ARGUMENT", movers[f].name);
            expect(movers[f].fn(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "options_json", what);
            snprintf(what, sizeof what, "%s(options \"{\") -> INVALID_ARGUMENT", movers[f].name);
            expect(movers[f].fn(acc, "{"), OM_STATUS_INVALID_ARGUMENT, 1, NULL, what);
            snprintf(what, sizeof what, "%s(nothing chosen) -> INVALID_ARGUMENT", movers[f].name);
            expect(movers[f].fn(acc, movers[f].takes_to ? "{\"to\":\"Archive\"}" : "{}"),
                   OM_STATUS_INVALID_ARGUMENT, 1, "no message chosen", what);
            snprintf(what, sizeof what, "%s(unknown key) -> INVALID_ARGUMENT naming it", movers[f].name);
            expect(movers[f].fn(acc, movers[f].takes_to ? "{\"ids\":[\"1\"],\"to\":\"A\",\"bogus\":1}"
                                                        : "{\"ids\":[\"1\"],\"bogus\":1}"),
                   OM_STATUS_INVALID_ARGUMENT, 1, "bogus", what);
            if (movers[f].takes_to) {
                snprintf(what, sizeof what, "%s(no \"to\") -> INVALID_ARGUMENT naming to", movers[f].name);
                expect(movers[f].fn(acc, sel), OM_STATUS_INVALID_ARGUMENT, 1, "to", what);
                snprintf(what, sizeof what, "%s(\"to\" blank) -> INVALID_ARGUMENT naming to", movers[f].name);
                expect(movers[f].fn(acc, "{\"ids\":[\"1\"],\"to\":\"  \"}"), OM_STATUS_INVALID_ARGUMENT, 1,
                       "to", what);
            }
            snprintf(what, sizeof what, "%s without an incoming server -> INVALID_CONFIG", movers[f].name);
            expect(movers[f].fn(acc, valid), OM_STATUS_INVALID_CONFIG, 1, "incoming", what);
        }

        expect(om_folder_create(NULL, "Archive", 1000), OM_STATUS_INVALID_ARGUMENT, 1, "account",
               "om_folder_create(NULL account) -> INVALID_ARGUMENT");
        expect(om_folder_create(acc, NULL, 1000), OM_STATUS_INVALID_ARGUMENT, 1, "name",
               "om_folder_create(NULL name) -> INVALID_ARGUMENT naming name");
        expect(om_folder_create(acc, "  ", 1000), OM_STATUS_INVALID_ARGUMENT, 1, "name",
               "om_folder_create(blank name) -> INVALID_ARGUMENT naming name");
        expect(om_folder_create(acc, "Soci\xe9t\xe9", 1000), OM_STATUS_INVALID_ARGUMENT, 1, "UTF-8",
               "om_folder_create(Latin-1 name, not UTF-8) -> INVALID_ARGUMENT");
        expect(om_folder_create(acc, "Archive", 1000), OM_STATUS_INVALID_CONFIG, 1, "incoming",
               "om_folder_create without an incoming server -> INVALID_CONFIG");

        out = SENTINEL;
        expect(om_wait_for_mail(NULL, NULL, 1000, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL,
               "account", "om_wait_for_mail(NULL account) -> INVALID_ARGUMENT, out NULL");
        static const struct {
            const char *opts;
            om_status want;
            const char *needle, *what;
        } bad_wait[] = {
            {"{", OM_STATUS_INVALID_CONFIG, NULL, "om_wait_for_mail(options \"{\") -> INVALID_CONFIG"},
            {"{\"bogus\":1}", OM_STATUS_INVALID_CONFIG, "bogus",
             "om_wait_for_mail(unknown key) -> INVALID_CONFIG naming it"},
            {"{\"poll_interval_secs\":0}", OM_STATUS_INVALID_CONFIG, "poll_interval_secs",
             "om_wait_for_mail(poll_interval_secs 0) -> INVALID_CONFIG naming it"},
            {"{\"poll_only\":\"yes\"}", OM_STATUS_INVALID_CONFIG, "poll_only",
             "om_wait_for_mail(poll_only not a bool) -> INVALID_CONFIG naming it"},
            {"\xff", OM_STATUS_INVALID_ARGUMENT, "UTF-8",
             "om_wait_for_mail(invalid UTF-8 options) -> INVALID_ARGUMENT"},
            {NULL, OM_STATUS_INVALID_CONFIG, "incoming",
             "om_wait_for_mail without an incoming server -> INVALID_CONFIG"},
        };
        for (size_t i = 0; i < sizeof bad_wait / sizeof bad_wait[0]; i++) {
            out = SENTINEL;
            expect(om_wait_for_mail(acc, bad_wait[i].opts, 1000, &out), bad_wait[i].want, out == NULL,
                   bad_wait[i].needle, bad_wait[i].what);
        }
        expect(om_wait_for_mail(acc, NULL, 1000, NULL), OM_STATUS_INVALID_CONFIG, 1, "incoming",
               "om_wait_for_mail(NULL out_json) -> the same INVALID_CONFIG");

        for (size_t i = 0; i < 3; i++) {
            snprintf(what, sizeof what,
                     "om_messages_* / om_folder_create / om_wait_for_mail on a %s handle -> INVALID_HANDLE",
                     bad_handles[i].name);
            om_account *h = bad_handles[i].h;
            char *o1 = SENTINEL, *o2 = SENTINEL;
            count = 77;
            int all = om_messages_list(h, NULL, &o1) == OM_STATUS_INVALID_HANDLE && o1 == NULL &&
                      om_messages_fetch(h, sel, accept_message, NULL, &count) == OM_STATUS_INVALID_HANDLE &&
                      count == 0 &&
                      om_messages_set_flags(h, "{\"ids\":[\"1\"],\"add\":[\"seen\"]}") == OM_STATUS_INVALID_HANDLE &&
                      om_messages_move(h, "{\"ids\":[\"1\"],\"to\":\"A\"}") == OM_STATUS_INVALID_HANDLE &&
                      om_messages_copy(h, "{\"ids\":[\"1\"],\"to\":\"A\"}") == OM_STATUS_INVALID_HANDLE &&
                      om_messages_delete(h, sel) == OM_STATUS_INVALID_HANDLE &&
                      om_folder_create(h, "A", 1000) == OM_STATUS_INVALID_HANDLE &&
                      om_wait_for_mail(h, NULL, 1000, &o2) == OM_STATUS_INVALID_HANDLE && o2 == NULL;
            check(all, what, "%s", "a call did not return INVALID_HANDLE (or left an out-value set)");
        }
    }

    section("last error after success; the account after use");
    expect(om_tokens_import(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, NULL, "a failing call");
    out = NULL;
    expect(om_account_config_json(acc, &out), OM_STATUS_OK, out != NULL, NULL,
           "the next successful call leaves om_last_error_* empty");
    om_string_free(out);
    expect(om_tokens_import(acc, NULL), OM_STATUS_INVALID_ARGUMENT, 1, NULL, "a failing call");
    expect(om_log_write(OM_LOG_DEBUG, "hello"), OM_STATUS_OK, 1, NULL,
           "om_log_write success also clears the last error");

    expect(om_account_free(acc), OM_STATUS_OK, 1, NULL, "om_account_free(valid)");
    expect(om_account_free(acc), OM_STATUS_INVALID_HANDLE, 1, NULL,
           "om_account_free twice -> INVALID_HANDLE");
    out = SENTINEL;
    expect(om_tokens_export(acc, &out), OM_STATUS_INVALID_HANDLE, out == NULL, NULL,
           "om_tokens_export after free -> INVALID_HANDLE");
    expect(om_authorize_wait(acc, 0), OM_STATUS_INVALID_HANDLE, 1, NULL,
           "om_authorize_wait after free -> INVALID_HANDLE");
}

/* ------------------------------------------------------------------------------------------ */
/* Part 0b: parsing messages and their attachments (no account, no network, before om_init)   */
/* ------------------------------------------------------------------------------------------ */

/* A message with a Latin-1 encoded-word subject, a UTF-8 sender name, a text part and three
 * attachments: binary bytes (NUL, 0xff, CR LF), a hostile name, an empty one. */
static const char k_message[] =
    "From: =?UTF-8?Q?Fran=C3=A7ois_M=C3=BCller?= <francois@example.test>\r\n"
    "To: Compta <compta@example.test>\r\n"
    "Subject: =?ISO-8859-1?Q?Facture_=E9t=E9?=\r\n"
    "Date: Mon, 01 Jun 2026 09:30:00 +0200\r\n"
    "Message-ID: <capi-parse@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"sep\"\r\n"
    "\r\n"
    "--sep\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Bonjour, la facture est jointe.\r\n"
    "--sep\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAH//kENCoA=\r\n"
    "--sep\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename=\"../../evil.txt\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "ZXZpbA==\r\n"
    "--sep\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Disposition: attachment; filename=\"empty.txt\"\r\n"
    "\r\n"
    "\r\n"
    "--sep--\r\n";
static const unsigned char k_data_bin[] = {0x00, 0x01, 0xff, 0xfe, 'A', '\r', '\n', 0x80};
#define K_ATTACHMENTS 3

/* Occurrences of `needle` in `hay`. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay ? strstr(hay, needle) : NULL; p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A whole file, malloc'd (NUL added, not counted), or NULL. */
static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            unsigned char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* Regular files below `dir` (recursively), -1 when it cannot be read. */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int k = count_files(path);
            n += k > 0 ? k : 0;
        } else if (S_ISREG(st.st_mode)) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* rm -r `dir` (files and directories only: what the test made). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void test_message_functions(void)
{
    section("om_message_parse / om_message_attachment / om_message_save_attachments (before om_init)");
    const uint8_t *msg = (const uint8_t *)k_message;
    size_t len = sizeof k_message - 1;

    char *out = SENTINEL;
    if (expect(om_message_parse(msg, len, NULL, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_message_parse(built-in message) -> OK without om_init()")) {
        check(json_valid(out, '{'), "om_message_parse gives a JSON object", "%s", out);
        check(strstr(out, "\"subject\":\"Facture \xc3\xa9t\xc3\xa9\"") != NULL,
              "the subject is decoded (ISO-8859-1 encoded-word -> UTF-8 \"Facture \xc3\xa9t\xc3\xa9\")",
              "%s", out);
        check(strstr(out, "\"name\":\"Fran\xc3\xa7ois M\xc3\xbcller\"") &&
                  strstr(out, "\"address\":\"francois@example.test\""),
              "the sender's name is decoded, the address kept", "%s", out);
        check(strstr(out, "Bonjour, la facture est jointe.") != NULL, "the text part is there",
              "%s", out);
        check(json_get_int(out, "date_unix", -1) == 1780299000LL,
              "date_unix is the Date header in Unix seconds", "%s", out);
        check(count_of(out, "\"index\":") == K_ATTACHMENTS &&
                  strstr(out, "\"file_name\":\"data.bin\"") &&
                  strstr(out, "\"file_name\":\"../../evil.txt\"") &&
                  strstr(out, "\"file_name\":\"empty.txt\""),
              "the 3 attachments are listed with their names as sent", "%s", out);
        om_string_free(out);
    }
    out = SENTINEL;
    if (expect(om_message_parse(msg, len, "{\"text\":false,\"html\":false}", &out), OM_STATUS_OK,
               out && out != SENTINEL, NULL, "om_message_parse(text and html off) -> OK")) {
        check(strstr(out, "\"text\":null") && !strstr(out, "Bonjour"),
              "with \"text\": false the body is left out", "%s", out);
        om_string_free(out);
    }
    out = SENTINEL;
    expect(om_message_parse(NULL, 10, NULL, &out), OM_STATUS_INVALID_ARGUMENT, out == NULL, "data",
           "om_message_parse(NULL data, len 10) -> INVALID_ARGUMENT naming data, out NULL");
    expect(om_message_parse(msg, len, NULL, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_json",
           "om_message_parse(NULL out_json) -> INVALID_ARGUMENT naming out_json");
    out = SENTINEL;
    if (expect(om_message_parse(NULL, 0, NULL, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_message_parse(NULL data, len 0: an empty message) -> OK")) {
        check(json_valid(out, '{'), "an empty message gives a JSON object", "%s", out);
        om_string_free(out);
    }
    static const struct {
        const char *opts, *needle, *what;
    } bad_parse_opts[] = {
        {"{", NULL, "om_message_parse(options \"{\") -> INVALID_ARGUMENT"},
        {"{\"text\":1}", "text", "om_message_parse(text not a bool) -> INVALID_ARGUMENT naming it"},
        {"{\"bogus\":true}", "bogus", "om_message_parse(unknown option) -> INVALID_ARGUMENT naming it"},
        {"\xff\xfe", "UTF-8", "om_message_parse(invalid UTF-8 options) -> INVALID_ARGUMENT"},
    };
    for (size_t i = 0; i < sizeof bad_parse_opts / sizeof bad_parse_opts[0]; i++) {
        out = SENTINEL;
        expect(om_message_parse(msg, len, bad_parse_opts[i].opts, &out), OM_STATUS_INVALID_ARGUMENT,
               out == NULL, bad_parse_opts[i].needle, bad_parse_opts[i].what);
    }
    /* garbage: pseudo-random bytes with NULs and no header: never an error */
    unsigned char garbage[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof garbage; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage[i] = (unsigned char)x;
    }
    out = SENTINEL;
    if (expect(om_message_parse(garbage, sizeof garbage, NULL, &out), OM_STATUS_OK,
               out && out != SENTINEL, NULL, "om_message_parse(4 KiB of garbage) -> OK")) {
        check(json_valid(out, '{') && strstr(out, "\"attachments\":"),
              "garbage still gives the JSON object", "%.300s", out);
        printf("# garbage parsed as: %.160s\n", out);
        om_string_free(out);
    }

    /* om_message_attachment */
    uint8_t *buf = (uint8_t *)SENTINEL;
    size_t n = 99;
    if (expect(om_message_attachment(msg, len, 0, &buf, &n), OM_STATUS_OK,
               buf && buf != (uint8_t *)SENTINEL, NULL, "om_message_attachment(index 0) -> OK")) {
        check(n == sizeof k_data_bin && memcmp(buf, k_data_bin, n) == 0,
              "attachment 0 is the decoded bytes, byte for byte (NUL, 0xff, CR LF kept)",
              "%zu bytes", n);
        om_buffer_free(buf);
    }
    buf = (uint8_t *)SENTINEL;
    n = 99;
    if (expect(om_message_attachment(msg, len, 1, &buf, &n), OM_STATUS_OK,
               buf && buf != (uint8_t *)SENTINEL, NULL, "om_message_attachment(index 1) -> OK")) {
        check(n == 4 && memcmp(buf, "evil", 4) == 0, "attachment 1 is \"evil\"", "%zu bytes", n);
        om_buffer_free(buf);
    }
    buf = (uint8_t *)SENTINEL;
    n = 99;
    if (expect(om_message_attachment(msg, len, 2, &buf, &n), OM_STATUS_OK,
               buf && buf != (uint8_t *)SENTINEL, NULL,
               "om_message_attachment(index 2, an empty attachment) -> OK")) {
        check(n == 0, "an empty attachment: a valid pointer and length 0", "%zu bytes", n);
        om_buffer_free(buf);
    }
    buf = (uint8_t *)SENTINEL;
    n = 99;
    expect(om_message_attachment(msg, len, K_ATTACHMENTS, &buf, &n), OM_STATUS_INVALID_ARGUMENT,
           buf == NULL && n == 0, "3 attachment",
           "om_message_attachment(index 3, out of range) -> INVALID_ARGUMENT saying how many");
    buf = (uint8_t *)SENTINEL;
    n = 99;
    expect(om_message_attachment(msg, len, UINT32_MAX, &buf, &n), OM_STATUS_INVALID_ARGUMENT,
           buf == NULL && n == 0, NULL, "om_message_attachment(index UINT32_MAX) -> INVALID_ARGUMENT");
    buf = (uint8_t *)SENTINEL;
    n = 99;
    expect(om_message_attachment(garbage, sizeof garbage, 0, &buf, &n), OM_STATUS_INVALID_ARGUMENT,
           buf == NULL && n == 0, NULL,
           "om_message_attachment(garbage, index 0) -> INVALID_ARGUMENT (no attachment)");
    buf = (uint8_t *)SENTINEL;
    n = 99;
    expect(om_message_attachment(NULL, 10, 0, &buf, &n), OM_STATUS_INVALID_ARGUMENT,
           buf == NULL && n == 0, "data", "om_message_attachment(NULL data) -> INVALID_ARGUMENT");
    n = 99;
    expect(om_message_attachment(msg, len, 0, NULL, &n), OM_STATUS_INVALID_ARGUMENT, 1, "out_data",
           "om_message_attachment(NULL out_data) -> INVALID_ARGUMENT");
    buf = (uint8_t *)SENTINEL;
    expect(om_message_attachment(msg, len, 0, &buf, NULL), OM_STATUS_INVALID_ARGUMENT, 1, "out_len",
           "om_message_attachment(NULL out_len) -> INVALID_ARGUMENT");
    om_buffer_free(NULL);
    check(1, "om_buffer_free(NULL) is ignored", "%s", "");

    /* om_message_save_attachments into BASE/in/here: "../../evil.txt" would be BASE/evil.txt */
    char base[] = "/tmp/om-capi-att-XXXXXX";
    if (!check(mkdtemp(base) != NULL, "make a temporary directory", "%s", "mkdtemp failed"))
        return;
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/in", base);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/in/here", base);
    mkdir(dir, 0700);
    out = SENTINEL;
    if (expect(om_message_save_attachments(msg, len, dir, NULL, &out), OM_STATUS_OK,
               out && out != SENTINEL, NULL, "om_message_save_attachments(temp dir) -> OK")) {
        char want[600];
        snprintf(want, sizeof want, "\"path\":\"%s/", dir);
        check(json_valid(out, '[') && count_of(out, "\"path\":") == K_ATTACHMENTS &&
                  count_of(out, want) == K_ATTACHMENTS,
              "the answer lists the 3 attachments, each \"path\" inside the directory", "%s", out);
        om_string_free(out);
    }
    snprintf(path, sizeof path, "%s/data.bin", dir);
    size_t got = 0;
    unsigned char *data = read_all(path, &got);
    check(data && got == sizeof k_data_bin && memcmp(data, k_data_bin, got) == 0,
          "data.bin is written byte for byte", "%zu bytes", got);
    free(data);
    snprintf(path, sizeof path, "%s/_.._evil.txt", dir);
    data = read_all(path, &got);
    check(data && got == 4 && memcmp(data, "evil", 4) == 0,
          "\"../../evil.txt\" is saved as _.._evil.txt inside the directory", "%s", path);
    free(data);
    snprintf(path, sizeof path, "%s/evil.txt", base);
    struct stat st;
    int outside = stat(path, &st) == 0;
    snprintf(path, sizeof path, "%s/in/evil.txt", base);
    outside += stat(path, &st) == 0;
    check(!outside && count_files(base) == K_ATTACHMENTS,
          "nothing is written outside the directory (3 files in all)", "%d outside, %d files",
          outside, count_files(base));
    /* again, without out_json: the names in use get " (2)", nothing is replaced */
    expect(om_message_save_attachments(msg, len, dir, "{\"inline\":false}", NULL), OM_STATUS_OK, 1,
           NULL, "om_message_save_attachments again (inline false, NULL out_json) -> OK");
    snprintf(path, sizeof path, "%s/data (2).bin", dir);
    check(stat(path, &st) == 0 && count_files(base) == 2 * K_ATTACHMENTS,
          "a second save adds \"data (2).bin\"... and replaces nothing", "%d files",
          count_files(base));
    out = SENTINEL;
    snprintf(path, sizeof path, "%s/missing", base);
    expect(om_message_save_attachments(msg, len, path, NULL, &out), OM_STATUS_IO_ERROR, out == NULL,
           NULL, "om_message_save_attachments(missing directory) -> IO_ERROR");
    out = SENTINEL;
    expect(om_message_save_attachments(msg, len, NULL, NULL, &out), OM_STATUS_INVALID_ARGUMENT,
           out == NULL, "directory", "om_message_save_attachments(NULL directory) -> INVALID_ARGUMENT");
    out = SENTINEL;
    expect(om_message_save_attachments(msg, len, "/tmp/\xff\xfe", NULL, &out),
           OM_STATUS_INVALID_ARGUMENT, out == NULL, "UTF-8",
           "om_message_save_attachments(directory not UTF-8) -> INVALID_ARGUMENT");
    out = SENTINEL;
    expect(om_message_save_attachments(NULL, 10, dir, NULL, &out), OM_STATUS_INVALID_ARGUMENT,
           out == NULL, "data", "om_message_save_attachments(NULL data) -> INVALID_ARGUMENT");
    out = SENTINEL;
    expect(om_message_save_attachments(msg, len, dir, "{\"inline\":\"no\"}", &out),
           OM_STATUS_INVALID_ARGUMENT, out == NULL, "inline",
           "om_message_save_attachments(inline not a bool) -> INVALID_ARGUMENT naming it");
    out = SENTINEL;
    expect(om_message_save_attachments(msg, len, dir, "{", &out), OM_STATUS_INVALID_ARGUMENT,
           out == NULL, NULL, "om_message_save_attachments(options \"{\") -> INVALID_ARGUMENT");
    check(count_files(base) == 2 * K_ATTACHMENTS, "the refused calls wrote nothing", "%d files",
          count_files(base));
    remove_tree(base);
    check(stat(base, &st) != 0, "the temporary directory is removed", "%s", base);
}

/* ------------------------------------------------------------------------------------------ */
/* Part a: the full lifecycle against the sandbox                                             */
/* ------------------------------------------------------------------------------------------ */

#define N_TOKEN_THREADS 16

struct token_thread {
    pthread_t tid;
    pthread_barrier_t *barrier;
    om_account *acc;
    om_status status;
    char token[512];
    int64_t exp;
    char message[512];
};

static void *token_thread_main(void *arg)
{
    struct token_thread *t = arg;
    t_host_thread = 1;
    char *out = NULL;
    pthread_barrier_wait(t->barrier);
    t->status = om_get_access_token(t->acc, 0, &out, &t->exp);
    if (t->status == OM_STATUS_OK && out) {
        snprintf(t->token, sizeof t->token, "%s", out);
    } else {
        snprintf(t->message, sizeof t->message, "%s", nn(om_last_error_message()));
    }
    om_string_free(out);
    return NULL;
}

/* Collected tokens, checked against the log afterwards. */
static char g_secrets[8][512];
static int g_n_secrets;

static void remember_secret(const char *s)
{
    if (s && *s && g_n_secrets < 8)
        snprintf(g_secrets[g_n_secrets++], sizeof g_secrets[0], "%s", s);
}

static void test_lifecycle(void)
{
    section("lifecycle: account, browser authorization, tokens, refresh, revoke");
    om_account *acc = NULL, *other = NULL;
    if (!expect(om_account_new(g_cfg_browser, &acc), OM_STATUS_OK, acc != NULL, NULL,
                "om_account_new(sandbox config with browser_command)"))
        return;
    expect(om_account_new(g_cfg_quiet, &other), OM_STATUS_OK, other != NULL, NULL,
           "om_account_new(a second account)");

    /* the library logs through our callback and redacts registered secrets */
    long before_log = atomic_load(&g_log.count);
    expect(om_log_write(OM_LOG_WARN, "host says: the secret is " SECRET " (must be redacted)"),
           OM_STATUS_OK, 1, NULL, "om_log_write(message containing the client secret)");
    check(atomic_load(&g_log.count) == before_log + 1,
          "om_log_write reaches the log callback once", "count %ld -> %ld", before_log,
          atomic_load(&g_log.count));
    const char *red = log_find("host says");
    check(red && strstr(red, "[redacted]") && !strstr(red, SECRET),
          "the client secret is redacted in a host log message", "got: %s", nn(red));

    struct token_cb_data *d = calloc(1, sizeof *d);
    d->account = acc;
    d->other = other;
    int freed_before = atomic_load(&g_token_data_freed);
    expect(om_account_set_token_callback(acc, on_tokens, d, free_token_data), OM_STATUS_OK, 1,
           NULL, "om_account_set_token_callback(with free_user_data)");

    char *out = NULL;
    if (expect(om_account_check(acc, &out), OM_STATUS_OK, out != NULL, NULL,
               "om_account_check -> OK")) {
        check(json_valid(out, '['), "om_account_check gives a valid JSON array", "%s", out);
        om_string_free(out);
    }
    out = NULL;
    if (expect(om_account_config_json(acc, &out), OM_STATUS_OK, out != NULL, NULL,
               "om_account_config_json -> OK")) {
        check(json_valid(out, '{'), "om_account_config_json gives a JSON object", "%s", out);
        check(!strstr(out, SECRET) && strstr(out, "********"),
              "om_account_config_json masks the client secret", "%s", out);
        check(strstr(out, "confidential-app") != NULL, "om_account_config_json shows client_id",
              "%s", out);
        om_string_free(out);
    }

    /* An extra reference, so that an om_shutdown() wrongly accepted inside the token callback
     * cannot stop the runtime under us. */
    expect(om_init(), OM_STATUS_OK, 1, NULL, "om_init() again (reference counted)");

    out = NULL;
    double t0 = now_mono();
    if (!expect(om_authorize_start(acc, "{\"open_browser\":true}", &out), OM_STATUS_OK,
                out != NULL, NULL, "om_authorize_start(open_browser: scripted browser)")) {
        om_account_free(acc);
        om_account_free(other);
        om_shutdown();
        return;
    }
    check(json_valid(out, '{') && strstr(out, "\"browser_opened\":true") &&
              strstr(out, "code_challenge_method=S256") && strstr(out, "\"listening\":true"),
          "om_authorize_start out_json: browser opened, listening, PKCE S256", "%s", out);
    om_string_free(out);

    om_status st;
    int polls = 0;
    do {
        st = om_authorize_wait(acc, 200);
        polls++;
    } while (st == OM_STATUS_PENDING && now_mono() - t0 < 60.0);
    char what[256];
    snprintf(what, sizeof what, "om_authorize_wait loop ends with OK (%d polls, %.1f s)", polls,
             now_mono() - t0);
    expect(st, OM_STATUS_OK, 1, NULL, what);
    check(d->calls == 1, "the token callback ran once during the authorization", "calls = %d",
          d->calls);
    check(d->off_host_thread == 0, "the token callback ran on a host thread",
          "%d calls on library threads", d->off_host_thread);
    check(d->sets[0] && json_valid(d->sets[0], '{') && strstr(d->sets[0], "\"refresh_token\""),
          "the token callback got a JSON set with refresh_token", "%s", nn(d->sets[0]));
    check(d->reentrant_export == OM_STATUS_REENTRANT_CALL && d->reentrant_export_out_null,
          "om_tokens_export(same account) inside its callback -> REENTRANT_CALL, out NULL",
          "got %d (%s), out NULL %d", d->reentrant_export,
          nn(om_status_name(d->reentrant_export)), d->reentrant_export_out_null);
    check(d->reentrant_free == OM_STATUS_REENTRANT_CALL,
          "om_account_free(same account) inside its callback -> REENTRANT_CALL", "got %d (%s)",
          d->reentrant_free, nn(om_status_name(d->reentrant_free)));
    check(d->reentrant_shutdown == OM_STATUS_REENTRANT_CALL,
          "om_shutdown() inside a token callback -> REENTRANT_CALL",
          "got %d (%s): the header says \"not from inside a callback (OM_STATUS_REENTRANT_CALL)\"",
          d->reentrant_shutdown, nn(om_status_name(d->reentrant_shutdown)));
    check(d->other_import_null == OM_STATUS_INVALID_ARGUMENT,
          "a failing call on another account inside a token callback -> its status",
          "got %d (%s)", d->other_import_null, nn(om_status_name(d->other_import_null)));
    check(d->other_config == OM_STATUS_OK,
          "another account's functions work inside a token callback", "got %d (%s)",
          d->other_config, nn(om_status_name(d->other_config)));
    /* balance the extra om_init() unless the callback's om_shutdown() already dropped it */
    if (d->reentrant_shutdown != OM_STATUS_OK)
        expect(om_shutdown(), OM_STATUS_OK, 1, NULL, "om_shutdown() drops the extra reference");

    expect(om_authorize_wait(acc, 0), OM_STATUS_OK, 1, NULL,
           "om_authorize_wait again after success -> OK (same outcome)");

    char *tok = NULL;
    int64_t exp = 0;
    char access1[512] = "";
    if (expect(om_get_access_token(acc, 0, &tok, &exp), OM_STATUS_OK, tok != NULL, NULL,
               "om_get_access_token after authorization -> OK")) {
        snprintf(access1, sizeof access1, "%s", tok);
        check(tok[0] != '\0', "the access token is not empty", "%s", "empty");
        check(exp > (int64_t)time(NULL) + 60, "expires_at is in the future", "%lld vs now %lld",
              (long long)exp, (long long)time(NULL));
        char in_cb[512];
        check(d->sets[0] && json_get_str(d->sets[0], "access_token", in_cb, sizeof in_cb) &&
                  strcmp(in_cb, tok) == 0,
              "the access token is the one the token callback got", "%s", "differs");
        om_string_free(tok);
    }
    remember_secret(access1);
    tok = NULL;
    expect(om_get_access_token(acc, 0, &tok, NULL), OM_STATUS_OK, tok != NULL, NULL,
           "om_get_access_token(out_expires_at NULL) -> OK");
    om_string_free(tok);

    char *exported = NULL;
    if (!expect(om_tokens_export(acc, &exported), OM_STATUS_OK, exported != NULL, NULL,
                "om_tokens_export -> OK"))
        goto revoke;
    check(json_valid(exported, '{'), "the exported set is a JSON object", "%s", "invalid");
    long long v = json_get_int(exported, "version", -1);
    check(v >= 1, "the exported set has version >= 1", "version %lld", v);
    char refresh1[512] = "";
    json_get_str(exported, "refresh_token", refresh1, sizeof refresh1);
    check(refresh1[0] != '\0', "the exported set has a refresh_token", "%s", "missing");
    remember_secret(refresh1);

    expect(om_tokens_import(acc, exported), OM_STATUS_OK, 1, NULL,
           "om_tokens_import(the same set) -> OK");
    char *older = json_set_int(exported, "version", v - 1);
    if (check(older != NULL, "build a set with a lower version", "%s", "no version"))
        expect(om_tokens_import(acc, older), OM_STATUS_STALE_TOKENS, 1, NULL,
               "om_tokens_import(lower version) -> STALE_TOKENS");
    free(older);
    char *again = NULL;
    expect(om_tokens_export(acc, &again), OM_STATUS_OK, again != NULL, NULL, "export again");
    check(again && strcmp(again, exported) == 0, "the stale import changed nothing", "%s",
          nn(again));
    om_string_free(again);

    /* expire the access token: import the set with expires_at 1 and a higher version */
    char *tmp = json_set_int(exported, "expires_at", 1);
    char *expired = tmp ? json_set_int(tmp, "version", v + 1) : NULL;
    free(tmp);
    check(expired != NULL, "build an expired set with a higher version", "%s", "failed");
    if (expired)
        expect(om_tokens_import(acc, expired), OM_STATUS_OK, 1, NULL,
               "om_tokens_import(expired set, version + 1) -> OK");
    free(expired);

    {
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, N_TOKEN_THREADS);
        struct token_thread th[N_TOKEN_THREADS];
        memset(th, 0, sizeof th);
        int created = 0;
        for (int i = 0; i < N_TOKEN_THREADS; i++) {
            th[i].barrier = &barrier;
            th[i].acc = acc;
            if (pthread_create(&th[i].tid, NULL, token_thread_main, &th[i]) == 0)
                created++;
        }
        if (created != N_TOKEN_THREADS) {
            check(0, "create 16 threads", "only %d", created);
            exit(1); /* the others are stuck on the barrier */
        }
        for (int i = 0; i < N_TOKEN_THREADS; i++)
            pthread_join(th[i].tid, NULL);
        pthread_barrier_destroy(&barrier);
        int all_ok = 1, same = 1;
        char bad[1024] = "";
        for (int i = 0; i < N_TOKEN_THREADS; i++) {
            if (th[i].status != OM_STATUS_OK) {
                all_ok = 0;
                snprintf(bad, sizeof bad, "thread %d: %d (%s) %s", i, th[i].status,
                         nn(om_status_name(th[i].status)), th[i].message);
            } else if (strcmp(th[i].token, th[0].token) != 0) {
                same = 0;
            }
        }
        check(all_ok, "16 threads calling om_get_access_token on an expired token all succeed",
              "%s", bad);
        check(all_ok && same, "the 16 threads got the same token", "%s", "tokens differ");
        check(all_ok && strcmp(th[0].token, access1) != 0 &&
                  th[0].exp > (int64_t)time(NULL) + 60,
              "the token was refreshed (new token, future expiry)", "%s", "old or expired token");
        remember_secret(th[0].token);
    }
    check(d->calls == 2, "the token callback ran once more for the refresh (rotated token)",
          "calls = %d", d->calls);
    check(d->off_host_thread == 0, "the token callback still ran only on host threads",
          "%d calls elsewhere", d->off_host_thread);
    if (d->calls >= 2 && d->sets[1]) {
        char rt2[512];
        json_get_str(d->sets[1], "refresh_token", rt2, sizeof rt2);
        remember_secret(rt2);
        check(json_get_int(d->sets[1], "version", -1) == v + 2,
              "the refreshed set has version + 2", "%s", d->sets[1]);
    }

revoke:
    expect(om_tokens_revoke(acc, 0), OM_STATUS_OK, 1, NULL, "om_tokens_revoke -> OK");
    check(d->calls == 3 && d->sets[2] && !strstr(d->sets[2], "\"refresh_token\"") &&
              !strstr(d->sets[2], "\"access_token\""),
          "the token callback got the empty set after revocation", "calls %d, last %s", d->calls,
          d->calls >= 3 ? nn(d->sets[2]) : "-");
    tok = SENTINEL;
    exp = 3;
    om_status rs = om_get_access_token(acc, 0, &tok, &exp);
    struct last_err e;
    grab_last_error(&e);
    check(rs == OM_STATUS_AUTHORIZATION_REQUIRED && tok == NULL && exp == 0,
          "om_get_access_token after revoke -> AUTHORIZATION_REQUIRED, outs cleared",
          "got %d (%s), out %p, exp %lld", rs, nn(om_status_name(rs)), (void *)tok,
          (long long)exp);
    check(e.message[0] != '\0', "... with a last error message", "%s", "empty");
    check(e.hint[0] != '\0', "... and a hint (who must do what)", "message was: %s", e.message);
    check(e.status == OM_STATUS_AUTHORIZATION_REQUIRED, "... and om_last_error_status()", "%d",
          e.status);
    printf("# after revoke: message \"%s\" hint \"%s\"\n", e.message, e.hint);

    out = NULL;
    if (expect(om_tokens_export(acc, &out), OM_STATUS_OK, out != NULL, NULL,
               "om_tokens_export after revoke")) {
        check(json_get_int(out, "version", -1) == v + 3 && !strstr(out, "refresh_token"),
              "the revoked set is empty with a higher version", "%s", out);
        if (exported) {
            char *old = json_set_int(exported, "version", v + 2);
            expect(om_tokens_import(acc, old), OM_STATUS_STALE_TOKENS, 1, NULL,
                   "an older copy cannot be imported over the revoked set -> STALE_TOKENS");
            free(old);
        }
        om_string_free(out);
    }
    om_string_free(exported);

    /* the log: messages came, none leaked a secret or a token */
    long n_logs = atomic_load(&g_log.count);
    check(n_logs > 5, "the log callback received messages during the flow", "%ld", n_logs);
    check(atomic_load(&g_log.bad_level) == 0,
          "every log message had our user_data, a level 0..3 and a text", "%d bad",
          atomic_load(&g_log.bad_level));
    const char *leak = log_find(SECRET);
    check(leak == NULL, "no log message contains the client secret", "%s", nn(leak));
    for (int i = 0; i < g_n_secrets; i++) {
        leak = log_find(g_secrets[i]);
        snprintf(what, sizeof what, "no log message contains token #%d obtained", i + 1);
        check(leak == NULL, what, "%s", nn(leak));
    }

    expect(om_account_free(acc), OM_STATUS_OK, 1, NULL, "om_account_free(authorized account)");
    check(atomic_load(&g_token_data_freed) == freed_before + 1,
          "om_account_free calls free_user_data once", "called %d times",
          atomic_load(&g_token_data_freed) - freed_before);
    expect(om_account_free(other), OM_STATUS_OK, 1, NULL, "om_account_free(second account)");
    out = SENTINEL;
    expect(om_account_config_json(acc, &out), OM_STATUS_INVALID_HANDLE, out == NULL, NULL,
           "use after om_account_free -> INVALID_HANDLE");
    tok = SENTINEL;
    expect(om_get_access_token(acc, 0, &tok, NULL), OM_STATUS_INVALID_HANDLE, tok == NULL, NULL,
           "om_get_access_token after om_account_free -> INVALID_HANDLE");
    expect(om_tokens_revoke(acc, 0), OM_STATUS_INVALID_HANDLE, 1, NULL,
           "om_tokens_revoke after om_account_free -> INVALID_HANDLE");
    expect(om_account_set_token_callback(acc, NULL, NULL, NULL), OM_STATUS_INVALID_HANDLE, 1,
           NULL, "om_account_set_token_callback after om_account_free -> INVALID_HANDLE");
}

/* ------------------------------------------------------------------------------------------ */
/* Part c: many threads                                                                       */
/* ------------------------------------------------------------------------------------------ */

#define N_WORKERS 6
#define WORKER_ITERATIONS 6

struct worker {
    pthread_t tid;
    int index;
    int checks, failures;
    char first_failure[1024];
};

static atomic_int g_worker_frees;

static void worker_on_tokens(void *user_data, const char *tokens_json)
{
    (void)user_data;
    (void)tokens_json;
}

static void count_free(void *user_data)
{
    free(user_data);
    atomic_fetch_add(&g_worker_frees, 1);
}

static void wcheck(struct worker *w, int cond, const char *fmt, ...)
{
    w->checks++;
    if (cond)
        return;
    w->failures++;
    if (!w->first_failure[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->first_failure, sizeof w->first_failure, fmt, ap);
        va_end(ap);
    }
}

/* status and thread-local last error of a failing call */
static void wexpect_(struct worker *w, om_status got, om_status want, int outs_null,
                     const char *what)
{
    const char *m = om_last_error_message();
    om_status ls = om_last_error_status();
    if (want == OM_STATUS_OK)
        wcheck(w, got == want && m && !*m && ls == 0 && outs_null, "%s: got %d (%s)", what, got,
               m ? m : "(NULL)");
    else
        wcheck(w, got == want && m && *m && ls == want && outs_null, "%s: got %d, last %d (%s)",
               what, got, ls, m ? m : "(NULL)");
}

#define wexpect(w, call, want, outs, what) (t_st = (call), wexpect_((w), t_st, (want), (outs), (what)))

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    t_host_thread = 1;
    om_account *previous = NULL;
    for (int it = 0; it < WORKER_ITERATIONS; it++) {
        om_account *a = SENTINEL_ACC;
        char *out;
        wexpect(w, om_account_new(g_cfg_quiet, &a), OM_STATUS_OK, a != SENTINEL_ACC && a,
                "om_account_new");
        if (a == NULL || a == SENTINEL_ACC)
            continue;
        wexpect(w, om_account_set_token_callback(a, worker_on_tokens, malloc(16), count_free),
                OM_STATUS_OK, 1, "set_token_callback");
        out = NULL;
        wexpect(w, om_account_config_json(a, &out), OM_STATUS_OK, out != NULL, "config_json");
        wcheck(w, out && !strstr(out, SECRET), "config_json shows the secret");
        om_string_free(out);
        out = NULL;
        wexpect(w, om_account_check(a, &out), OM_STATUS_OK, out != NULL, "check");
        wcheck(w, json_valid(out, '['), "check: not a JSON array: %s", nn(out));
        om_string_free(out);

        /* bad input, interleaved with the other threads' */
        out = SENTINEL;
        wexpect(w, om_account_config_json(a, NULL), OM_STATUS_INVALID_ARGUMENT, 1,
                "config_json(NULL out)");
        wexpect(w, om_tokens_import(a, "\xff\xfe"), OM_STATUS_INVALID_ARGUMENT, 1,
                "import(invalid UTF-8)");
        wexpect(w, om_tokens_import(a, "{\"format\":1,"), OM_STATUS_INVALID_ARGUMENT, 1,
                "import(malformed)");
        om_account *b = SENTINEL_ACC;
        wexpect(w, om_account_new("{\"nope\":true}", &b), OM_STATUS_INVALID_CONFIG, b == NULL,
                "account_new(unknown key)");
        wcheck(w, strstr(om_last_error_message(), "nope") != NULL,
               "thread-local last error names the key: %s", om_last_error_message());
        wexpect(w, om_authorize_wait(a, 0), OM_STATUS_WRONG_STATE, 1, "wait(nothing started)");
        out = SENTINEL;
        wexpect(w, om_tokens_export(FOREIGN_HANDLE, &out), OM_STATUS_INVALID_HANDLE,
                out == NULL, "export(foreign)");
        if (previous) {
            out = SENTINEL;
            wexpect(w, om_tokens_export(previous, &out), OM_STATUS_INVALID_HANDLE, out == NULL,
                    "export(own freed handle)");
            wexpect(w, om_account_free(previous), OM_STATUS_INVALID_HANDLE, 1,
                    "free(own freed handle)");
        }

        /* a cached token, per thread */
        char set[2048], want[64];
        snprintf(want, sizeof want, "fake-access-w%d-i%d", w->index, it);
        fake_token_set(set, sizeof set, 1 + it, want, (long long)time(NULL) + 3600, NULL);
        wexpect(w, om_tokens_import(a, set), OM_STATUS_OK, 1, "import");
        out = NULL;
        wexpect(w, om_get_access_token(a, 1000, &out, NULL), OM_STATUS_OK, out != NULL,
                "get_access_token(cached)");
        wcheck(w, out && strcmp(out, want) == 0, "wrong token %s", nn(out));
        om_string_free(out);

        wexpect(w, om_authorize_cancel(a), OM_STATUS_OK, 1, "authorize_cancel");
        wexpect(w, om_account_cancel(a), OM_STATUS_OK, 1, "account_cancel");
        wexpect(w, om_account_free(a), OM_STATUS_OK, 1, "account_free");
        previous = a;
    }
    return NULL;
}

/* Threads using one shared account while the main thread frees it. */
struct sharer {
    pthread_t tid;
    om_account *acc;
    atomic_int *ok_calls;
    int oks, invalid, other;
    om_status other_status;
};

static void *sharer_main(void *arg)
{
    struct sharer *s = arg;
    t_host_thread = 1;
    for (long i = 0; i < 200000; i++) {
        char *out = NULL;
        om_status st;
        switch (i % 3) {
        case 0: st = om_account_config_json(s->acc, &out); break;
        case 1: st = om_tokens_export(s->acc, &out); break;
        default: st = om_get_access_token(s->acc, 1000, &out, NULL); break;
        }
        om_string_free(out);
        if (st == OM_STATUS_OK) {
            s->oks++;
            atomic_fetch_add(s->ok_calls, 1);
        } else if (st == OM_STATUS_INVALID_HANDLE) {
            if (++s->invalid >= 3)
                break;
        } else {
            s->other++;
            s->other_status = st;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    section("many threads: own accounts, bad input");
    struct worker w[N_WORKERS];
    memset(w, 0, sizeof w);
    int frees_before = atomic_load(&g_worker_frees);
    double t0 = now_mono();
    for (int i = 0; i < N_WORKERS; i++) {
        w[i].index = i;
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
            check(0, "pthread_create", "worker %d", i);
            w[i].tid = pthread_self();
            w[i].index = -1;
        }
    }
    for (int i = 0; i < N_WORKERS; i++) {
        if (w[i].index < 0)
            continue;
        pthread_join(w[i].tid, NULL);
        char what[256];
        snprintf(what, sizeof what, "worker thread %d: %d checks", i, w[i].checks);
        check(w[i].failures == 0, what, "%d failed, first: %s", w[i].failures,
              w[i].first_failure);
    }
    check(atomic_load(&g_worker_frees) - frees_before == N_WORKERS * WORKER_ITERATIONS,
          "every worker account released its token-callback user_data",
          "%d of %d", atomic_load(&g_worker_frees) - frees_before,
          N_WORKERS * WORKER_ITERATIONS);
    printf("# workers took %.1f s\n", now_mono() - t0);

    section("many threads: one account freed while in use");
    om_account *shared = NULL;
    if (!expect(om_account_new(g_cfg_quiet, &shared), OM_STATUS_OK, shared != NULL, NULL,
                "om_account_new(shared account)"))
        return;
    char set[2048];
    fake_token_set(set, sizeof set, 1, "fake-access-shared", (long long)time(NULL) + 3600, NULL);
    expect(om_tokens_import(shared, set), OM_STATUS_OK, 1, NULL, "import into the shared account");
    atomic_int ok_calls = 0;
    struct sharer s[4];
    memset(s, 0, sizeof s);
    int n = 0;
    for (int i = 0; i < 4; i++) {
        s[i].acc = shared;
        s[i].ok_calls = &ok_calls;
        if (pthread_create(&s[i].tid, NULL, sharer_main, &s[i]) == 0)
            n++;
        else
            break;
    }
    double deadline = now_mono() + 30.0;
    while (atomic_load(&ok_calls) < 40 && now_mono() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    expect(om_account_free(shared), OM_STATUS_OK, 1, NULL,
           "om_account_free while 4 threads use the account");
    int oks = 0, invalid = 0, others = 0;
    om_status other_status = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(s[i].tid, NULL);
        oks += s[i].oks;
        invalid += s[i].invalid;
        others += s[i].other;
        if (s[i].other)
            other_status = s[i].other_status;
    }
    check(others == 0 && invalid == 3 * n,
          "the other threads got only OK, then INVALID_HANDLE after the free",
          "%d OK, %d INVALID_HANDLE, %d other (e.g. %d %s)", oks, invalid, others, other_status,
          nn(om_status_name(other_status)));
}

/* ------------------------------------------------------------------------------------------ */
/* Part d: Microsoft Graph as the transport, against the Graph emulator                       */
/* ------------------------------------------------------------------------------------------ */

#define GRAPH_SEEDED 3

struct graph_fetch {
    int calls;
    int bad_ids;            /* uid or uidvalidity not 0 */
    int no_uidl;            /* uidl NULL or "" */
    int bad_data;           /* raw bytes without the seeded Message-ID, or a size that differs */
    char uidl[GRAPH_SEEDED][256];
    char folder[64];
};

static int32_t graph_on_message(void *user_data, const om_message *m, const uint8_t *data,
                                size_t len)
{
    struct graph_fetch *g = user_data;
    if (m->uid != 0 || m->uidvalidity != 0)
        g->bad_ids++;
    if (!m->uidl || !m->uidl[0])
        g->no_uidl++;
    else if (g->calls < GRAPH_SEEDED)
        snprintf(g->uidl[g->calls], sizeof g->uidl[0], "%s", m->uidl);
    if (g->calls == 0)
        snprintf(g->folder, sizeof g->folder, "%s", m->folder ? m->folder : "(NULL)");
    /* the raw RFC 5322 bytes as seeded (not NUL-terminated: search with a bounded loop) */
    static const char needle[] = "Message-ID: <graph-c-";
    int found = 0;
    for (size_t i = 0; data && i + sizeof needle - 1 <= len && !found; i++)
        found = memcmp(data + i, needle, sizeof needle - 1) == 0;
    if (!found || m->size != (uint64_t)len)
        g->bad_data++;
    g->calls++;
    return OM_FETCH_CONTINUE;
}

/* What om_messages_fetch handed over. */
struct browse_fetch {
    int calls;
    int parsed_null, parsed_valid, parsed_subject; /* parsed_json NULL / a JSON object / subject */
    int id_match, bad_data;
    char want_id[512];
};

static int32_t browse_on_message(void *user_data, const om_message *m, const uint8_t *data,
                                 size_t len)
{
    struct browse_fetch *b = user_data;
    b->calls++;
    if (!m->parsed_json) {
        b->parsed_null++;
    } else {
        if (json_valid(m->parsed_json, '{'))
            b->parsed_valid++;
        if (strstr(m->parsed_json, "\"subject\":\"Graph C ") &&
            strstr(m->parsed_json, "\"message_id\":\"graph-c-"))
            b->parsed_subject++;
    }
    if (m->uidl && strcmp(m->uidl, b->want_id) == 0)
        b->id_match++;
    static const char needle[] = "Message-ID: <graph-c-";
    int found = 0;
    for (size_t i = 0; data && i + sizeof needle - 1 <= len && !found; i++)
        found = memcmp(data + i, needle, sizeof needle - 1) == 0;
    if (!found)
        b->bad_data++;
    return OM_FETCH_CONTINUE;
}

/* The listed message whose "id" is `id`: its JSON text up to the next message (a pointer into
 * `list`, `*n` its length), or NULL. */
static const char *listed_message(const char *list, const char *id, size_t *n)
{
    char pat[600];
    snprintf(pat, sizeof pat, "\"id\":\"%s\"", id);
    const char *p = strstr(list, pat);
    if (!p)
        return NULL;
    const char *next = strstr(p + strlen(pat), "\"id\":\"");
    *n = next ? (size_t)(next - p) : strlen(p);
    return p;
}

/* 1 when the listed message `id` carries the flag `flag_json` (as JSON text, e.g. "\\Flagged"). */
static int listed_has(const char *list, const char *id, const char *flag_json)
{
    size_t n = 0;
    const char *m = listed_message(list, id, &n);
    if (!m)
        return -1;
    const char *f = strstr(m, flag_json);
    return f && (size_t)(f - m) < n;
}

/* om_messages_list into a new string (NULL on failure, reported). */
static char *list_json(om_account *acc, const char *options, const char *what)
{
    char *out = SENTINEL;
    if (!expect(om_messages_list(acc, options, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
                what))
        return NULL;
    return out;
}

/* The browsing calls through Graph, on the mailbox run.sh seeded (Graph C 1..3 in the Inbox). */
static void test_graph_browse(om_account *acc)
{
    section("Microsoft Graph: om_messages_list / fetch / set_flags, om_wait_for_mail, folders");
    char *list = list_json(acc, "{\"limit\":10}", "om_messages_list(Inbox) -> OK");
    char id[512] = "";
    if (list) {
        check(json_valid(list, '{') && count_of(list, "\"id\":\"") == GRAPH_SEEDED &&
                  strstr(list, "\"subject\":\"Graph C 1\"") && strstr(list, "\"subject\":\"Graph C 3\""),
              "the listing has the 3 seeded messages with their subjects", "%s", list);
        check(strstr(list, "\"address\":\"sender@example.test\"") && strstr(list, "\"has_attachments\":false"),
              "each listed message has its sender and has_attachments", "%s", list);
        check(json_get_int(list, "uid", -1) == 0 && json_get_int(list, "uidvalidity", -1) == 0,
              "Graph listings have uid 0 and uidvalidity 0", "%s", list);
        const char *nc = json_find(list, "next_cursor");
        check(!nc || strncmp(nc, "null", 4) == 0, "one page: no next_cursor", "%s", list);
        /* newest first: the first message is Graph C 3 */
        const char *first = strstr(list, "\"messages\":");
        check(first && json_get_str(first, "id", id, sizeof id) && id[0] &&
                  strstr(first, "\"subject\":\"Graph C 3\"") &&
                  strstr(first, "\"subject\":\"Graph C 3\"") < strstr(first, "\"subject\":\"Graph C 1\""),
              "newest first: Graph C 3 comes first, its id taken for what follows", "%s", list);
        om_string_free(list);
    }

    /* paging: 2, then 1 with the cursor */
    char *page1 = list_json(acc, "{\"limit\":2}", "om_messages_list(limit 2) -> OK");
    if (page1) {
        char cursor[2048] = "";
        json_get_str(page1, "next_cursor", cursor, sizeof cursor);
        check(count_of(page1, "\"id\":\"") == 2 && cursor[0], "a page of 2 and a next_cursor", "%s",
              page1);
        if (cursor[0]) {
            char opts[2300];
            snprintf(opts, sizeof opts, "{\"limit\":2,\"cursor\":\"%s\"}", cursor);
            char *page2 = list_json(acc, opts, "om_messages_list(the next cursor) -> OK");
            if (page2) {
                const char *nc = json_find(page2, "next_cursor");
                check(count_of(page2, "\"id\":\"") == 1 && strstr(page2, "\"subject\":\"Graph C 1\"") &&
                          (!nc || strncmp(nc, "null", 4) == 0),
                      "the second page: the last message, no further cursor", "%s", page2);
                om_string_free(page2);
            }
        }
        om_string_free(page1);
    }
    char *out = SENTINEL;
    expect(om_messages_list(acc, "{\"cursor\":\"not-a-cursor\"}", &out), OM_STATUS_INVALID_ARGUMENT,
           out == NULL, "cursor", "om_messages_list(a cursor it never gave) -> INVALID_ARGUMENT");
    char *sub = list_json(acc, "{\"search\":{\"subject\":\"Graph C 2\"}}",
                          "om_messages_list(search subject) -> OK");
    if (sub) {
        check(count_of(sub, "\"id\":\"") == 1 && strstr(sub, "\"subject\":\"Graph C 2\""),
              "search subject: only Graph C 2", "%s", sub);
        om_string_free(sub);
    }
    if (!id[0])
        return;

    /* om_messages_fetch, with and without "parse" */
    char sel[1024];
    struct browse_fetch b;
    uint32_t count = 77;
    memset(&b, 0, sizeof b);
    snprintf(b.want_id, sizeof b.want_id, "%s", id);
    snprintf(sel, sizeof sel, "{\"ids\":[\"%s\"],\"parse\":true}", id);
    if (expect(om_messages_fetch(acc, sel, browse_on_message, &b, &count), OM_STATUS_OK, count == 1,
               NULL, "om_messages_fetch(one id, parse true) -> OK, count 1")) {
        check(b.calls == 1 && b.id_match == 1 && b.bad_data == 0,
              "the callback got that message (uidl = its id, the raw bytes)", "%d calls, %d match, %d bad",
              b.calls, b.id_match, b.bad_data);
        check(b.calls == 1 && b.parsed_null == 0 && b.parsed_valid == 1 && b.parsed_subject == 1,
              "with \"parse\": true, parsed_json is the parsed JSON (subject, message_id)",
              "%d NULL, %d valid, %d with the subject", b.parsed_null, b.parsed_valid,
              b.parsed_subject);
    }
    memset(&b, 0, sizeof b);
    snprintf(b.want_id, sizeof b.want_id, "%s", id);
    snprintf(sel, sizeof sel, "{\"ids\":[\"%s\"]}", id);
    count = 77;
    if (expect(om_messages_fetch(acc, sel, browse_on_message, &b, &count), OM_STATUS_OK, count == 1,
               NULL, "om_messages_fetch(one id, no parse) -> OK"))
        check(b.calls == 1 && b.parsed_null == 1, "without \"parse\", parsed_json is NULL",
              "%d calls, %d NULL", b.calls, b.parsed_null);
    memset(&b, 0, sizeof b);
    snprintf(sel, sizeof sel, "{\"ids\":[\"%s\"],\"parse\":false}", id);
    if (expect(om_messages_fetch(acc, sel, browse_on_message, &b, NULL), OM_STATUS_OK, 1, NULL,
               "om_messages_fetch(parse false, NULL out_count) -> OK"))
        check(b.calls == 1 && b.parsed_null == 1, "with \"parse\": false, parsed_json is NULL",
              "%d calls, %d NULL", b.calls, b.parsed_null);
    count = 77;
    expect(om_messages_fetch(acc, "{\"uids\":[1]}", browse_on_message, &b, &count),
           OM_STATUS_INVALID_ARGUMENT, count == 0, "UID",
           "om_messages_fetch(IMAP uids on a Graph account) -> INVALID_ARGUMENT");

    /* flags: add \Flagged, see it listed, remove it again */
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"ids\":[\"%s\"],\"add\":[\"flagged\"]}", id);
    expect(om_messages_set_flags(acc, opts), OM_STATUS_OK, 1, NULL,
           "om_messages_set_flags(add flagged) -> OK");
    char *after = list_json(acc, NULL, "om_messages_list(NULL options) after the change -> OK");
    if (after) {
        check(listed_has(after, id, "\"\\\\Flagged\"") == 1 && count_of(after, "\\\\Flagged") == 1,
              "the listing shows \\Flagged on that message only", "%s", after);
        om_string_free(after);
    }
    after = list_json(acc, "{\"search\":{\"flagged\":true}}", "om_messages_list(search flagged) -> OK");
    if (after) {
        check(count_of(after, "\"id\":\"") == 1 && listed_has(after, id, "\"\\\\Flagged\"") == 1,
              "search flagged: only that message", "%s", after);
        om_string_free(after);
    }
    snprintf(opts, sizeof opts, "{\"ids\":[\"%s\"],\"remove\":[\"flagged\"]}", id);
    expect(om_messages_set_flags(acc, opts), OM_STATUS_OK, 1, NULL,
           "om_messages_set_flags(remove flagged) -> OK");
    after = list_json(acc, NULL, "om_messages_list after removing it -> OK");
    if (after) {
        check(count_of(after, "\\\\Flagged") == 0, "the flag is gone", "%s", after);
        om_string_free(after);
    }

    /* a folder, a copy into it, the copy deleted */
    static const char folder[] = "Archives C/2026 \xc3\xa9t\xc3\xa9";
    expect(om_folder_create(acc, folder, 0), OM_STATUS_OK, 1, NULL,
           "om_folder_create(\"Archives C/2026 \xc3\xa9t\xc3\xa9\") -> OK");
    expect(om_folder_create(acc, folder, 0), OM_STATUS_OK, 1, NULL,
           "om_folder_create(the same folder again) -> OK (exists already)");
    snprintf(opts, sizeof opts, "{\"ids\":[\"%s\"],\"to\":\"%s\"}", id, folder);
    expect(om_messages_copy(acc, opts), OM_STATUS_OK, 1, NULL, "om_messages_copy into it -> OK");
    snprintf(opts, sizeof opts, "{\"folder\":\"%s\"}", folder);
    char *copied = list_json(acc, opts, "om_messages_list(the new folder) -> OK");
    char copy_id[512] = "";
    if (copied) {
        const char *msgs = strstr(copied, "\"messages\":");
        check(count_of(copied, "\"id\":\"") == 1 && strstr(copied, "\"subject\":\"Graph C 3\"") && msgs &&
                  json_get_str(msgs, "id", copy_id, sizeof copy_id),
              "the copy is in the new folder", "%s", copied);
        om_string_free(copied);
    }
    char *inbox = list_json(acc, NULL, "om_messages_list(Inbox) after the copy -> OK");
    if (inbox) {
        check(count_of(inbox, "\"id\":\"") == GRAPH_SEEDED, "the Inbox still has its 3 messages",
              "%s", inbox);
        om_string_free(inbox);
    }
    if (copy_id[0]) {
        snprintf(opts, sizeof opts, "{\"folder\":\"%s\",\"ids\":[\"%s\"]}", folder, copy_id);
        expect(om_messages_delete(acc, opts), OM_STATUS_OK, 1, NULL, "om_messages_delete(the copy) -> OK");
        snprintf(opts, sizeof opts, "{\"folder\":\"%s\"}", folder);
        copied = list_json(acc, opts, "om_messages_list(the new folder) after the delete -> OK");
        if (copied) {
            check(count_of(copied, "\"id\":\"") == 0, "the folder is empty again", "%s", copied);
            om_string_free(copied);
        }
    }

    /* the wait: nothing arrives within 1 s */
    out = SENTINEL;
    double t0 = now_mono();
    if (expect(om_wait_for_mail(acc, NULL, 1000, &out), OM_STATUS_OK, out && out != SENTINEL, NULL,
               "om_wait_for_mail(1 s) -> OK")) {
        double took = now_mono() - t0;
        check(json_valid(out, '{') && strstr(out, "\"new_mail\":false") && strstr(out, "\"method\":\"poll\""),
              "nothing arrived: \"new_mail\": false, by polling (Graph)", "%s", out);
        check(took >= 0.9 && took < 30.0, "the wait lasted about its timeout", "%.1f s", took);
        om_string_free(out);
    }
    expect(om_wait_for_mail(acc, "{\"folder\":\"inbox\",\"poll_interval_secs\":1}", 1000, NULL),
           OM_STATUS_OK, 1, NULL, "om_wait_for_mail(options, NULL out_json) -> OK");
}

/* Graph both ways: the account reads and sends through the Graph emulator (run.sh seeded 3
 * messages in OM_TEST_GRAPH_USER's Inbox and checks the sent one in its Sent Items). */
static void test_graph(void)
{
    section("Microsoft Graph: authorize, fetch, fetch again, send raw, folders");
    /* the scripted browser signs in as the Graph user: browser_command + --login USER */
    char browser[2048];
    const char *last = strrchr(env.browser, ']'); /* there is one: load_env checked the array */
    snprintf(browser, sizeof browser, "%.*s,\"--login\",\"%s\"]", (int)(last - env.browser),
             env.browser, env.graph_user);
    char cfg[8192];
    snprintf(cfg, sizeof cfg,
             "{\"provider\":\"custom\",\"client_id\":\"confidential-app\","
             "\"client_secret\":\"" SECRET "\",\"client_auth\":\"request_body\","
             "\"authorize_url\":\"%s\",\"token_url\":\"%s\",\"revocation_url\":\"%s\","
             "\"scopes\":\"openid offline_access email https://graph.microsoft.com/Mail.ReadWrite "
             "https://graph.microsoft.com/Mail.Send\","
             "\"redirect_uri\":\"http://127.0.0.1/\",\"email\":\"%s\",\"ca_certs_file\":\"%s\","
             "\"timeout_secs\":30,\"graph_url\":\"%s\","
             "\"incoming\":{\"protocol\":\"graph\"},\"outgoing\":{\"protocol\":\"graph\"},"
             "\"open_browser\":true,\"browser_command\":%s}",
             env.authorize, env.token, env.revocation, env.graph_user, env.ca, env.graph_url,
             browser);
    om_account *acc = NULL;
    if (!expect(om_account_new(cfg, &acc), OM_STATUS_OK, acc != NULL, NULL,
                "om_account_new(incoming and outgoing protocol graph, graph_url)"))
        return;

    char *out = NULL;
    double t0 = now_mono();
    om_status st = om_authorize_start(acc, "{\"open_browser\":true}", &out);
    if (expect(st, OM_STATUS_OK, out != NULL, NULL, "Graph account: om_authorize_start")) {
        om_string_free(out);
        do
            st = om_authorize_wait(acc, 200);
        while (st == OM_STATUS_PENDING && now_mono() - t0 < 60.0);
    }
    if (!expect(st, OM_STATUS_OK, 1, NULL,
                "Graph account: the scripted browser authorized the Graph scopes")) {
        om_account_free(acc);
        return;
    }

    out = NULL;
    if (expect(om_servers_check(acc, 0, &out), OM_STATUS_OK, out != NULL, NULL,
               "om_servers_check on the Graph account -> OK")) {
        char *c = json_compact(out);
        const char *in = strstr(c, "\"role\":\"incoming\",\"protocol\":\"graph\"");
        const char *outg = strstr(c, "\"role\":\"outgoing\",\"protocol\":\"graph\"");
        check(json_valid(out, '[') && in && outg && strstr(in, "\"authenticated\":true") &&
                  strstr(outg, "\"authenticated\":true") && !strstr(c, "\"authenticated\":false"),
              "the settings check logs in to Graph both ways", "%s", c);
        free(c);
        om_string_free(out);
    }

    struct graph_fetch g;
    memset(&g, 0, sizeof g);
    char *summary = NULL;
    if (expect(om_fetch(acc, NULL, graph_on_message, &g, &summary), OM_STATUS_OK,
               summary != NULL, NULL, "om_fetch through Graph -> OK")) {
        check(g.calls == GRAPH_SEEDED && json_get_int(summary, "delivered", -1) == GRAPH_SEEDED,
              "om_fetch through Graph delivers the 3 seeded messages", "%d callbacks, summary %s",
              g.calls, summary);
        check(g.calls > 0 && g.bad_ids == 0,
              "Graph messages have uid 0 and uidvalidity 0", "%d of %d not", g.bad_ids, g.calls);
        int distinct = g.no_uidl == 0;
        for (int i = 0; i < GRAPH_SEEDED && i < g.calls; i++)
            for (int j = 0; j < i; j++)
                if (strcmp(g.uidl[i], g.uidl[j]) == 0)
                    distinct = 0;
        check(g.calls > 0 && distinct,
              "each Graph message has its Graph id in uidl (non-empty, distinct)",
              "%d without uidl; first uidl \"%s\"", g.no_uidl, g.uidl[0]);
        check(g.calls > 0 && g.bad_data == 0,
              "the callback gets the seeded raw bytes, size = their length", "%d bad",
              g.bad_data);
        printf("# Graph fetch: folder \"%s\", uidl \"%.24s...\" (%zu chars), summary %s\n",
               g.folder, g.uidl[0], strlen(g.uidl[0]), summary);
        om_string_free(summary);
    }

    memset(&g, 0, sizeof g);
    summary = NULL;
    if (expect(om_fetch(acc, NULL, graph_on_message, &g, &summary), OM_STATUS_OK,
               summary != NULL, NULL, "om_fetch through Graph again -> OK")) {
        check(g.calls == 0 && json_get_int(summary, "delivered", -1) == 0,
              "the second fetch through Graph delivers nothing", "%d callbacks, summary %s",
              g.calls, summary);
        om_string_free(summary);
    }

    test_graph_browse(acc);

    char raw[1024];
    snprintf(raw, sizeof raw,
             "From: %s\r\nTo: Customer <customer@example.test>\r\nSubject: Devis via Graph\r\n"
             "Message-ID: <graph-c-sent@example.test>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici le devis.\r\n",
             env.graph_user);
    char *result = NULL;
    if (expect(om_send_raw(acc, (const uint8_t *)raw, strlen(raw), NULL, &result), OM_STATUS_OK,
               result != NULL, NULL, "om_send_raw through Graph -> OK")) {
        check(json_valid(result, '{') && json_get_int(result, "reply_code", -1) == 202 &&
                  strstr(result, "<graph-c-sent@example.test>") &&
                  strstr(result, "customer@example.test"),
              "the send result: Graph's 202, the Message-ID and the recipient", "%s", result);
        check(strstr(result, "\"saved_to\":\"sentitems\"") != NULL,
              "the send result says Exchange keeps the copy in sentitems", "%s", result);
        om_string_free(result);
    }

    out = NULL;
    if (expect(om_folders_list(acc, 0, &out), OM_STATUS_OK, out != NULL, NULL,
               "om_folders_list through Graph -> OK")) {
        check(json_valid(out, '[') && strstr(out, "\"name\":\"Inbox\""),
              "the Graph folder list has Inbox", "%s", out);
        om_string_free(out);
    }

    out = NULL;
    if (expect(om_tokens_export(acc, &out), OM_STATUS_OK, out != NULL, NULL,
               "om_tokens_export of the Graph account")) {
        check(json_get_int(out, "format", -1) == 2, "the token set is format 2", "%s",
              "other format");
        char access[4096];
        if (json_get_str(out, "access_token", access, sizeof access)) {
            const char *leak = log_find(access);
            check(leak == NULL, "no log message contains the Graph account's access token", "%s",
                  nn(leak));
        }
        om_string_free(out);
    }
    expect(om_account_free(acc), OM_STATUS_OK, 1, NULL, "om_account_free(Graph account)");
}

/* ------------------------------------------------------------------------------------------ */

static void test_shutdown(void)
{
    section("shutdown");
    om_account *a = NULL;
    expect(om_account_new(g_cfg_quiet, &a), OM_STATUS_OK, a != NULL, NULL,
           "an account that outlives om_shutdown()");
    expect(om_log_set_callback(NULL, OM_LOG_DEBUG, NULL, NULL), OM_STATUS_OK, 1, NULL,
           "om_log_set_callback(NULL) removes the log callback");
    long n = atomic_load(&g_log.count);
    expect(om_log_write(OM_LOG_ERROR, "nobody listens"), OM_STATUS_OK, 1, NULL,
           "om_log_write without callback");
    check(atomic_load(&g_log.count) == n, "the removed callback is not called", "%ld -> %ld", n,
          atomic_load(&g_log.count));

    expect(om_shutdown(), OM_STATUS_OK, 1, NULL, "om_shutdown() (last reference)");
    expect(om_shutdown(), OM_STATUS_NOT_INITIALIZED, 1, NULL,
           "om_shutdown() more often than om_init() -> NOT_INITIALIZED");
    char *out = SENTINEL;
    expect(om_authorize_start(a, "{\"open_browser\":false}", &out), OM_STATUS_NOT_INITIALIZED,
           out == NULL, NULL, "om_authorize_start after om_shutdown() -> NOT_INITIALIZED");
    expect(om_tokens_revoke(a, 1000), OM_STATUS_NOT_INITIALIZED, 1, NULL,
           "om_tokens_revoke after om_shutdown() -> NOT_INITIALIZED");
    out = NULL;
    expect(om_account_config_json(a, &out), OM_STATUS_OK, out != NULL, NULL,
           "the account stays valid after om_shutdown()");
    om_string_free(out);

    /* the library can be started again */
    expect(om_init(), OM_STATUS_OK, 1, NULL, "om_init() after om_shutdown()");
    out = NULL;
    if (expect(om_authorize_start(a, "{\"open_browser\":false}", &out), OM_STATUS_OK, out != NULL,
               NULL, "om_authorize_start after re-init -> OK")) {
        om_string_free(out);
        expect(om_authorize_cancel(a), OM_STATUS_OK, 1, NULL, "cancel it");
    }
    expect(om_shutdown(), OM_STATUS_OK, 1, NULL, "om_shutdown() again");
    om_status w = om_authorize_wait(a, 0);
    check(w == OM_STATUS_CANCELLED || w == OM_STATUS_NOT_INITIALIZED,
          "om_authorize_wait after om_shutdown() -> CANCELLED (outcome) or NOT_INITIALIZED",
          "got %d (%s)", w, nn(om_status_name(w)));
    printf("# note: om_authorize_wait on an ended flow after om_shutdown() gives %s\n",
           nn(om_status_name(w)));
    expect(om_account_free(a), OM_STATUS_OK, 1, NULL, "om_account_free after om_shutdown()");
}

int main(void)
{
    t_host_thread = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!load_env())
        return 2;
    double t0 = now_mono();

    test_static_functions();
    test_message_functions();
    test_before_init();

    section("init and log callback");
    expect(om_init(), OM_STATUS_OK, 1, NULL, "om_init()");
    expect(om_log_set_callback(on_log, OM_LOG_DEBUG, &g_log, NULL), OM_STATUS_OK, 1, NULL,
           "om_log_set_callback(counting callback, DEBUG)");

    test_lifecycle();
    test_bad_input();
    test_threads();
    test_graph();
    test_shutdown();
    log_free_all();

    printf("# total %.1f s\n", now_mono() - t0);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
