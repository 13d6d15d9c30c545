/* page_seal.c — AES-256-GCM over a page's packed bytes, on OpenSSL's libcrypto. */
#include "page_seal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

/* The nonce: the version, which the client never repeats under one key. */
static void nonce_of(uint64_t version, uint8_t iv[12])
{
	memset(iv, 0, 12);
	memcpy(iv, &version, sizeof(version));
}

static void aad_of(uint64_t page, uint64_t live, uint64_t version, uint8_t aad[24])
{
	memcpy(aad, &page, 8);
	memcpy(aad + 8, &live, 8);
	memcpy(aad + 16, &version, 8);
}

int page_seal_init(struct page_seal *s, const uint8_t key[AUTH_KEY])
{
	s->enc = EVP_CIPHER_CTX_new();
	s->dec = EVP_CIPHER_CTX_new();
	if (!s->enc || !s->dec ||
	    EVP_EncryptInit_ex(s->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(s->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		page_seal_free(s);
		return -ENOMEM;
	}
	return 0;
}

void page_seal_free(struct page_seal *s)
{
	EVP_CIPHER_CTX_free(s->enc);
	EVP_CIPHER_CTX_free(s->dec);
	s->enc = s->dec = NULL;
}

void page_seal_key(const uint8_t device_key[AUTH_KEY], uint8_t out[AUTH_KEY])
{
	auth_mac(device_key, "lineswap page seal", NULL, 0, out);
}

void page_seal(struct page_seal *s, uint64_t page, uint64_t live, uint64_t version,
	       const struct sg_plan *plan, const uint8_t *buf, uint8_t *out)
{
	uint8_t iv[12], aad[24];
	int len;

	nonce_of(version, iv);
	aad_of(page, live, version, aad);
	EVP_EncryptInit_ex(s->enc, NULL, NULL, NULL, iv);
	EVP_EncryptUpdate(s->enc, NULL, &len, aad, sizeof(aad));
	/* GCM is a stream: each segment is encrypted straight into its packed place. */
	for (unsigned i = 0, at = 0; i < plan->nsegs; at += plan->seg[i].len, i++)
		EVP_EncryptUpdate(s->enc, out + at, &len, buf + plan->seg[i].off, plan->seg[i].len);
	EVP_EncryptFinal_ex(s->enc, out + plan->bytes, &len);
	EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, out + plan->bytes);
}

int page_open(struct page_seal *s, uint64_t page, uint64_t live, uint64_t version,
	      const struct sg_plan *plan, const uint8_t *in, uint8_t *buf, uint8_t *scratch)
{
	uint8_t iv[12], aad[24], tag[SEAL_TAG];
	int len;

	nonce_of(version, iv);
	aad_of(page, live, version, aad);
	memcpy(tag, in + plan->bytes, SEAL_TAG);
	EVP_DecryptInit_ex(s->dec, NULL, NULL, NULL, iv);
	EVP_DecryptUpdate(s->dec, NULL, &len, aad, sizeof(aad));
	EVP_DecryptUpdate(s->dec, scratch, &len, in, (int)plan->bytes);
	EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag);
	if (EVP_DecryptFinal_ex(s->dec, scratch + plan->bytes, &len) != 1) {
		memset(scratch, 0, plan->bytes);
		return -EBADMSG;
	}
	sg_plan_unpack(plan, buf, scratch, true);
	return 0;
}
