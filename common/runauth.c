/* common/runauth.c: the run announcement tag (HMAC-SHA256 through OpenSSL). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "runauth.h"

int
runauth_tag(const char *secret, const char *conn, size_t connlen, uint64_t run,
    char out[RUNAUTH_HEX + 1])
{
	static const char	 label[] = "sailsync run";	/* with its NUL */
	unsigned char		 msg[sizeof(label) + 256 + 24], md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	size_t			 n = 0;
	int			 k;

	if (secret == NULL || connlen > 256)
		return -1;
	memcpy(msg, label, sizeof(label));
	n = sizeof(label);
	memcpy(msg + n, conn, connlen);
	n += connlen;
	msg[n++] = '\0';
	k = snprintf((char *)msg + n, sizeof(msg) - n, "%" PRIu64, run);
	n += (size_t)k;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, md, &mdlen) == NULL ||
	    mdlen < RUNAUTH_BYTES)
		return -1;
	for (size_t i = 0; i < RUNAUTH_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int
runauth_check(const char *secret, const char *conn, size_t connlen, uint64_t run,
    const char *tag, size_t len)
{
	char	 want[RUNAUTH_HEX + 1];
	int	 ok;

	if (secret == NULL || len != RUNAUTH_HEX ||
	    runauth_tag(secret, conn, connlen, run, want) == -1)
		return 0;
	ok = CRYPTO_memcmp(want, tag, RUNAUTH_HEX) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
