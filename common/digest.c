/*
 * common/digest.c: owns the short content digests (SHA-256 through
 * OpenSSL's EVP, cut to 64 bits and shown in hex).  SHA-256 rather than a
 * plain hash because a connection's part of the configuration holds its
 * API secret: the digest is logged, and must not let anyone work the
 * secret back out.
 */
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"
#include "log.h"

void
digest_hex(const void *p, size_t len, char out[DIGEST_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < DIGEST_HEX / 2)
		panic("digest_hex: SHA-256 unavailable");
	for (size_t i = 0; i < DIGEST_HEX / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[DIGEST_HEX] = '\0';
}

int
digest_valid(const char *s, size_t len)
{
	if (len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}
