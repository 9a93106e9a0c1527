/* Admin tokens: only their SHA-256 is stored; the secret exists in the token file the first
 * start writes beside the database, and nowhere else. */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_BYTES 32

static int
sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -EIO;
    return 0;
}

/* Writes text to path with mode 0600, durably: temp file, fsync, rename, fsync of the dir. */
static int
write_secret_file(const char *path, const char *text, char *err, size_t err_len)
{
    size_t plen = strlen(path);
    char *tmp = edge_xcalloc(1, plen + 8);
    int r = 0;

    (void)snprintf(tmp, plen + 8, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        (void)snprintf(err, err_len, "cannot write token file %s: %s", tmp, strerror(errno));
        goto out;
    }
    /* An older file of that name keeps its mode through O_TRUNC. */
    size_t len = strlen(text);
    if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        r = -errno;
        (void)snprintf(err, err_len, "cannot write token file %s: %s", tmp, strerror(errno));
        (void)close(fd);
        (void)unlink(tmp);
        goto out;
    }
    (void)close(fd);
    if (rename(tmp, path) != 0) {
        r = -errno;
        (void)snprintf(err, err_len, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        (void)unlink(tmp);
        goto out;
    }
    char *dup = strdup(path);
    if (dup) {
        int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            (void)close(dfd);
        }
        free(dup);
    }
out:
    free(tmp);
    return r;
}

int
cp_store_admin_token_bootstrap(struct cp_store *st, const char *token_path, bool *ret_created,
                               char *err, size_t err_len)
{
    struct cp_store_err e = {0};
    unsigned char raw[TOKEN_BYTES], hash[32];
    char token[2 * TOKEN_BYTES + 2];
    int64_t n;
    int r;

    char sink[1];

    if (!err || err_len == 0) {
        err = sink;
        err_len = sizeof(sink);
    }
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT count(*) FROM admin_tokens");
    if (!s || (r = cp_db_step_int(st, s, &n, &e)) != 0) {
        if (!s)
            (void)cp_db_fail(st, &e, "admin tokens");
        (void)snprintf(err, err_len, "%s", e.message);
        return s ? r : e.code;
    }
    if (n > 0) {
        if (ret_created)
            *ret_created = false;
        return 0;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        (void)snprintf(err, err_len, "RAND_bytes failed");
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        (void)snprintf(token + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (sha256(token, 2 * TOKEN_BYTES, hash) < 0) {
        OPENSSL_cleanse(token, sizeof(token));
        (void)snprintf(err, err_len, "SHA-256 failed");
        return -EIO;
    }
    /* The file first: a token stored but never written out would lock the admin out for good,
     * while a file whose hash failed to land is simply replaced at the next start. */
    token[2 * TOKEN_BYTES] = '\n';
    token[2 * TOKEN_BYTES + 1] = '\0';
    r = write_secret_file(token_path, token, err, err_len);
    OPENSSL_cleanse(token, sizeof(token));
    if (r < 0)
        return r;
    s = cp_db_stmt(st, "INSERT INTO admin_tokens (sha256, created_at) VALUES (?, ?)");
    if (!s) {
        r = cp_db_fail(st, &e, "admin tokens");
    } else {
        (void)sqlite3_bind_blob(s, 1, hash, sizeof(hash), SQLITE_TRANSIENT);
        (void)sqlite3_bind_int64(s, 2, cp_store_now());
        r = cp_db_step_done(st, s, "admin tokens", &e);
    }
    if (r < 0) {
        (void)snprintf(err, err_len, "%s", e.message);
        return r;
    }
    if (ret_created)
        *ret_created = true;
    return 0;
}

int
cp_store_token_check(struct cp_store *st, const char *token, size_t token_len)
{
    unsigned char hash[32];
    int match = 0, rc;

    if (!token || token_len == 0 || sha256(token, token_len, hash) < 0)
        return -EACCES;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT sha256 FROM admin_tokens");
    if (!s)
        return -EACCES;
    /* Every row is compared, in constant time, so timing says nothing about the hash. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 0);
        if (h && sqlite3_column_bytes(s, 0) == (int)sizeof(hash))
            match |= CRYPTO_memcmp(h, hash, sizeof(hash)) == 0;
    }
    cp_db_done(s);
    return match ? 0 : -EACCES;
}
