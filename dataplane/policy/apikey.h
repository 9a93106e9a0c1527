/* API key secrets: only their SHA-256 is ever held (policy/keystore.h keeps the keys). */
#ifndef DP_POLICY_APIKEY_H
#define DP_POLICY_APIKEY_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 of a secret (OpenSSL). */
void dp_key_hash(const char *secret, size_t len, uint8_t ret_sha256[32]);

#endif
