/*
 * send_mail.c — send a message (with an attachment) through the account's SMTP server.
 *
 *   ./send_mail account.json tokens.json TO SUBJECT ATTACHMENT_PATH
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

static void save_tokens(void *user_data, const char *tokens_json) {
    FILE *f = fopen(user_data, "wb");
    if (f) { fputs(tokens_json, f); fclose(f); }
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s account.json tokens.json TO SUBJECT ATTACHMENT\n", argv[0]); return 2; }
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

    /* The message as JSON: the library composes the MIME (a real program escapes its strings). */
    char message[4096];
    snprintf(message, sizeof message,
             "{\"to\": \"%s\", \"subject\": \"%s\","
             " \"text\": \"Bonjour,\\nveuillez trouver ci-joint notre devis.\\n\","
             " \"html\": \"<p>Bonjour,<br>veuillez trouver ci-joint notre <b>devis</b>.</p>\","
             " \"attachments\": [{\"filename\": \"devis.pdf\", \"path\": \"%s\"}]}",
             argv[3], argv[4], argv[5]);
    char *result = NULL;
    st = om_send(acc, message, "{\"copy_to_self\": true, \"save_to_sent\": true}", &result);
    if (st != OM_STATUS_OK) {
        fprintf(stderr, "send failed: %s (%s)\n", om_last_error_message(), om_status_name(st));
        if (*om_last_error_hint()) fprintf(stderr, "hint: %s\n", om_last_error_hint());
        return 1;
    }
    printf("sent: %s\n", result);
    om_string_free(result);
    om_account_free(acc);
    om_shutdown();
    return 0;
}
