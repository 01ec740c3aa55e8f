/*
 * cmd_verify.c: `cangate verify BUNDLE [--pubkey PATH] [--require-signature]`
 * and `cangate keygen [-o PREFIX]`.
 *
 * The trusted key is --pubkey, else CANGATE_TRUSTED_PUB's file, else
 * /etc/cangate/trusted.pub when it exists: a site that installs its key
 * there gets every verify checked against it, so removing manifest.sig
 * from a bundle cannot pass it off as unsigned.
 *
 * verify prints one line per finding ("FAIL frames.log: block 3 (lines
 * 8193-12288) hash mismatch", "WARN ...", "NOTE ...") and then either
 * "OK <summary>" (exit 0) or "FAIL <n> problem(s); first: ..." (exit 1).
 * Exit 2: usage, or the bundle or key cannot be read at all. Exit 3: OK,
 * but the recording stopped early (a WARN says where and how much is
 * missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "daemon/core/bundle.h"
#include "daemon/cli/commands.h"

static void print_note(void *ctx, enum bundle_note kind, const char *msg)
{
	(void)ctx;
	printf("%s %s\n",
	       kind == BUNDLE_FAIL ? "FAIL" : kind == BUNDLE_WARN ? "WARN" : "NOTE",
	       msg);
}

#define VERIFY_TRUSTED_PUB "/etc/cangate/trusted.pub"

int cmd_verify(int argc, char **argv)
{
	struct bundle_verify_opts o = {.note = print_note};
	struct bundle_verify_result r;
	const char *dir = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pubkey") && i + 1 < argc) {
			o.pubkey_path = argv[++i];
		} else if (!strncmp(argv[i], "--pubkey=", 9)) {
			o.pubkey_path = argv[i] + 9;
		} else if (!strcmp(argv[i], "--require-signature")) {
			o.require_signature = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "cangate verify: unknown option '%s'\n",
				argv[i]);
			goto usage;
		} else if (!dir) {
			dir = argv[i];
		} else {
			fprintf(stderr, "cangate verify: one bundle at a time\n");
			goto usage;
		}
	}
	if (!dir)
		goto usage;
	if (!o.pubkey_path) {
		const char *env = getenv("CANGATE_TRUSTED_PUB");
		const char *trusted = env && *env ? env : VERIFY_TRUSTED_PUB;

		/* named in the environment: it must be there */
		if ((env && *env) || access(trusted, F_OK) == 0) {
			o.pubkey_path = trusted;
			printf("NOTE using the trusted key %s\n", trusted);
		}
	}
	int rc = bundle_verify(dir, &o, &r);
	if (rc == 2) {
		fprintf(stderr, "cangate verify: %s\n", r.first_fail);
		return 2;
	}
	if (rc == 0 && r.incomplete) {
		/* intact, but not the whole session: scripts must notice */
		printf("OK %s\n", r.summary);
		return 3;
	}
	if (rc == 0)
		printf("OK %s\n", r.summary);
	else
		printf("FAIL %u problem%s; first: %s\n", r.fails,
		       r.fails == 1 ? "" : "s", r.first_fail);
	return rc;
usage:
	fprintf(stderr, "usage: cangate verify BUNDLE [--pubkey PATH] "
			"[--require-signature]\n");
	return 2;
}

static int write_key(const char *path, const uint8_t *key, size_t n,
		     mode_t mode)
{
	char hex[2 * 64 + 2];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0) {
		fprintf(stderr, "cangate keygen: %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	bundle_hex(key, n, hex);
	strcat(hex, "\n");
	size_t len = strlen(hex);
	if (write(fd, hex, len) != (ssize_t)len || fsync(fd) < 0) {
		fprintf(stderr, "cangate keygen: %s: %s\n", path,
			strerror(errno));
		sodium_memzero(hex, sizeof(hex));
		close(fd);
		unlink(path);
		return -1;
	}
	sodium_memzero(hex, sizeof(hex));
	close(fd);
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	const char *prefix = "cangate";
	char kpath[4096], ppath[4096];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			prefix = argv[++i];
		} else {
			fprintf(stderr, "cangate keygen: unexpected '%s'\n"
					"usage: cangate keygen [-o PREFIX]\n",
				argv[i]);
			return 2;
		}
	}
	if ((size_t)snprintf(kpath, sizeof(kpath), "%s.key", prefix) >=
		    sizeof(kpath) ||
	    (size_t)snprintf(ppath, sizeof(ppath), "%s.pub", prefix) >=
		    sizeof(ppath)) {
		fprintf(stderr, "cangate keygen: prefix too long\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "cangate keygen: libsodium failed to initialise\n");
		return 2;
	}
	if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0) {
		fprintf(stderr, "cangate keygen: %s or %s exists; not overwriting\n",
			kpath, ppath);
		return 2;
	}
	crypto_sign_keypair(pk, sk);
	int rc = write_key(kpath, sk, sizeof(sk), 0600);
	sodium_memzero(sk, sizeof(sk));
	if (rc < 0)
		return 2;
	if (write_key(ppath, pk, sizeof(pk), 0644) < 0) {
		unlink(kpath);
		return 2;
	}
	printf("wrote %s (secret: sign_key = %s in [evidence]) and %s (for cangate verify --pubkey)\n",
	       kpath, kpath, ppath);
	return 0;
}
