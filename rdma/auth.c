/* auth.c — the handshake's cryptography, on OpenSSL's libcrypto. */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

_Static_assert(SHA256_DIGEST_LENGTH == AUTH_KEY, "keys and MACs are SHA-256 sized");

void auth_mac(const uint8_t key[AUTH_KEY], const char *label, const void *data, size_t len,
	      uint8_t out[AUTH_KEY])
{
	uint8_t msg[512];
	size_t llen = strlen(label);
	unsigned outlen = AUTH_KEY;

	/* Labels and data are short and fixed by the protocol; the label's NUL separates it. */
	if (llen + 1 + len > sizeof(msg))
		abort();
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

/* Region `name`'s Ed25519 key of device_key: its seed is HMAC(device_key, label | name). */
static EVP_PKEY *region_key(const uint8_t device_key[AUTH_KEY], const uint8_t *name, size_t len)
{
	uint8_t seed[AUTH_KEY];
	EVP_PKEY *key;

	auth_mac(device_key, "lineswap region", name, len, seed);
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	auth_wipe(seed, sizeof(seed));
	return key;
}

/* The signed message: label | session. */
static size_t signed_message(const char *label, const uint8_t session[AUTH_KEY], uint8_t *msg)
{
	size_t llen = strlen(label) + 1;

	memcpy(msg, label, llen);
	memcpy(msg + llen, session, AUTH_KEY);
	return llen + AUTH_KEY;
}

int auth_region_public(const uint8_t device_key[AUTH_KEY], const uint8_t *name, size_t len,
		       uint8_t pub[AUTH_PUB])
{
	EVP_PKEY *key = region_key(device_key, name, len);
	size_t publen = AUTH_PUB;
	int ret = key && EVP_PKEY_get_raw_public_key(key, pub, &publen) && publen == AUTH_PUB
			  ? 0
			  : -ENOMEM;

	EVP_PKEY_free(key);
	return ret;
}

int auth_region_sign(const uint8_t device_key[AUTH_KEY], const uint8_t *name, size_t len,
		     const char *label, const uint8_t session[AUTH_KEY], uint8_t sig[AUTH_SIG])
{
	EVP_PKEY *key = region_key(device_key, name, len);
	EVP_MD_CTX *ctx = key ? EVP_MD_CTX_new() : NULL;
	uint8_t msg[64 + AUTH_KEY];
	size_t siglen = AUTH_SIG, mlen = signed_message(label, session, msg);
	int ret = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
				  EVP_DigestSign(ctx, sig, &siglen, msg, mlen) == 1 &&
				  siglen == AUTH_SIG
			  ? 0
			  : -ENOMEM;

	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ret;
}

bool auth_region_verify(const uint8_t pub[AUTH_PUB], const char *label,
			const uint8_t session[AUTH_KEY], const uint8_t sig[AUTH_SIG])
{
	EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, AUTH_PUB);
	EVP_MD_CTX *ctx = key ? EVP_MD_CTX_new() : NULL;
	uint8_t msg[64 + AUTH_KEY];
	size_t mlen = signed_message(label, session, msg);
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
		  EVP_DigestVerify(ctx, sig, AUTH_SIG, msg, mlen) == 1;

	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ok;
}

bool auth_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void auth_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}
