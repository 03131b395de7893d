/*
 * shared_tokens.c — one mailbox used by several processes or workstations, its tokens kept in
 * the host's own "database" (om_account_set_token_store).
 *
 * Why: providers rotate refresh tokens (each refresh returns a new one, the old one dies). Two
 * processes refreshing with the same refresh token make the provider believe it was stolen, and
 * it revokes the whole grant: the user must authorize again. So every refresh must happen under
 * a lock shared by all the processes, after re-reading the stored tokens — which the library
 * does when the host gives it two callbacks:
 *
 *   lock(user_data, timeout_ms, &out_json)  take the lock (waiting at most timeout_ms) and give
 *                                           the stored token set, or NULL when none is stored;
 *                                           the string must stay valid until unlock
 *   unlock(user_data, json_or_NULL)         save the new set when not NULL, release the lock
 *
 * Here the "database" is a JSON file and its "row lock" a lock file next to it, locked with
 * flock() on POSIX and LockFileEx() on Windows (both work across processes, and the system
 * releases them if the holder dies). A real host would use its database: BEGIN; SELECT
 * tokens_json FROM mailbox_tokens WHERE id = ? FOR UPDATE; ... UPDATE ...; COMMIT.
 *
 * (When a file that every workstation reaches is enough, set "token_file" in the configuration
 * instead: the library then does all of this itself.)
 *
 *   ./shared_tokens account.json tokens-db.json
 *
 * Gets an access token — refreshing it under the lock only when needed, or authorizing in the
 * browser when the database holds no tokens yet — and prints the version of the token set the
 * database holds. Run it from two terminals at once: one refresh only.
 */
#if !defined(_WIN32) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* flock() and nanosleep() under -std=c99 / -std=c11 (glibc) */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#endif
#include "oauthmail.h"

/* ------------------------------------------------------------------ small file helpers */

/* The whole file as a NUL-terminated string (free it), or NULL with errno set. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) break;
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) { free(buf); buf = NULL; break; }
            buf = bigger;
            cap *= 2;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) { free(buf); errno = EIO; return NULL; }
    buf[len] = '\0';
    return buf;
}

/* Replaces the file's content atomically (a temporary file, then a rename): a crash leaves the
 * old set or the new one, never half of one. 1 on success. */
static int replace_file(const char *path, const char *text) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) return 0;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) ok = fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
#ifdef _WIN32
    if (ok) ok = MoveFileExA(tmp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) != 0;
#else
    if (ok) ok = rename(tmp, path) == 0;
#endif
    if (!ok) remove(tmp);
    free(tmp);
    return ok;
}

static char *concat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

/* ------------------------------------------------------------------ the host's "database" */

typedef struct token_db {
    char *json_path;     /* the stored token set (the "row") */
    char *lock_path;     /* json_path + ".lock" (the "row lock") */
#ifdef _WIN32
    HANDLE lock;         /* INVALID_HANDLE_VALUE when not held */
#else
    int lock_fd;         /* -1 when not held */
#endif
    char *held;          /* the stored set handed to the library: valid until db_unlock */
    unsigned locks;      /* for this example's report */
    unsigned saves;
} token_db;

static token_db *db_open(const char *json_path) {
    token_db *db = calloc(1, sizeof *db);
    if (!db) return NULL;
    db->json_path = concat(json_path, "");
    db->lock_path = concat(json_path, ".lock");
#ifdef _WIN32
    db->lock = INVALID_HANDLE_VALUE;
#else
    db->lock_fd = -1;
#endif
    if (!db->json_path || !db->lock_path) {
        free(db->json_path);
        free(db->lock_path);
        free(db);
        return NULL;
    }
    return db;
}

static void sleep_ms(unsigned ms) {
#ifdef _WIN32
    Sleep(ms);
#else
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
#endif
}

/* Takes the lock file, waiting at most timeout_ms: OM_TOKEN_STORE_OK, _BUSY or _FAILED. */
static int32_t lock_file(token_db *db, uint32_t timeout_ms) {
    uint32_t waited = 0;
#ifdef _WIN32
    HANDLE h = CreateFileA(db->lock_path, GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return OM_TOKEN_STORE_FAILED;
    for (;;) {
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        /* one byte, exclusive; works on SMB shares; released by Windows if the process dies */
        if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) break;
        if (GetLastError() != ERROR_LOCK_VIOLATION || waited >= timeout_ms) {
            DWORD err = GetLastError();
            CloseHandle(h);
            return err == ERROR_LOCK_VIOLATION ? OM_TOKEN_STORE_BUSY : OM_TOKEN_STORE_FAILED;
        }
        sleep_ms(10);
        waited += 10;
    }
    db->lock = h;
#else
    /* flock(), not fcntl(): an fcntl lock belongs to the whole process (two accounts of one
     * process would both "hold" it) and any close() of the file drops it; a flock lock belongs
     * to this open file, so it also excludes other handles of the same process. */
    int fd = open(db->lock_path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) return OM_TOKEN_STORE_FAILED;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err != EWOULDBLOCK && err != EINTR) { close(fd); return OM_TOKEN_STORE_FAILED; }
        if (waited >= timeout_ms) { close(fd); return OM_TOKEN_STORE_BUSY; }
        sleep_ms(10);
        waited += 10;
    }
    db->lock_fd = fd;
#endif
    return OM_TOKEN_STORE_OK;
}

static void unlock_file(token_db *db) {
#ifdef _WIN32
    if (db->lock != INVALID_HANDLE_VALUE) {
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        UnlockFileEx(db->lock, 0, 1, 0, &ov);
        CloseHandle(db->lock);
        db->lock = INVALID_HANDLE_VALUE;
    }
#else
    if (db->lock_fd >= 0) {
        close(db->lock_fd); /* closing releases the flock */
        db->lock_fd = -1;
    }
#endif
}

/* om_tokens_lock_cb: runs on the thread of the oauthmail call that needs it, inside it (here:
 * main, inside om_get_access_token), before every refresh. */
static int32_t db_lock(void *user_data, uint32_t timeout_ms, const char **out_tokens_json) {
    token_db *db = user_data;
    int32_t rc = lock_file(db, timeout_ms);
    if (rc != OM_TOKEN_STORE_OK) return rc; /* BUSY -> OM_STATUS_TOKENS_LOCKED; unlock not called */
    db->locks++;
    db->held = read_file(db->json_path);
    if (!db->held && errno != ENOENT) {
        unlock_file(db); /* FAILED: the library will not call db_unlock, release here */
        return OM_TOKEN_STORE_FAILED;
    }
    *out_tokens_json = db->held; /* NULL: nothing stored yet */
    return OM_TOKEN_STORE_OK;
}

/* om_tokens_unlock_cb: saves the newer set (when not NULL), then releases the lock — always. */
static int32_t db_unlock(void *user_data, const char *tokens_json) {
    token_db *db = user_data;
    int32_t rc = OM_TOKEN_STORE_OK;
    if (tokens_json) {
        if (replace_file(db->json_path, tokens_json)) db->saves++;
        else rc = OM_TOKEN_STORE_FAILED; /* the call then fails with OM_STATUS_IO_ERROR */
    }
    free(db->held); /* the library no longer reads it */
    db->held = NULL;
    unlock_file(db);
    return rc;
}

/* om_free_cb: the account is done with the store (replaced, removed, or the account freed). */
static void db_free(void *user_data) {
    token_db *db = user_data;
    unlock_file(db);
    free(db->held);
    free(db->json_path);
    free(db->lock_path);
    free(db);
}

/* ------------------------------------------------------------------ main */

static int fail(const char *what, om_status st) {
    fprintf(stderr, "%s failed: %s [%s]\n", what, om_last_error_message(), om_status_name(st));
    if (st == OM_STATUS_TOKENS_LOCKED)
        fprintf(stderr, "another process is refreshing these tokens: try again in a moment\n");
    return 1;
}

/* The "version" of a token set JSON, or -1. */
static long long version_of(const char *json) {
    const char *p = json ? strstr(json, "\"version\"") : NULL;
    if (!p) return -1;
    p = strchr(p, ':');
    return p ? strtoll(p + 1, NULL, 10) : -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s account.json tokens-db.json\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *config = read_file(argv[1]);
    if (!config) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }

    om_status st = om_init();
    if (st != OM_STATUS_OK) { free(config); return fail("om_init", st); }
    om_account *acc = NULL;
    st = om_account_new(config, &acc);
    free(config);
    if (st != OM_STATUS_OK) { om_shutdown(); return fail("om_account_new", st); }

    token_db *db = db_open(argv[2]);
    if (!db) {
        fputs("out of memory\n", stderr);
        om_account_free(acc);
        om_shutdown();
        return 1;
    }
    /* From here the account owns `db`: db_free runs when the account is freed. No token
     * callback saves the tokens: a save outside the lock could overwrite a newer set. */
    st = om_account_set_token_store(acc, db_lock, db_unlock, db, db_free);
    if (st != OM_STATUS_OK) {
        int rc = fail("om_account_set_token_store", st);
        db_free(db); /* refused: the library did not take it */
        om_account_free(acc);
        om_shutdown();
        return rc;
    }

    /* No om_tokens_import: the first call that needs the tokens reads them from the store. */
    char *token = NULL;
    int64_t expires_at = 0;
    st = om_get_access_token(acc, 0, &token, &expires_at);
    if (st == OM_STATUS_AUTHORIZATION_REQUIRED) {
        /* Nothing stored yet (or the grant was revoked): authorize in the browser. The tokens
         * obtained are saved to the store, under its lock, before om_authorize_wait returns. */
        char *info = NULL;
        st = om_authorize_start(acc, NULL, &info);
        if (st == OM_STATUS_OK) {
            printf("authorize in the browser: %s\n", info);
            om_string_free(info);
            while ((st = om_authorize_wait(acc, 250)) == OM_STATUS_PENDING) { }
        }
        if (st == OM_STATUS_OK) {
            printf("authorized; the tokens are saved in the database\n");
            st = om_get_access_token(acc, 0, &token, &expires_at);
        }
    }
    int rc = 0;
    if (st == OM_STATUS_OK) {
        printf("access token: %.8s... (%zu characters), expires at %lld\n", token, strlen(token),
               (long long)expires_at);
        printf("store: %u lock(s), %u save(s): %s\n", db->locks, db->saves,
               db->saves ? "new tokens saved, under the lock"
                         : "no refresh needed: the stored token was fresh");
        om_string_free(token);
    } else {
        rc = fail("om_get_access_token", st);
    }
    om_account_free(acc); /* calls db_free */
    om_shutdown();

    char *stored = read_file(argv[2]);
    printf("stored version: %lld\n", version_of(stored));
    free(stored);
    return rc;
}
