/*
 * omcli.c — the admin's command-line tool for oauthmail: try an account's settings before
 * typing them into the CRM. Uses only the public header (include/oauthmail.h).
 *
 *   omcli [--quiet] [--verbose] COMMAND CONFIG.json [options]
 *
 *   check      CONFIG.json                       registration findings + server report
 *   authorize  CONFIG.json [--no-browser] [--device] [--paste]
 *   token      CONFIG.json [--show]
 *   folders    CONFIG.json
 *   fetch      CONFIG.json [--folder F] [--max N] [--dir D] [--all]
 *   list       CONFIG.json [--folder F] [--max N] [--search JSON] [--cursor C]
 *   wait       CONFIG.json [--folder F] [--timeout SECS]
 *   send       CONFIG.json --to ADDR [--to ADDR]... --subject S [--text T] [--attach FILE]...
 *              | --raw FILE.eml [--to ADDR]...
 *   parse      FILE.eml [--save-attachments DIR]       (no CONFIG: no account, no network)
 *
 * Tokens are kept in CONFIG.tokens.json and the fetch state in CONFIG.state.json (next to the
 * configuration, ".json" replaced), unless the configuration sets token_file / state_file:
 * then the library keeps them there itself.
 *
 * A Google service account ("flow": "service_account", its key file) or an app-only account
 * ("flow": "client_credentials") needs no 'authorize': every other command gets its token from
 * the key or the client's credentials ('authorize' says so, OM_STATUS_WRONG_STATE).
 *
 * Text that comes from a message (names, subjects, file names, the text excerpt) is printed with
 * its control characters replaced, so that a hostile message cannot drive the terminal.
 *
 * Exit status: 0 ok, 1 failure, 2 usage error ('wait': 0 whether mail arrived or not).
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include "oauthmail.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

static int g_quiet = 0;
static int g_verbose = 0;
static volatile sig_atomic_t g_interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1; /* only a flag: the loops check it and cancel through the library */
}

/* ------------------------------------------------------------------ small utilities */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fputs("omcli: out of memory\n", stderr); exit(EXIT_FAIL); }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) { fputs("omcli: out of memory\n", stderr); exit(EXIT_FAIL); }
    return q;
}

/* Reads a whole file; *out_len gets its size. NULL (errno set) on failure. */
static char *read_file(const char *path, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 8192, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) { cap *= 2; buf = xrealloc(buf, cap); }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); errno = EIO; return NULL; }
    buf[len] = '\0';
    if (out_len) *out_len = len;
    return buf;
}

/* Writes `text` to `path` atomically (temporary file + rename); mode 0600 where there are
 * modes, because token sets are secrets. Returns 0 or -1. */
static int write_file_atomic(const char *path, const char *text) {
    size_t n = strlen(path) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    size_t len = strlen(text);
    int ok = 0;
#ifndef _WIN32
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        size_t off = 0;
        ok = 1;
        while (off < len) {
            ssize_t w = write(fd, text + off, len - off);
            if (w < 0) { if (errno == EINTR) continue; ok = 0; break; }
            off += (size_t)w;
        }
        if (fsync(fd) != 0) ok = 0;
        if (close(fd) != 0) ok = 0;
    }
#else
    FILE *f = fopen(tmp, "wb");
    if (f) {
        ok = fwrite(text, 1, len, f) == len;
        if (fclose(f) != 0) ok = 0;
        if (ok) remove(path);
    }
#endif
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) remove(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

/* A growable string. */
typedef struct { char *p; size_t len, cap; } sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(sbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

/* Appends `s` as a JSON string literal: quotes, backslash and control characters escaped;
 * other bytes (UTF-8) copied as they are. */
static void json_escape(sbuf *b, const char *s) {
    sb_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sb_add(b, "\\\""); break;
        case '\\': sb_add(b, "\\\\"); break;
        case '\n': sb_add(b, "\\n"); break;
        case '\r': sb_add(b, "\\r"); break;
        case '\t': sb_add(b, "\\t"); break;
        case '\b': sb_add(b, "\\b"); break;
        case '\f': sb_add(b, "\\f"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sb_add(b, esc);
            } else {
                sb_addn(b, (const char *)p, 1);
            }
        }
    }
    sb_add(b, "\"");
}

/* Appends `"key": "value"` (with a leading comma unless first). */
static void json_kv_str(sbuf *b, int *first, const char *key, const char *value) {
    if (!*first) sb_add(b, ", ");
    *first = 0;
    json_escape(b, key);
    sb_add(b, ": ");
    json_escape(b, value);
}

/* ------------------------------------------------------------------ a small JSON reader */
/* Enough to present the library's JSON answers readably. */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    int boolean;
    double num;
    char *str;          /* J_STR: decoded UTF-8; J_NUM: the literal text */
    size_t count;       /* J_ARR / J_OBJ */
    struct jval *items; /* J_ARR / J_OBJ */
    char **keys;        /* J_OBJ */
} jval;

typedef struct { const char *p; int depth; } jparser;

static void jfree_inner(jval *v) {
    free(v->str);
    for (size_t i = 0; i < v->count; i++) {
        jfree_inner(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static void jfree(jval *v) {
    if (!v) return;
    jfree_inner(v);
    free(v);
}

static void jskip(jparser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int jhex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

static void sb_utf8(sbuf *b, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    sb_addn(b, u, n);
}

static char *jstring(jparser *ps) {
    if (*ps->p != '"') return NULL;
    ps->p++;
    sbuf b = {0};
    sb_add(&b, "");
    for (;;) {
        char c = *ps->p;
        if (c == '\0') { free(b.p); return NULL; }
        ps->p++;
        if (c == '"') break;
        if (c != '\\') { sb_addn(&b, &c, 1); continue; }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"': sb_add(&b, "\""); break;
        case '\\': sb_add(&b, "\\"); break;
        case '/': sb_add(&b, "/"); break;
        case 'b': sb_add(&b, "\b"); break;
        case 'f': sb_add(&b, "\f"); break;
        case 'n': sb_add(&b, "\n"); break;
        case 'r': sb_add(&b, "\r"); break;
        case 't': sb_add(&b, "\t"); break;
        case 'u':
            if (jhex4(ps->p, &cp) != 0) { free(b.p); return NULL; }
            ps->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo;
                if (jhex4(ps->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    ps->p += 6;
                }
            }
            sb_utf8(&b, cp);
            break;
        default: free(b.p); return NULL;
        }
    }
    return b.p;
}

static int jvalue(jparser *ps, jval *v);

static int jcontainer(jparser *ps, jval *v, int is_obj) {
    char close = is_obj ? '}' : ']';
    size_t cap = 0;
    ps->p++;
    v->type = is_obj ? J_OBJ : J_ARR;
    jskip(ps);
    if (*ps->p == close) { ps->p++; return 0; }
    for (;;) {
        if (v->count == cap) {
            cap = cap ? cap * 2 : 4;
            v->items = xrealloc(v->items, cap * sizeof *v->items);
            if (is_obj) v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
        }
        jskip(ps);
        char *key = NULL;
        if (is_obj) {
            key = jstring(ps);
            if (!key) return -1;
            jskip(ps);
            if (*ps->p != ':') { free(key); return -1; }
            ps->p++;
        }
        memset(&v->items[v->count], 0, sizeof v->items[0]);
        if (is_obj) v->keys[v->count] = key;
        v->count++; /* counted before parsing so a failure frees what was built */
        if (jvalue(ps, &v->items[v->count - 1]) != 0) return -1;
        jskip(ps);
        if (*ps->p == ',') { ps->p++; continue; }
        if (*ps->p == close) { ps->p++; return 0; }
        return -1;
    }
}

static int jvalue(jparser *ps, jval *v) {
    jskip(ps);
    if (++ps->depth > 64) return -1;
    int rc = 0;
    const char *p = ps->p;
    if (*p == '{' || *p == '[') {
        rc = jcontainer(ps, v, *p == '{');
    } else if (*p == '"') {
        v->type = J_STR;
        v->str = jstring(ps);
        rc = v->str ? 0 : -1;
    } else if (strncmp(p, "true", 4) == 0) {
        v->type = J_BOOL; v->boolean = 1; ps->p += 4;
    } else if (strncmp(p, "false", 5) == 0) {
        v->type = J_BOOL; v->boolean = 0; ps->p += 5;
    } else if (strncmp(p, "null", 4) == 0) {
        v->type = J_NULL; ps->p += 4;
    } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end = NULL;
        v->type = J_NUM;
        v->num = strtod(p, &end);
        if (end == p) return -1;
        size_t n = (size_t)(end - p);
        v->str = xmalloc(n + 1);
        memcpy(v->str, p, n);
        v->str[n] = '\0';
        ps->p = end;
    } else {
        rc = -1;
    }
    ps->depth--;
    return rc;
}

/* Parses `text`; NULL when it is not JSON. Free with jfree. */
static jval *jparse(const char *text) {
    if (!text) return NULL;
    jparser ps = { text, 0 };
    jval *v = xmalloc(sizeof *v);
    memset(v, 0, sizeof *v);
    if (jvalue(&ps, v) != 0) { jfree(v); return NULL; }
    jskip(&ps);
    if (*ps.p != '\0') { jfree(v); return NULL; }
    return v;
}

static const jval *jget(const jval *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* The string (or number literal) at `key`, or `dflt`. */
static const char *jstr(const jval *obj, const char *key, const char *dflt) {
    const jval *v = jget(obj, key);
    if (v && (v->type == J_STR || v->type == J_NUM)) return v->str;
    if (v && v->type == J_BOOL) return v->boolean ? "true" : "false";
    return dflt;
}

static int jbool(const jval *obj, const char *key, int dflt) {
    const jval *v = jget(obj, key);
    return v && v->type == J_BOOL ? v->boolean : dflt;
}

static double jnum(const jval *obj, const char *key, double dflt) {
    const jval *v = jget(obj, key);
    return v && v->type == J_NUM ? v->num : dflt;
}

/* Joins an array of strings with `sep` into a new string ("" for anything else). */
static char *jjoin(const jval *arr, const char *sep) {
    sbuf b = {0};
    sb_add(&b, "");
    if (arr && arr->type == J_ARR) {
        for (size_t i = 0; i < arr->count; i++) {
            if (i) sb_add(&b, sep);
            const jval *it = &arr->items[i];
            sb_add(&b, it->type == J_STR || it->type == J_NUM ? it->str : "?");
        }
    }
    return b.p;
}

/* ------------------------------------------------------------------ errors and logging */

/* Prints the library's last error (what, the provider's text, the hint) and returns 1. */
static int report_error(const char *what, om_status st) {
    const char *msg = om_last_error_message();
    const char *detail = om_last_error_detail();
    const char *hint = om_last_error_hint();
    /* The message may end with " — <hint>": the hint gets its own line. */
    size_t mlen = strlen(msg), hlen = strlen(hint);
    const char *dash = " \xe2\x80\x94 "; /* " — " */
    size_t dlen = strlen(dash);
    if (hlen && mlen >= hlen + dlen && strcmp(msg + mlen - hlen, hint) == 0 &&
        strncmp(msg + mlen - hlen - dlen, dash, dlen) == 0)
        mlen -= hlen + dlen;
    if (!mlen) { msg = om_status_description(st); mlen = strlen(msg); }
    fprintf(stderr, "error: %s%s%.*s [%s]\n", what ? what : "", what ? ": " : "", (int)mlen,
            msg, om_status_name(st));
    if (*detail && !strstr(msg, detail)) fprintf(stderr, "detail: %s\n", detail);
    if (*hint) fprintf(stderr, "hint: %s\n", hint);
    return EXIT_FAIL;
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("omcli: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'omcli --help'.\n", stderr);
    return EXIT_USAGE;
}

static void on_log(void *user_data, int32_t level, const char *message) {
    static const char *names[] = { "error", "warn", "info", "debug" };
    (void)user_data;
    const char *name = level >= 0 && level <= 3 ? names[level] : "log";
    fprintf(stderr, "[%s] %s\n", name, message); /* stdio locks: safe from library threads */
}

static void info(const char *fmt, ...) {
    if (g_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static void print_time(FILE *out, int64_t unix_secs) {
    time_t t = (time_t)unix_secs;
    struct tm tmv;
    char buf[64];
#ifdef _WIN32
    struct tm *tp = gmtime(&t);
    if (tp) tmv = *tp; else memset(&tmv, 0, sizeof tmv);
#else
    gmtime_r(&t, &tmv);
#endif
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tmv);
    fputs(buf, out);
}

/* ------------------------------------------------------------------ presenting mail */
/* Names, subjects and file names come from the messages: whoever sent them chose them. */

/* Appends `s` with what could drive a terminal replaced: tab and line ends by a space, other
 * control characters (C0, DEL, C1) and the bidirectional overrides/isolates (which can make
 * "fdp.exe" look like "exe.pdf") by '?'. Other UTF-8 is copied as it is. */
static void sb_add_clean(sbuf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == '\t' || *p == '\r' || *p == '\n') { sb_add(b, " "); p++; continue; }
        if (*p < 0x20 || *p == 0x7f) { sb_add(b, "?"); p++; continue; }
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { sb_add(b, "?"); p += 2; continue; }
        if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
                             (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
            sb_add(b, "?"); p += 3; continue;
        }
        sb_addn(b, (const char *)p, 1);
        p++;
    }
}

/* A cleaned copy of `s` (free it). */
static char *clean_dup(const char *s) {
    sbuf b = {0};
    sb_add(&b, "");
    sb_add_clean(&b, s ? s : "");
    return b.p;
}

/* "2026-02-01 09:30" (UTC) into buf. */
static void fmt_time(int64_t unix_secs, char *buf, size_t n) {
    time_t t = (time_t)unix_secs;
    struct tm tmv;
#ifdef _WIN32
    struct tm *tp = gmtime(&t);
    if (tp) tmv = *tp; else memset(&tmv, 0, sizeof tmv);
#else
    gmtime_r(&t, &tmv);
#endif
    if (unix_secs <= 0 || strftime(buf, n, "%Y-%m-%d %H:%M", &tmv) == 0) snprintf(buf, n, "%-16s", "(no date)");
}

/* "812 B", "1.2 KiB", "3.4 MiB" into buf. */
static void fmt_size(double bytes, char *buf, size_t n) {
    if (bytes < 1024) snprintf(buf, n, "%.0f B", bytes);
    else if (bytes < 1024.0 * 1024.0) snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
    else snprintf(buf, n, "%.1f MiB", bytes / (1024.0 * 1024.0));
}

/* The addresses of an om_message_parse address list ([{"name", "address"}]) as
 * "Name <address>, address", cleaned (free it). */
static char *addr_join(const jval *arr) {
    sbuf b = {0};
    sb_add(&b, "");
    if (!arr || arr->type != J_ARR) return b.p;
    for (size_t i = 0; i < arr->count; i++) {
        const jval *a = &arr->items[i];
        const char *name = jstr(a, "name", NULL), *addr = jstr(a, "address", NULL);
        if (b.len) sb_add(&b, ", ");
        if (name && *name) {
            sb_add_clean(&b, name);
            if (addr && *addr) { sb_add(&b, " <"); sb_add_clean(&b, addr); sb_add(&b, ">"); }
        } else {
            sb_add_clean(&b, addr && *addr ? addr : "?");
        }
    }
    return b.p;
}

/* The start of `text`: white space runs made one space, cleaned, at most about `max` bytes
 * cut at a character boundary, "…" when cut (free it). */
static char *excerpt(const char *text, size_t max) {
    sbuf flat = {0};
    sb_add(&flat, "");
    int space = 1; /* drops leading white space */
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            if (!space) sb_add(&flat, " ");
            space = 1;
        } else {
            sb_addn(&flat, p, 1);
            space = 0;
        }
    }
    while (flat.len && flat.p[flat.len - 1] == ' ') flat.p[--flat.len] = '\0';
    if (flat.len > max) {
        size_t cut = max;
        while (cut > 0 && ((unsigned char)flat.p[cut] & 0xc0) == 0x80) cut--; /* not mid-character */
        flat.p[cut] = '\0';
        flat.len = cut;
        sb_add(&flat, "\xe2\x80\xa6"); /* … */
    }
    char *r = clean_dup(flat.p);
    free(flat.p);
    return r;
}

/* ------------------------------------------------------------------ the account */

typedef struct {
    const char *config_path;
    om_account *acc;
    char *tokens_path; /* NULL when the configuration's token_file is used */
    char *state_path;  /* NULL when the configuration's state_file is used */
    char *email;       /* the account's address (effective configuration), or NULL */
    int no_user;       /* flow service_account or client_credentials: tokens without a user */
} session;

/* CONFIG.json -> CONFIG<suffix> (e.g. ".tokens.json"). */
static char *sibling_path(const char *config, const char *suffix) {
    size_t n = strlen(config);
    if (n > 5 && strcmp(config + n - 5, ".json") == 0) n -= 5;
    char *p = xmalloc(n + strlen(suffix) + 1);
    memcpy(p, config, n);
    strcpy(p + n, suffix);
    return p;
}

static void save_tokens(void *user_data, const char *tokens_json) {
    const char *path = user_data;
    if (write_file_atomic(path, tokens_json) != 0)
        fprintf(stderr, "warning: cannot write the tokens to %s: %s\n", path, strerror(errno));
    else if (g_verbose)
        fprintf(stderr, "tokens saved to %s\n", path);
}

static int open_session(session *s, const char *config_path) {
    memset(s, 0, sizeof *s);
    s->config_path = config_path;
    char *config = read_file(config_path, NULL);
    if (!config) {
        fprintf(stderr, "error: cannot read %s: %s\n", config_path, strerror(errno));
        return EXIT_FAIL;
    }
    om_status st = om_account_new(config, &s->acc);
    free(config);
    if (st != OM_STATUS_OK) return report_error(config_path, st);

    /* Does the configuration keep the tokens / state itself? (the effective configuration) */
    char *eff = NULL;
    jval *cfg = NULL;
    if (om_account_config_json(s->acc, &eff) == OM_STATUS_OK) cfg = jparse(eff);
    om_string_free(eff);
    const char *tf = jstr(cfg, "token_file", NULL);
    const char *sf = jstr(cfg, "state_file", NULL);
    if (!tf || !*tf) s->tokens_path = sibling_path(config_path, ".tokens.json");
    if (!sf || !*sf) s->state_path = sibling_path(config_path, ".state.json");
    const char *flow = jstr(cfg, "flow", "");
    s->no_user = !strcmp(flow, "service_account") || !strcmp(flow, "client_credentials");
    const char *email = jstr(cfg, "email", NULL);
    if (email && *email) {
        s->email = xmalloc(strlen(email) + 1);
        strcpy(s->email, email);
    }
    if (g_verbose) {
        fprintf(stderr, "tokens: %s\n", s->tokens_path ? s->tokens_path : tf);
        fprintf(stderr, "fetch state: %s\n", s->state_path ? s->state_path : sf);
    }
    jfree(cfg);

    if (s->tokens_path) {
        char *saved = read_file(s->tokens_path, NULL);
        if (saved) {
            st = om_tokens_import(s->acc, saved);
            free(saved);
            if (st != OM_STATUS_OK) {
                fprintf(stderr, "warning: the tokens in %s were not loaded\n", s->tokens_path);
                report_error("om_tokens_import", st);
            }
        }
        st = om_account_set_token_callback(s->acc, save_tokens, s->tokens_path, NULL);
        if (st != OM_STATUS_OK) return report_error("om_account_set_token_callback", st);
    }
    if (s->state_path) {
        char *saved = read_file(s->state_path, NULL);
        if (saved) {
            st = om_sync_state_import(s->acc, saved);
            free(saved);
            if (st != OM_STATUS_OK) return report_error(s->state_path, st);
        }
    }
    return EXIT_OK;
}

static void save_state(session *s) {
    if (!s->state_path) return;
    char *state = NULL;
    om_status st = om_sync_state_export(s->acc, &state);
    if (st != OM_STATUS_OK) { report_error("om_sync_state_export", st); return; }
    if (write_file_atomic(s->state_path, state) != 0)
        fprintf(stderr, "warning: cannot write the fetch state to %s: %s\n", s->state_path,
                strerror(errno));
    om_string_free(state);
}

static void close_session(session *s) {
    if (s->acc) {
        om_status st = om_account_free(s->acc);
        if (st != OM_STATUS_OK) report_error("om_account_free", st);
    }
    free(s->tokens_path);
    free(s->state_path);
    free(s->email);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ options */

typedef struct {
    int no_browser, device, paste, show, all;
    const char *folder, *dir, *subject, *text, *raw;
    const char *search, *cursor, *save_dir; /* list; list; parse */
    long max;
    long timeout; /* wait: seconds, 0 = until mail arrives */
    const char **to; size_t n_to;
    const char **attach; size_t n_attach;
} options;

/* ------------------------------------------------------------------ check */

static int cmd_check(session *s) {
    int failed = 0;
    char *json = NULL;
    om_status st = om_account_check(s->acc, &json);
    if (st != OM_STATUS_OK) return report_error("om_account_check", st);
    jval *findings = jparse(json);
    printf("Registration check:\n");
    if (!findings || findings->type != J_ARR) {
        printf("  %s\n", json);
    } else if (findings->count == 0) {
        printf("  no known mistake found\n");
    } else {
        for (size_t i = 0; i < findings->count; i++) {
            const jval *f = &findings->items[i];
            const char *sev = jstr(f, "severity", "?");
            if (strcmp(sev, "error") == 0) failed = 1;
            printf("  %-7s [%s] %s (%s)\n", sev, jstr(f, "who", "?"), jstr(f, "message", ""),
                   jstr(f, "id", "?"));
        }
    }
    jfree(findings);
    om_string_free(json);

    printf("Servers:\n");
    fflush(stdout);
    st = om_servers_check(s->acc, 0, &json);
    if (st != OM_STATUS_OK) return report_error("om_servers_check", st);
    jval *reports = jparse(json);
    if (!reports || reports->type != J_ARR) {
        printf("  %s\n", json);
        failed = 1;
    } else {
        if (reports->count == 0) { printf("  no server configured\n"); failed = 1; }
        for (size_t i = 0; i < reports->count; i++) {
            const jval *r = &reports->items[i];
            int authenticated = jbool(r, "authenticated", 0);
            if (!authenticated) failed = 1;
            char *mechs = jjoin(jget(r, "mechanisms"), " ");
            printf("  %s %s %s:%s — %s\n", jstr(r, "role", "?"), jstr(r, "protocol", "?"),
                   jstr(r, "host", "?"), jstr(r, "port", "?"),
                   authenticated ? "OK" : "FAILED");
            printf("    reachable:     %s\n", jbool(r, "reachable", 0) ? "yes" : "no");
            const jval *tls = jget(r, "tls");
            if (tls && tls->type == J_OBJ) {
                printf("    TLS:           %s %s\n", jstr(tls, "version", ""),
                       jstr(tls, "cipher", ""));
            } else if (tls && tls->type == J_BOOL) {
                printf("    TLS:           %s\n", tls->boolean ? "yes" : "no");
            } else {
                printf("    TLS:           %s\n", jstr(r, "tls", "?"));
            }
            const char *greeting = jstr(r, "greeting", NULL);
            if (greeting && *greeting) printf("    greeting:      %s\n", greeting);
            char *caps = jjoin(jget(r, "capabilities"), ", ");
            if (*caps) printf("    capabilities:  %s\n", caps);
            free(caps);
            printf("    mechanisms:    %s\n", *mechs ? mechs : "(none)");
            printf("    authenticated: %s\n", authenticated ? "yes" : "no");
            const char *problem = jstr(r, "problem", NULL);
            const char *hint = jstr(r, "hint", NULL);
            const char *status = jstr(r, "status", NULL);
            if (problem && *problem)
                printf("    problem:       %s%s%s%s\n", problem, status ? " [" : "",
                       status ? status : "", status ? "]" : "");
            if (hint && *hint) printf("    hint:          %s\n", hint);
            free(mechs);
        }
    }
    if (g_verbose) fprintf(stderr, "servers check: %s\n", json);
    jfree(reports);
    om_string_free(json);
    printf("%s\n", failed ? "check FAILED" : "check passed");
    return failed ? EXIT_FAIL : EXIT_OK;
}

/* ------------------------------------------------------------------ authorize */

static om_status wait_for_authorization(session *s) {
    om_status st;
    int ticks = 0, dots = 0;
    while ((st = om_authorize_wait(s->acc, 250)) == OM_STATUS_PENDING) {
        if (g_interrupted) {
            fprintf(stderr, "\ninterrupted: cancelling the authorization\n");
            om_authorize_cancel(s->acc);
            g_interrupted = 0;
            continue; /* the next wait returns OM_STATUS_CANCELLED */
        }
        if (++ticks % 12 == 0 && !g_quiet) { fputc('.', stderr); fflush(stderr); dots = 1; }
    }
    if (dots) fputc('\n', stderr);
    return st;
}

/* A service account (its key) or an app-only account (client credentials) gets its tokens
 * without a user: the library refuses an authorization with OM_STATUS_WRONG_STATE. Says what
 * to run instead when the library gave no hint of its own. */
static int authorize_refused(session *s, const char *what, om_status st) {
    int no_hint = !*om_last_error_hint();
    report_error(what, st);
    if (st == OM_STATUS_WRONG_STATE && s->no_user && no_hint)
        fprintf(stderr, "hint: nothing to authorize: this account gets its tokens without a user; "
                        "'omcli token %s' gets one now, and check, folders, fetch and send work "
                        "directly\n", s->config_path);
    return EXIT_FAIL;
}

static int cmd_authorize(session *s, const options *o) {
    om_status st;
    char *out = NULL;
    if (o->device) {
        st = om_device_start(s->acc, 0, &out);
        if (st != OM_STATUS_OK) return authorize_refused(s, "device authorization", st);
        jval *d = jparse(out);
        printf("On any device, open %s\n", jstr(d, "verification_uri", "?"));
        printf("and enter the code: %s\n", jstr(d, "user_code", "?"));
        const char *complete = jstr(d, "verification_uri_complete", NULL);
        if (complete) printf("(or open %s)\n", complete);
        printf("The code expires in %.0f s.\n", jnum(d, "expires_in", 0));
        jfree(d);
    } else {
        sbuf opt = {0};
        sb_add(&opt, "{");
        int first = 1;
        if (o->no_browser) { sb_add(&opt, "\"open_browser\": false"); first = 0; }
        if (o->paste) { sb_add(&opt, first ? "\"listen\": false" : ", \"listen\": false"); }
        sb_add(&opt, "}");
        st = om_authorize_start(s->acc, opt.p, &out);
        free(opt.p);
        if (st != OM_STATUS_OK) return authorize_refused(s, "authorization", st);
        jval *a = jparse(out);
        printf("Authorization URL:\n  %s\n", jstr(a, "authorization_url", out));
        if (jbool(a, "browser_opened", 0)) {
            printf("The browser was opened; sign in there.\n");
        } else {
            const char *berr = jstr(a, "browser_error", NULL);
            if (berr) printf("The browser could not be opened (%s).\n", berr);
            printf("Open this URL in a browser and sign in.\n");
        }
        if (jbool(a, "listening", 0))
            printf("Waiting for the redirect to %s (Ctrl-C cancels)\n",
                   jstr(a, "redirect_uri", "?"));
        jfree(a);
    }
    om_string_free(out);
    fflush(stdout);

    if (o->paste) {
        printf("Paste the URL the browser ended on (its address bar), then Enter:\n");
        fflush(stdout);
        char line[16384];
        if (!fgets(line, sizeof line, stdin)) {
            om_authorize_cancel(s->acc);
            fprintf(stderr, "error: no URL read from standard input\n");
            return EXIT_FAIL;
        }
        size_t n = strlen(line);
        while (n && isspace((unsigned char)line[n - 1])) line[--n] = '\0';
        char *url = line;
        while (isspace((unsigned char)*url)) url++;
        st = om_authorize_complete(s->acc, url, 0);
    } else {
        st = wait_for_authorization(s);
    }
    if (st != OM_STATUS_OK) return report_error("authorization", st);
    printf("Authorized: the tokens are kept in %s\n",
           s->tokens_path ? s->tokens_path : "the configuration's token_file");
    return EXIT_OK;
}

/* ------------------------------------------------------------------ token */

static int cmd_token(session *s, const options *o) {
    char *token = NULL;
    int64_t expires_at = 0;
    om_status st = om_get_access_token(s->acc, 0, &token, &expires_at);
    if (st != OM_STATUS_OK) return report_error("access token", st);
    size_t len = strlen(token);
    if (o->show) printf("access token: %s\n", token);
    else printf("access token: %.8s… (%zu characters; --show prints it whole)\n", token, len);
    if (!o->show) printf("length: %zu\n", len);
    printf("expires: ");
    print_time(stdout, expires_at);
    printf(" (in %lld s)\n", (long long)(expires_at - (int64_t)time(NULL)));
    /* wipe our copy before giving it back */
    memset(token, 0, len);
    om_string_free(token);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ folders */

/* The attributes, space-separated. oauthmail 0.1.0 gives some as Rust debug text
 * (`Extension("\\HasNoChildren")`): shown as the IMAP attribute (`\HasNoChildren`). */
static char *folder_attributes(const jval *arr) {
    sbuf b = {0};
    sb_add(&b, "");
    if (!arr || arr->type != J_ARR) return b.p;
    for (size_t i = 0; i < arr->count; i++) {
        const jval *it = &arr->items[i];
        if (it->type != J_STR) continue;
        const char *a = it->str;
        size_t n = strlen(a);
        if (b.len) sb_add(&b, " ");
        if (n > 13 && strncmp(a, "Extension(\"", 11) == 0 && strcmp(a + n - 2, "\")") == 0) {
            for (size_t k = 11; k < n - 2; k++) {
                if (a[k] == '\\' && a[k + 1] == '\\') k++;
                sb_addn(&b, a + k, 1);
            }
        } else {
            sb_add(&b, a);
        }
    }
    return b.p;
}

static int cmd_folders(session *s) {
    char *json = NULL;
    om_status st = om_folders_list(s->acc, 0, &json);
    if (st != OM_STATUS_OK) return report_error("folders", st);
    jval *list = jparse(json);
    if (!list || list->type != J_ARR) {
        printf("%s\n", json);
    } else {
        for (size_t i = 0; i < list->count; i++) {
            const jval *f = &list->items[i];
            char *attrs = folder_attributes(jget(f, "attributes"));
            printf("%s%s%s\n", jstr(f, "name", "?"), *attrs ? "  " : "", attrs);
            free(attrs);
        }
        info("%zu folder(s)\n", list->count);
    }
    jfree(list);
    om_string_free(json);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ fetch */

/* Copies the value of header `name` (first line, without folding) into out. */
static void header_value(const uint8_t *data, size_t len, const char *name, char *out,
                         size_t outsz) {
    size_t n = strlen(name);
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (i == 0 || data[i - 1] == '\n') {
            if (data[i] == '\n' || (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n'))
                return; /* end of the headers */
            if (i + n + 1 <= len && data[i + n] == ':') {
                size_t k = 0;
                while (k < n && tolower(data[i + k]) == tolower((unsigned char)name[k])) k++;
                if (k == n) {
                    size_t j = i + n + 1, o = 0;
                    while (j < len && (data[j] == ' ' || data[j] == '\t')) j++;
                    while (j < len && data[j] != '\r' && data[j] != '\n' && o + 1 < outsz)
                        out[o++] = (char)data[j++];
                    out[o] = '\0';
                    return;
                }
            }
        }
    }
}

typedef struct { unsigned long count; unsigned long long bytes; } fetch_progress;

static int32_t on_message(void *user_data, const om_message *m, const uint8_t *data, size_t len) {
    fetch_progress *p = user_data;
    if (g_interrupted) return OM_FETCH_STOP; /* this message is not accepted: it comes again */
    p->count++;
    p->bytes += len;
    if (!g_quiet) {
        char from[256], subject[256];
        header_value(data, len, "From", from, sizeof from);
        header_value(data, len, "Subject", subject, sizeof subject);
        if (m->uid == 0 && m->uidl && *m->uidl) /* Microsoft Graph: no UID, the message id */
            printf("%s id %.12s…  %zu bytes  %s%s— %s\n", m->folder, m->uidl, len, from,
                   *from ? " " : "", subject);
        else
            printf("%s uid %u  %zu bytes  %s%s— %s\n", m->folder, m->uid, len, from,
                   *from ? " " : "", subject);
        if (m->resync) printf("  (delivered again: the fetch state did not match the mailbox)\n");
        if (p->count % 100 == 0) {
            fprintf(stderr, "... %lu messages, %.1f MiB so far\n", p->count,
                    (double)p->bytes / (1024.0 * 1024.0));
        }
    }
    return OM_FETCH_CONTINUE;
}

static int cmd_fetch(session *s, const options *o) {
    sbuf opt = {0};
    sb_add(&opt, "{");
    int first = 1;
    if (o->folder) json_kv_str(&opt, &first, "folder", o->folder);
    if (o->all) { sb_add(&opt, first ? "" : ", "); sb_add(&opt, "\"only_new\": false"); first = 0; }
    if (o->max > 0) {
        char num[64];
        snprintf(num, sizeof num, "%s\"max_messages\": %ld", first ? "" : ", ", o->max);
        sb_add(&opt, num);
        first = 0;
    }
    sb_add(&opt, "}");

    char *summary = NULL;
    om_status st;
    fetch_progress progress = {0, 0};
    if (o->dir) {
        info("fetching into %s ...\n", o->dir);
        fflush(stdout);
        st = om_fetch_to_directory(s->acc, opt.p, o->dir, &summary);
    } else {
        st = om_fetch(s->acc, opt.p, on_message, &progress, &summary);
    }
    free(opt.p);
    if (st != OM_STATUS_OK) {
        /* report first: the next library call (the state export) clears the last error */
        report_error("fetch", st);
        if (progress.count) fprintf(stderr, "%lu message(s) fetched before the error\n",
                                    progress.count);
        save_state(s); /* what was accepted stays accepted, even after a failure */
        om_string_free(summary);
        return EXIT_FAIL;
    }
    save_state(s);
    jval *sum = jparse(summary);
    if (!sum) {
        printf("%s\n", summary);
    } else {
        const jval *files = jget(sum, "files");
        if (files && files->type == J_ARR && !g_quiet)
            for (size_t i = 0; i < files->count; i++)
                if (files->items[i].type == J_STR) printf("wrote %s\n", files->items[i].str);
        double delivered = jnum(sum, "delivered", (double)progress.count);
        printf("%s: %.0f new message(s)", jstr(sum, "folder", o->folder ? o->folder : "INBOX"),
               delivered);
        if (!o->dir) printf(" (%.1f KiB)", (double)progress.bytes / 1024.0);
        printf(", %.0f remaining", jnum(sum, "remaining", 0));
        if (jbool(sum, "stopped_by_callback", 0)) printf(", stopped (interrupted)");
        if (jbool(sum, "uidvalidity_changed", 0)) printf(", UIDVALIDITY changed");
        double rc = jnum(sum, "reconnects", 0);
        if (rc > 0) printf(", %.0f reconnect(s)", rc);
        printf("\n");
        if (delivered == 0 && !g_quiet) printf("nothing new\n");
    }
    if (g_verbose) fprintf(stderr, "summary: %s\n", summary);
    jfree(sum);
    om_string_free(summary);
    return g_interrupted ? EXIT_FAIL : EXIT_OK;
}

/* ------------------------------------------------------------------ list */

/* One page of a folder, newest first, read-only (nothing downloaded, nothing marked read). */
static int cmd_list(session *s, const options *o) {
    sbuf opt = {0};
    sb_add(&opt, "{");
    int first = 1;
    if (o->folder) json_kv_str(&opt, &first, "folder", o->folder);
    if (o->max > 0) {
        char num[64];
        snprintf(num, sizeof num, "%s\"limit\": %ld", first ? "" : ", ", o->max);
        sb_add(&opt, num);
        first = 0;
    }
    if (o->search) { /* checked in main: a JSON object */
        sb_add(&opt, first ? "\"search\": " : ", \"search\": ");
        sb_add(&opt, o->search);
        first = 0;
    }
    if (o->cursor) json_kv_str(&opt, &first, "cursor", o->cursor);
    sb_add(&opt, "}");
    if (g_verbose) fprintf(stderr, "list options: %s\n", opt.p);

    char *json = NULL;
    om_status st = om_messages_list(s->acc, opt.p, &json);
    free(opt.p);
    if (st != OM_STATUS_OK) return report_error("list", st);
    if (g_verbose) fprintf(stderr, "listing: %s\n", json);
    jval *page = jparse(json);
    const jval *msgs = jget(page, "messages");
    if (!msgs || msgs->type != J_ARR) {
        printf("%s\n", json);
        jfree(page);
        om_string_free(json);
        return EXIT_OK;
    }
    /* uid 12  2026-02-01 09:30   1.2 KiB 📎 Name <address> — Subject  [\Seen \Flagged] */
    for (size_t i = 0; i < msgs->count; i++) {
        const jval *m = &msgs->items[i];
        sbuf line = {0};
        sb_add(&line, "");
        double uid = jnum(m, "uid", 0);
        char buf[64];
        if (uid > 0) { /* IMAP: the UID; POP3: the message number (the id is the UIDL) */
            snprintf(buf, sizeof buf, "uid %.0f", uid);
            sb_add(&line, buf);
            const char *id = jstr(m, "id", "");
            if (*id && strcmp(id, buf + 4) != 0) { sb_add(&line, " id "); sb_add_clean(&line, id); }
        } else { /* Graph, Gmail: the message id, whole: what other tools take */
            sb_add(&line, "id ");
            sb_add_clean(&line, jstr(m, "id", "?"));
        }
        const jval *du = jget(m, "date_unix"); /* the Date header; else when the server got it */
        int64_t when = du && du->type == J_NUM ? (int64_t)du->num : (int64_t)jnum(m, "internal_date", 0);
        fmt_time(when, buf, sizeof buf);
        sb_add(&line, "  ");
        sb_add(&line, buf);
        fmt_size(jnum(m, "size", 0), buf, sizeof buf);
        char col[80];
        snprintf(col, sizeof col, "  %9s ", buf);
        sb_add(&line, col);
        sb_add(&line, jbool(m, "has_attachments", 0) ? "\xf0\x9f\x93\x8e " : "   "); /* 📎 */
        char *from = addr_join(jget(m, "from"));
        sb_add(&line, *from ? from : "(no sender)");
        free(from);
        sb_add(&line, " \xe2\x80\x94 "); /* — */
        const char *subject = jstr(m, "subject", NULL);
        sb_add_clean(&line, subject ? subject : "(no subject)");
        char *flags = jjoin(jget(m, "flags"), " ");
        if (*flags) { sb_add(&line, "  ["); sb_add_clean(&line, flags); sb_add(&line, "]"); }
        free(flags);
        printf("%s\n", line.p);
        free(line.p);
    }
    const char *folder = jstr(page, "folder", o->folder ? o->folder : "INBOX");
    const jval *total = jget(page, "total");
    printf("%s: %zu message(s) on this page", folder, msgs->count);
    if (total && total->type == J_NUM) printf(", %.0f in all", total->num);
    printf("\n");
    const char *next = jstr(page, "next_cursor", NULL);
    if (next && *next) printf("next cursor: %s\n", next);
    else info("last page\n");
    jfree(page);
    om_string_free(json);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ wait */

static int cmd_wait(session *s, const options *o) {
    sbuf opt = {0};
    sb_add(&opt, "{");
    int first = 1;
    if (o->folder) json_kv_str(&opt, &first, "folder", o->folder);
    sb_add(&opt, "}");
    const char *folder = o->folder ? o->folder : "INBOX";
    /* no --timeout: as long as the library waits in one call (2^32 - 1 ms, about 49 days) */
    uint32_t ms = o->timeout > 0 ? (uint32_t)((unsigned long long)o->timeout * 1000ULL) : UINT32_MAX;
    if (o->timeout > 0) info("waiting up to %ld s for new mail in %s ...\n", o->timeout, folder);
    else info("waiting for new mail in %s (Ctrl-C stops) ...\n", folder);
    fflush(stdout);
    /* The wait blocks inside the library and keeps nothing to save (tokens are written when
     * they change, atomically): Ctrl-C ends omcli at once, as it does any command-line tool. */
    signal(SIGINT, SIG_DFL);
    time_t t0 = time(NULL);
    char *json = NULL;
    om_status st = om_wait_for_mail(s->acc, opt.p, ms, &json);
    signal(SIGINT, on_sigint);
    free(opt.p);
    if (st != OM_STATUS_OK) return report_error("wait", st);
    if (g_verbose) fprintf(stderr, "wait: %s\n", json);
    jval *w = jparse(json);
    long waited = (long)(time(NULL) - t0);
    const char *method = jstr(w, "method", "?");
    if (jbool(w, "new_mail", 0))
        printf("new mail in %s (after %ld s, %s)\n", jstr(w, "folder", folder), waited, method);
    else
        printf("no new mail in %s (waited %ld s, %s)\n", jstr(w, "folder", folder), waited, method);
    double rc = jnum(w, "reconnects", 0);
    if (rc > 0) info("%.0f reconnect(s) during the wait\n", rc);
    jfree(w);
    om_string_free(json);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ send */

static int cmd_send(session *s, const options *o) {
    char *result = NULL;
    om_status st;
    if (o->raw) {
        size_t len = 0;
        char *data = read_file(o->raw, &len);
        if (!data) {
            fprintf(stderr, "error: cannot read %s: %s\n", o->raw, strerror(errno));
            return EXIT_FAIL;
        }
        sbuf opt = {0};
        sb_add(&opt, "{");
        if (o->n_to) {
            /* oauthmail 0.1.0 sends MAIL FROM:<> when only "recipients" is given: give the
             * account's address as the envelope sender too. */
            if (s->email) { int f = 1; json_kv_str(&opt, &f, "envelope_from", s->email); sb_add(&opt, ", "); }
            sb_add(&opt, "\"recipients\": [");
            for (size_t i = 0; i < o->n_to; i++) {
                if (i) sb_add(&opt, ", ");
                json_escape(&opt, o->to[i]);
            }
            sb_add(&opt, "]");
        }
        sb_add(&opt, "}");
        st = om_send_raw(s->acc, (const uint8_t *)data, len, opt.p, &result);
        free(data);
        free(opt.p);
    } else {
        sbuf msg = {0};
        sb_add(&msg, "{\"to\": [");
        for (size_t i = 0; i < o->n_to; i++) {
            if (i) sb_add(&msg, ", ");
            json_escape(&msg, o->to[i]);
        }
        sb_add(&msg, "]");
        int first = 0;
        json_kv_str(&msg, &first, "subject", o->subject);
        json_kv_str(&msg, &first, "text", o->text ? o->text : "");
        if (o->n_attach) {
            sb_add(&msg, ", \"attachments\": [");
            for (size_t i = 0; i < o->n_attach; i++) {
                const char *path = o->attach[i];
                const char *base = path;
                for (const char *p = path; *p; p++)
                    if (*p == '/' || *p == '\\') base = p + 1;
                sb_add(&msg, i ? ", {" : "{");
                int f = 1;
                json_kv_str(&msg, &f, "filename", base);
                json_kv_str(&msg, &f, "path", path);
                sb_add(&msg, "}");
            }
            sb_add(&msg, "]");
        }
        sb_add(&msg, "}");
        if (g_verbose) fprintf(stderr, "message: %s\n", msg.p);
        st = om_send(s->acc, msg.p, NULL, &result);
        free(msg.p);
    }
    if (st != OM_STATUS_OK) return report_error("send", st);
    jval *r = jparse(result);
    if (!r) {
        printf("sent: %s\n", result);
    } else {
        char *rcpts = jjoin(jget(r, "recipients"), ", ");
        const char *mid = jstr(r, "message_id", "");
        printf("sent%s%s\n", *mid ? " " : "", mid);
        printf("  from: %s\n  to:   %s\n", jstr(r, "mail_from", "?"), rcpts);
        const char *code = jstr(r, "reply_code", "?"), *text = jstr(r, "reply_text", "");
        if (strncmp(text, code, strlen(code)) == 0) printf("  server: %s\n", text);
        else printf("  server: %s %s\n", code, text);
        const char *saved = jstr(r, "saved_to", NULL);
        const char *serr = jstr(r, "save_error", NULL);
        if (saved) printf("  saved to: %s\n", saved);
        if (serr) printf("  not saved to Sent: %s\n", serr);
        free(rcpts);
    }
    jfree(r);
    om_string_free(result);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ parse */

/* A message file read and shown: no account, no network (om_message_parse). */
static int cmd_parse(const char *path, const options *o) {
    size_t len = 0;
    char *data = read_file(path, &len);
    if (!data) {
        fprintf(stderr, "error: cannot read %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    char *json = NULL;
    om_status st = om_message_parse((const uint8_t *)data, len, NULL, &json);
    if (st != OM_STATUS_OK) { free(data); return report_error("parse", st); }
    if (g_verbose) fprintf(stderr, "parsed: %s\n", json);
    jval *m = jparse(json);
    if (!m) {
        printf("%s\n", json);
    } else {
        static const char *const lists[][2] = {
            {"from", "From:"}, {"sender", "Sender:"}, {"reply_to", "Reply-To:"},
            {"to", "To:"}, {"cc", "Cc:"}, {"bcc", "Bcc:"},
        };
        for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
            char *a = addr_join(jget(m, lists[i][0]));
            if (*a || i == 0 || i == 3) printf("%-12s %s\n", lists[i][1], *a ? a : "(none)");
            free(a);
        }
        char *subject = clean_dup(jstr(m, "subject", "(no subject)"));
        printf("%-12s %s\n", "Subject:", subject);
        free(subject);
        const jval *du = jget(m, "date_unix");
        if (du && du->type == J_NUM) {
            char when[64];
            fmt_time((int64_t)du->num, when, sizeof when);
            char *date = clean_dup(jstr(m, "date", ""));
            printf("%-12s %s UTC (%s)\n", "Date:", when, date);
            free(date);
        } else {
            printf("%-12s (none)\n", "Date:");
        }
        const char *mid = jstr(m, "message_id", NULL);
        if (mid) { char *c = clean_dup(mid); printf("%-12s %s\n", "Message-ID:", c); free(c); }
        if (jbool(m, "signed", 0) || jbool(m, "encrypted", 0))
            printf("%-12s %s%s%s (%s)\n", "Security:", jbool(m, "signed", 0) ? "signed" : "",
                   jbool(m, "signed", 0) && jbool(m, "encrypted", 0) ? ", " : "",
                   jbool(m, "encrypted", 0) ? "encrypted" : "", jstr(m, "security", "?"));
        if (jbool(m, "unreadable", 0)) printf("%-12s %s\n", "Note:", "not readable as mail (shown what could be read)");
        const char *text = jstr(m, "text", NULL);
        char *ex = excerpt(text, 240);
        printf("%-12s %s%s\n", "Text:", *ex ? ex : "(none)",
               jbool(m, "text_from_html", 0) ? "  (from the HTML part)" : "");
        free(ex);
        const jval *atts = jget(m, "attachments");
        size_t n = atts && atts->type == J_ARR ? atts->count : 0;
        printf("%-12s %zu\n", "Attachments:", n);
        for (size_t i = 0; i < n; i++) {
            const jval *a = &atts->items[i];
            char size[32];
            fmt_size(jnum(a, "size", 0), size, sizeof size);
            const char *name = jstr(a, "file_name", NULL);
            char *cname = clean_dup(name ? name : "(no name)");
            char *ctype = clean_dup(jstr(a, "content_type", "?"));
            const char *disp = jstr(a, "disposition", NULL);
            printf("  [%s] %s  (%s, %s%s%s%s)\n", jstr(a, "index", "?"), cname, ctype, size,
                   disp && strcmp(disp, "inline") == 0 ? ", inline" : "",
                   jbool(a, "is_message", 0) ? ", a message attached whole" : "",
                   jbool(a, "is_tnef", 0) ? ", winmail.dat: not unpacked" : "");
            free(cname);
            free(ctype);
        }
    }
    jfree(m);
    om_string_free(json);

    int rc = EXIT_OK;
    if (o->save_dir) {
        char *saved = NULL;
        st = om_message_save_attachments((const uint8_t *)data, len, o->save_dir, NULL, &saved);
        if (st != OM_STATUS_OK) {
            rc = report_error("save attachments", st);
        } else {
            jval *list = jparse(saved);
            size_t count = list && list->type == J_ARR ? list->count : 0;
            for (size_t i = 0; i < count; i++) {
                char *p = clean_dup(jstr(&list->items[i], "path", "?"));
                printf("saved [%s] %s\n", jstr(&list->items[i], "index", "?"), p);
                free(p);
            }
            printf("%zu attachment(s) saved into %s\n", count, o->save_dir);
            jfree(list);
        }
        om_string_free(saved);
    }
    free(data);
    return rc;
}

/* ------------------------------------------------------------------ main */

static void print_usage(FILE *out) {
    fputs(
        "usage: omcli [--quiet] [--verbose] COMMAND CONFIG.json [options]\n"
        "       omcli [--quiet] [--verbose] parse FILE.eml [--save-attachments DIR]\n"
        "\n"
        "  check     CONFIG.json     registration findings, then connect and log in to each server\n"
        "  authorize CONFIG.json [--no-browser] [--device] [--paste]\n"
        "                            authorize in the browser (or with a device code, or by\n"
        "                            pasting the final redirect URL); not for a service\n"
        "                            account or client_credentials: they need none\n"
        "  token     CONFIG.json [--show]\n"
        "                            a valid access token: prefix, length, expiry\n"
        "  folders   CONFIG.json     the IMAP folders\n"
        "  fetch     CONFIG.json [--folder F] [--max N] [--dir D] [--all]\n"
        "                            the new mail (--all: also what was fetched before;\n"
        "                            --dir: write .eml files into D)\n"
        "  list      CONFIG.json [--folder F] [--max N] [--search JSON] [--cursor C]\n"
        "                            one page of a folder, newest first, without downloading\n"
        "                            or marking anything: uid (or id), date, size, a paperclip\n"
        "                            for attachments, from \xe2\x80\x94 subject, [flags]; then the\n"
        "                            next cursor (pass it to --cursor for the next page).\n"
        "                            --max: messages per page (1-1000, default 100);\n"
        "                            --search: a JSON object, every key must match, e.g.\n"
        "                            '{\"subject\": \"Devis\", \"unseen\": true}' (keys: unseen,\n"
        "                            flagged, answered, since, before, from, to, subject, text,\n"
        "                            larger, smaller, keyword)\n"
        "  wait      CONFIG.json [--folder F] [--timeout SECS]\n"
        "                            wait for new mail (IMAP IDLE, else polling) and say\n"
        "                            whether some arrived; exit 0 either way. Without\n"
        "                            --timeout: until mail arrives (Ctrl-C stops)\n"
        "  send      CONFIG.json --to ADDR --subject S [--text T] [--attach FILE]...\n"
        "  send      CONFIG.json --raw FILE.eml [--to ADDR]...\n"
        "  parse     FILE.eml [--save-attachments DIR]\n"
        "                            no CONFIG, no network: the message's addresses, subject,\n"
        "                            date, the start of its text and its attachments;\n"
        "                            --save-attachments writes them into DIR (which must\n"
        "                            exist) under safe names, never outside DIR, never\n"
        "                            replacing a file\n"
        "\n"
        "Tokens are kept in CONFIG.tokens.json and the fetch state in CONFIG.state.json,\n"
        "unless the configuration sets token_file / state_file.\n"
        "--quiet prints less; --verbose adds the library's debug log on stderr.\n"
        "Exit status: 0 ok, 1 failure, 2 usage error ('wait': 0 with or without new mail).\n",
        out);
}

static int parse_long(const char *s, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || end == s || *end || v <= 0) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *command = NULL, *config = NULL;
    options o;
    memset(&o, 0, sizeof o);
    o.to = xmalloc(sizeof(char *) * (size_t)argc);
    o.attach = xmalloc(sizeof(char *) * (size_t)argc);
    int rc = EXIT_OK;

#define NEED_ARG()                                                                   \
    do {                                                                             \
        if (i + 1 >= argc) { rc = usage_error("%s needs a value", a); goto done; }  \
    } while (0)

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { print_usage(stdout); goto done; }
        else if (strcmp(a, "--version") == 0) {
            printf("omcli with oauthmail %s (header %s)\n", om_version(), OM_VERSION_STRING);
            goto done;
        }
        else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) g_quiet = 1;
        else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) g_verbose = 1;
        else if (strcmp(a, "--no-browser") == 0) o.no_browser = 1;
        else if (strcmp(a, "--device") == 0) o.device = 1;
        else if (strcmp(a, "--paste") == 0) o.paste = 1;
        else if (strcmp(a, "--show") == 0) o.show = 1;
        else if (strcmp(a, "--all") == 0) o.all = 1;
        else if (strcmp(a, "--folder") == 0) { NEED_ARG(); o.folder = argv[++i]; }
        else if (strcmp(a, "--dir") == 0) { NEED_ARG(); o.dir = argv[++i]; }
        else if (strcmp(a, "--subject") == 0) { NEED_ARG(); o.subject = argv[++i]; }
        else if (strcmp(a, "--text") == 0) { NEED_ARG(); o.text = argv[++i]; }
        else if (strcmp(a, "--raw") == 0) { NEED_ARG(); o.raw = argv[++i]; }
        else if (strcmp(a, "--to") == 0) { NEED_ARG(); o.to[o.n_to++] = argv[++i]; }
        else if (strcmp(a, "--attach") == 0) { NEED_ARG(); o.attach[o.n_attach++] = argv[++i]; }
        else if (strcmp(a, "--search") == 0) { NEED_ARG(); o.search = argv[++i]; }
        else if (strcmp(a, "--cursor") == 0) { NEED_ARG(); o.cursor = argv[++i]; }
        else if (strcmp(a, "--save-attachments") == 0) { NEED_ARG(); o.save_dir = argv[++i]; }
        else if (strcmp(a, "--timeout") == 0) {
            NEED_ARG();
            if (parse_long(argv[++i], &o.timeout) != 0 || o.timeout > 4294967L) {
                rc = usage_error("--timeout needs a number of seconds (1-4294967), not '%s'", argv[i]);
                goto done;
            }
        }
        else if (strcmp(a, "--max") == 0) {
            NEED_ARG();
            if (parse_long(argv[++i], &o.max) != 0) {
                rc = usage_error("--max needs a positive number, not '%s'", argv[i]);
                goto done;
            }
        }
        else if (a[0] == '-' && a[1] != '\0') { rc = usage_error("unknown option %s", a); goto done; }
        else if (!command) command = a;
        else if (!config) config = a;
        else { rc = usage_error("unexpected argument '%s'", a); goto done; }
    }
#undef NEED_ARG

    if (!command) { print_usage(stderr); rc = EXIT_USAGE; goto done; }
    static const char *const commands[] = { "check", "authorize", "token", "folders", "fetch",
                                            "list", "wait", "send", "parse" };
    int known = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(command, commands[k]) == 0) known = 1;
    if (!known) { rc = usage_error("unknown command '%s'", command); goto done; }
    int is_parse = !strcmp(command, "parse");
    if (!config) {
        rc = is_parse ? usage_error("parse needs a FILE.eml")
                      : usage_error("%s needs a CONFIG.json", command);
        goto done;
    }
    /* options that do not belong to the command are usage errors, not silently ignored */
    int is_auth = !strcmp(command, "authorize"), is_fetch = !strcmp(command, "fetch"),
        is_send = !strcmp(command, "send"), is_token = !strcmp(command, "token"),
        is_list = !strcmp(command, "list"), is_wait = !strcmp(command, "wait");
    if (!is_auth && (o.no_browser || o.device || o.paste)) {
        rc = usage_error("--no-browser, --device and --paste belong to 'authorize'"); goto done;
    }
    if (o.device && o.paste) { rc = usage_error("--device and --paste exclude each other"); goto done; }
    if (!is_token && o.show) { rc = usage_error("--show belongs to 'token'"); goto done; }
    if (!is_fetch && (o.dir || o.all)) {
        rc = usage_error("--dir and --all belong to 'fetch'"); goto done;
    }
    if (!is_fetch && !is_list && !is_wait && o.folder) {
        rc = usage_error("--folder belongs to 'fetch', 'list' and 'wait'"); goto done;
    }
    if (!is_fetch && !is_list && o.max) {
        rc = usage_error("--max belongs to 'fetch' and 'list'"); goto done;
    }
    if (!is_list && (o.search || o.cursor)) {
        rc = usage_error("--search and --cursor belong to 'list'"); goto done;
    }
    if (!is_wait && o.timeout) { rc = usage_error("--timeout belongs to 'wait'"); goto done; }
    if (!is_parse && o.save_dir) {
        rc = usage_error("--save-attachments belongs to 'parse'"); goto done;
    }
    if (is_list && o.max > 1000) {
        rc = usage_error("list --max is a page: at most 1000 (follow the next cursor for more)");
        goto done;
    }
    if (is_list && o.search) {
        jval *sv = jparse(o.search);
        int is_obj = sv && sv->type == J_OBJ;
        jfree(sv);
        if (!is_obj) {
            rc = usage_error("--search needs a JSON object, e.g. '{\"subject\": \"Devis\"}', not '%s'",
                             o.search);
            goto done;
        }
    }
    if (!is_send && (o.n_to || o.subject || o.text || o.raw || o.n_attach)) {
        rc = usage_error("--to, --subject, --text, --attach and --raw belong to 'send'"); goto done;
    }
    if (is_send) {
        if (o.raw && (o.subject || o.text || o.n_attach)) {
            rc = usage_error("--raw sends the file as it is: no --subject, --text or --attach");
            goto done;
        }
        if (!o.raw && (!o.n_to || !o.subject)) {
            rc = usage_error("send needs --to ADDR and --subject S (or --raw FILE.eml)");
            goto done;
        }
    }

    if (g_verbose) {
        om_status st = om_log_set_callback(on_log, OM_LOG_DEBUG, NULL, NULL);
        if (st != OM_STATUS_OK) report_error("om_log_set_callback", st);
    }
    if (is_parse) { /* no account, no network: no om_init() */
        rc = cmd_parse(config, &o);
        if (g_verbose) om_log_set_callback(NULL, OM_LOG_ERROR, NULL, NULL);
        goto done;
    }
    om_status st = om_init();
    if (st != OM_STATUS_OK) { rc = report_error("om_init", st); goto done; }
    signal(SIGINT, on_sigint);

    session s;
    rc = open_session(&s, config);
    if (rc == EXIT_OK) {
        if (!strcmp(command, "check")) rc = cmd_check(&s);
        else if (is_auth) rc = cmd_authorize(&s, &o);
        else if (is_token) rc = cmd_token(&s, &o);
        else if (!strcmp(command, "folders")) rc = cmd_folders(&s);
        else if (is_fetch) rc = cmd_fetch(&s, &o);
        else if (is_list) rc = cmd_list(&s, &o);
        else if (is_wait) rc = cmd_wait(&s, &o);
        else rc = cmd_send(&s, &o);
    }
    close_session(&s);
    om_shutdown();
    if (g_verbose) om_log_set_callback(NULL, OM_LOG_ERROR, NULL, NULL);

done:
    free(o.to);
    free(o.attach);
    return rc;
}
