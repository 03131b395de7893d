/*
 * quickstart.c — the smallest complete use of oauthmail from C:
 * configure an account, authorize in the browser, get an access token, keep the tokens.
 *
 *   cc -I include examples-c/quickstart.c -L target/debug -loauthmail -o quickstart
 *   ./quickstart account.json [tokens.json]
 *
 * account.json holds the account configuration (see README, "Configuration").
 * tokens.json (optional) is where the token set is kept between runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oauthmail.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) buf[n] = '\0';
    else { free(buf); buf = NULL; }
    fclose(f);
    return buf;
}

/* Called on this thread, inside an oauthmail call, whenever the tokens change. */
static void save_tokens(void *user_data, const char *tokens_json) {
    const char *path = user_data;
    FILE *f = path ? fopen(path, "wb") : NULL;
    if (f) { fputs(tokens_json, f); fclose(f); }
    printf("tokens changed; saved%s%s\n", path ? " to " : "", path ? path : " nowhere");
}

static int fail(const char *what, om_status st) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, om_last_error_message(), om_status_name(st));
    if (*om_last_error_hint()) fprintf(stderr, "hint: %s\n", om_last_error_hint());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s account.json [tokens.json]\n", argv[0]); return 2; }
    char *config = read_file(argv[1]);
    if (!config) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    const char *token_path = argc > 2 ? argv[2] : NULL;

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("oauthmail %s\n", om_version());
    om_status st = om_init();
    if (st != OM_STATUS_OK) return fail("om_init", st);

    om_account *account = NULL;
    st = om_account_new(config, &account);
    free(config);
    if (st != OM_STATUS_OK) return fail("om_account_new", st);
    om_account_set_token_callback(account, save_tokens, (void *)token_path, NULL);

    /* Tokens kept from an earlier run? */
    char *saved = token_path ? read_file(token_path) : NULL;
    if (saved) {
        st = om_tokens_import(account, saved);
        free(saved);
        if (st != OM_STATUS_OK) fail("om_tokens_import", st);
    }

    char *token = NULL;
    int64_t expires_at = 0;
    st = om_get_access_token(account, 0, &token, &expires_at);
    if (st == OM_STATUS_AUTHORIZATION_REQUIRED) {
        /* Known mistakes in the app registration, before the user clicks. */
        char *findings = NULL;
        if (om_account_check(account, &findings) == OM_STATUS_OK) {
            printf("registration check: %s\n", findings);
            om_string_free(findings);
        }
        char *info = NULL;
        st = om_authorize_start(account, NULL, &info);
        if (st != OM_STATUS_OK) return fail("om_authorize_start", st);
        printf("authorize in the browser: %s\n", info);
        om_string_free(info);
        /* A UI would pump its messages between these short waits. */
        while ((st = om_authorize_wait(account, 250)) == OM_STATUS_PENDING) { }
        if (st != OM_STATUS_OK) return fail("authorization", st);
        printf("authorized\n");
        st = om_get_access_token(account, 0, &token, &expires_at);
    }
    if (st != OM_STATUS_OK) return fail("om_get_access_token", st);
    printf("access token: %.8s... (%zu bytes), expires at %lld\n",
           token, strlen(token), (long long)expires_at);
    om_string_free(token);

    om_account_free(account);
    om_shutdown();
    return 0;
}
