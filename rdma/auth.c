/* auth.c — the handshake's cryptography, on OpenSSL's libcrypto. */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/random.h>

_Static_assert(SHA256_DIGEST_LENGTH == AUTH_KEY, "keys and MACs are SHA-256 sized");

void auth_mac(const uint8_t key[AUTH_KEY], const char *label, const void *data, size_t len,
	      uint8_t out[AUTH_KEY])
{
	uint8_t msg[256 + 64];
	size_t llen = strlen(label);
	unsigned outlen = AUTH_KEY;

	/* Labels and data are short and fixed by the protocol; the label's NUL separates it. */
	if (llen + 1 + len > sizeof(msg))
		len = sizeof(msg) - llen - 1;
	memcpy(msg, label, llen + 1);
	if (len)
		memcpy(msg + llen + 1, data, len);
	HMAC(EVP_sha256(), key, AUTH_KEY, msg, llen + 1 + len, out, &outlen);
	auth_wipe(msg, sizeof(msg));
}

int auth_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -EIO;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int auth_ephemeral_new(struct auth_ephemeral *e)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t len = AUTH_PUB;

	e->key = key;
	if (!key || !EVP_PKEY_get_raw_public_key(key, e->pub, &len) || len != AUTH_PUB) {
		auth_ephemeral_free(e);
		return -ENOMEM;
	}
	return 0;
}

void auth_ephemeral_free(struct auth_ephemeral *e)
{
	EVP_PKEY_free(e->key);
	e->key = NULL;
}

int auth_shared(const struct auth_ephemeral *mine, const uint8_t peer_pub[AUTH_PUB],
		uint8_t shared[AUTH_KEY])
{
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, AUTH_PUB);
	EVP_PKEY_CTX *ctx = peer ? EVP_PKEY_CTX_new(mine->key, NULL) : NULL;
	size_t len = AUTH_KEY;
	int ret = -EPROTO;

	/* OpenSSL refuses a shared secret of all zeros (a small-order peer key). */
	if (ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, peer) > 0 &&
	    EVP_PKEY_derive(ctx, shared, &len) > 0 && len == AUTH_KEY)
		ret = 0;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return ret;
}

void auth_session(const uint8_t *secret, size_t len, const uint8_t shared[AUTH_KEY],
		  const void *transcript, size_t tlen, uint8_t session[AUTH_KEY])
{
	static const char label[] = "lineswap session";
	uint8_t msg[sizeof(label) + AUTH_KEY + SHA256_DIGEST_LENGTH];
	unsigned outlen = AUTH_KEY;

	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), shared, AUTH_KEY);
	SHA256(transcript, tlen, msg + sizeof(label) + AUTH_KEY);
	HMAC(EVP_sha256(), secret, (int)len, msg, sizeof(msg), session, &outlen);
	auth_wipe(msg, sizeof(msg));
}

void auth_region_key(const uint8_t device_key[AUTH_KEY], const uint8_t *name, size_t len,
		     uint8_t out[AUTH_KEY])
{
	auth_mac(device_key, "lineswap region", name, len, out);
}

bool auth_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void auth_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}
