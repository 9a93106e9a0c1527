#include "policy/apikey.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

/* OpenSSL 3's one-shot SHA256() fetches the digest and allocates a context on every call
 * (a lookup under a lock, on every keyed request): fetch once, keep a context per thread. */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;
static pthread_key_t sha_key;

static void
sha_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void
sha_init(void)
{
    if (pthread_key_create(&sha_key, sha_ctx_free) == 0)
        sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
dp_key_hash(const char *secret, size_t len, uint8_t ret_sha256[32])
{
    pthread_once(&sha_once, sha_init);
    EVP_MD_CTX *ctx = sha_md ? pthread_getspecific(sha_key) : NULL;
    if (sha_md && !ctx && (ctx = EVP_MD_CTX_new()) && pthread_setspecific(sha_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    unsigned int n = 0;
    if (!ctx || !EVP_DigestInit_ex2(ctx, sha_md, NULL) || !EVP_DigestUpdate(ctx, secret, len) ||
        !EVP_DigestFinal_ex(ctx, ret_sha256, &n))
        SHA256((const unsigned char *)secret, len, ret_sha256);
}
