/* auth.h — the handshake's cryptography: who may talk to a memory node, and to which region.
 *
 * The node and its client share a secret (one per tenant on the node). Neither sends it, nor
 * anything derived from it alone: both sides send a fresh nonce and an ephemeral X25519 key,
 * and the session key is an HMAC keyed by the secret over the Diffie-Hellman result and the
 * transcript (everything both sides sent before it). Each side then proves the session key
 * with a MAC under its own label, so a replayed or reflected handshake proves nothing, and a
 * passive listener (even one who holds the secret) never learns the session key nor gets
 * anything to test guesses of the secret against. The client proves first (the node finds
 * the tenant whose secret makes the proof): only a node the client connects to, not anyone
 * who can reach a node, ever holds a proof to test guesses against offline. Online guesses
 * are slowed by the node (node_guard.h). Secrets should still be long and random.
 *
 * A region belongs to its device: its key is an Ed25519 key pair made from the device's own
 * key (kept on the compute machine) and the region's name. The client hands the public half
 * to the node when it creates the region, and signs the session key to attach to or release
 * the region. The node holds only public keys: neither it nor anyone who impersonates it (a
 * holder of the tenant's secret, say) learns anything that opens a region.
 *
 * Every comparison of a secret value is constant time (auth_equal). */
#ifndef LINESWAP_AUTH_H
#define LINESWAP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY   32 /* every key and MAC: HMAC-SHA256 */
#define AUTH_NONCE 32
#define AUTH_PUB   32 /* an X25519 or Ed25519 public key */
#define AUTH_SIG   64 /* an Ed25519 signature */

/* Labels of the MACs a session key makes: each value is used for one purpose only. */
#define AUTH_NODE_PROOF   "lineswap node proof"
#define AUTH_CLIENT_PROOF "lineswap client proof"
#define AUTH_TICKET_WRAP  "lineswap ticket wrap"
#define AUTH_ATTACH       "lineswap attach"
#define AUTH_RELEASE      "lineswap release"

/* A one-use X25519 key pair. */
struct auth_ephemeral {
	void *key; /* EVP_PKEY */
	uint8_t pub[AUTH_PUB];
};

/* Fills buf with n bytes from the kernel's CSPRNG. Returns 0 or -errno. */
int auth_random(void *buf, size_t n);

/* Makes a key pair; returns 0 or -ENOMEM. auth_ephemeral_free forgets it. */
int auth_ephemeral_new(struct auth_ephemeral *e);
void auth_ephemeral_free(struct auth_ephemeral *e);

/* The Diffie-Hellman result X25519(mine, peer_pub). Returns 0, or -EPROTO when peer_pub is
 * not a usable key (a small-order point). */
int auth_shared(const struct auth_ephemeral *mine, const uint8_t peer_pub[AUTH_PUB],
		uint8_t shared[AUTH_KEY]);

/* The session key: HMAC(secret, label | shared | SHA-256(transcript)). */
void auth_session(const uint8_t *secret, size_t len, const uint8_t shared[AUTH_KEY],
		  const void *transcript, size_t tlen, uint8_t session[AUTH_KEY]);

/* out = HMAC(key, label | data). */
void auth_mac(const uint8_t key[AUTH_KEY], const char *label, const void *data, size_t len,
	      uint8_t out[AUTH_KEY]);

/* Region `name`'s public key (pub) of device_key's pair. Returns 0 or -ENOMEM. */
int auth_region_public(const uint8_t device_key[AUTH_KEY], const uint8_t *name, size_t len,
		       uint8_t pub[AUTH_PUB]);
/* Signs label | session with region `name`'s key of device_key. Returns 0 or -ENOMEM. */
int auth_region_sign(const uint8_t device_key[AUTH_KEY], const uint8_t *name, size_t len,
		     const char *label, const uint8_t session[AUTH_KEY], uint8_t sig[AUTH_SIG]);
/* Whether sig signs label | session under pub. */
bool auth_region_verify(const uint8_t pub[AUTH_PUB], const char *label,
			const uint8_t session[AUTH_KEY], const uint8_t sig[AUTH_SIG]);

/* a == b over n bytes, in time that depends on n only. */
bool auth_equal(const void *a, const void *b, size_t n);

/* Overwrites n bytes at p in a way the compiler keeps. */
void auth_wipe(void *p, size_t n);

#endif
