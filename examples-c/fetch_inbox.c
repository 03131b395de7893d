/*
 * fetch_inbox.c — fetch the new mail of an account and print who sent what.
 * The fetch state (what was fetched already) is kept in a file between runs.
 *
 *   ./fetch_inbox account.json tokens.json state.json
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

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

/* Prints the value of header `name` from the raw message (first line only). */
static void print_header(const uint8_t *data, size_t len, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i + n < len; i++) {
        if ((i == 0 || data[i - 1] == '\n') && strncmp((const char *)data + i, name, n) == 0) {
            size_t j = i + n;
            while (j < len && data[j] != '\r' && data[j] != '\n') j++;
            printf("%.*s", (int)(j - i - n), (const char *)data + i + n);
            return;
        }
        if (data[i] == '\n' && (data[i + 1] == '\n' || data[i + 1] == '\r')) return; /* end of headers */
    }
}

/* Runs on this thread, once per message; returning OM_FETCH_CONTINUE accepts it. */
static int32_t on_message(void *user_data, const om_message *m, const uint8_t *data, size_t len) {
    int *count = user_data;
    (*count)++;
    if (m->uid != 0)
        printf("  uid %u, %zu bytes, from", m->uid, len);
    else /* Microsoft Graph: no UID, the message id instead */
        printf("  id %.12s..., %zu bytes, from", m->uidl, len);
    print_header(data, len, "From:");
    printf(" —");
    print_header(data, len, "Subject:");
    printf("\n");
    return OM_FETCH_CONTINUE;
}

static void save_tokens(void *user_data, const char *tokens_json) {
    write_file(user_data, tokens_json);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s account.json tokens.json state.json\n", argv[0]); return 2; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *config = read_file(argv[1]);
    if (!config) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    om_init();
    om_account *acc = NULL;
    om_status st = om_account_new(config, &acc);
    free(config);
    if (st != OM_STATUS_OK) { fprintf(stderr, "%s\n", om_last_error_message()); return 1; }
    om_account_set_token_callback(acc, save_tokens, argv[2], NULL);
    char *tokens = read_file(argv[2]);
    if (tokens) { om_tokens_import(acc, tokens); free(tokens); }
    char *state = read_file(argv[3]);
    if (state) { om_sync_state_import(acc, state); free(state); }

    int count = 0;
    char *summary = NULL;
    st = om_fetch(acc, "{\"folder\": \"INBOX\"}", on_message, &count, &summary);
    if (st != OM_STATUS_OK) {
        fprintf(stderr, "fetch failed: %s (%s)\n", om_last_error_message(), om_status_name(st));
        if (*om_last_error_hint()) fprintf(stderr, "hint: %s\n", om_last_error_hint());
        return 1;
    }
    printf("%d new message(s); summary %s\n", count, summary);
    om_string_free(summary);
    char *new_state = NULL;
    if (om_sync_state_export(acc, &new_state) == OM_STATUS_OK) {
        write_file(argv[3], new_state);
        om_string_free(new_state);
    }
    om_account_free(acc);
    om_shutdown();
    return 0;
}
