/* page_seal.h — pages the memory node can neither read nor change: AES-256-GCM over the
 * packed bytes of each page.
 *
 * A page's packed bytes (its SG plan's segments, one after another) are encrypted and
 * authenticated with the device's seal key before they leave the compute machine; the node
 * stores the ciphertext and a 16-byte tag in the page's slot. The nonce is the page's
 * version: a device-wide counter the client raises for every page it seals (remote.c keeps it
 * in the entry file), so no nonce is ever used twice under one key with different bytes. The
 * authenticated data is the page number, its live-line mask and its version: bytes of another
 * page, another mask or an older version of the same page (a replay) fail to open, as does
 * any bit the node or the network flips. Opening writes nothing to the page unless the tag
 * verifies. */
#ifndef LINESWAP_PAGE_SEAL_H
#define LINESWAP_PAGE_SEAL_H

#include <stdint.h>

#include "auth.h"
#include "sg_plan.h"

#define SEAL_TAG 16

struct page_seal {
	void *enc, *dec; /* EVP_CIPHER_CTX, keyed once */
};

/* Keys both directions with key (AUTH_KEY bytes). Returns 0 or -ENOMEM. */
int page_seal_init(struct page_seal *s, const uint8_t key[AUTH_KEY]);
void page_seal_free(struct page_seal *s);

/* The device's seal key from its own key (never the same as a region key). */
void page_seal_key(const uint8_t device_key[AUTH_KEY], uint8_t out[AUTH_KEY]);

/* Packs page's plan bytes into out and seals them there: out receives plan->bytes of
 * ciphertext and then the tag (plan->bytes + SEAL_TAG in all). */
void page_seal(struct page_seal *s, uint64_t page, uint64_t live, uint64_t version,
	       const struct sg_plan *plan, const uint8_t *buf, uint8_t *out);

/* Opens what page_seal made (in: plan->bytes + SEAL_TAG) into page buf: the plan's bytes at
 * their offsets, every other byte zero. scratch: a page of working space. Returns 0, or
 * -EBADMSG when the tag does not verify (buf untouched). */
int page_open(struct page_seal *s, uint64_t page, uint64_t live, uint64_t version,
	      const struct sg_plan *plan, const uint8_t *in, uint8_t *buf, uint8_t *scratch);

#endif
