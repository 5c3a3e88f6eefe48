/* cred.c - helper-token credentials on POSIX hosts.
 *
 * A credential NAME is the file NAME in the agent's credential_dir, or
 * else in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=).  Format, one
 * key a line, '#' or ';' starts a comment line:
 *
 *	username = DOMAIN\user     (or user@REALM, or user)
 *	password = secret
 *	domain = DOMAIN            (optional; SMB workgroup / NTLM domain)
 *
 * The file must be a regular file owned by the agent's user with no access
 * for group or others (0600 or 0400), as ssh demands of its keys; anything
 * else is refused, because a secret others could read or swap is not one.
 * The password is never logged or copied into errors. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
open_cred(const char *dir, const char *name, int *fd)
{
	char path[4096];
	int f;

	if (dir == NULL || *dir == '\0')
		return ENOENT;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* O_NONBLOCK: a FIFO planted at the name must not block a worker,
	 * a probe on the main thread, or Complete under the engine's lock
	 * (cred_load refuses anything but a regular file, then clears the
	 * flag). */
	if ((f = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) < 0)
		return errno;
	*fd = f;
	return 0;
}

int
cred_load(const char *dir, const char *name, struct cred *c, char *why,
    size_t whylen)
{
	struct stat sb;
	FILE *fp = NULL;
	char line[1024], *k, *v, *eq, **slot;
	int fd = -1, err, rc = -1, lineno = 0;

	memset(c, 0, sizeof(*c));
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/')) {
		snprintf(why, whylen, "bad credential name");
		goto out;
	}
	if ((err = open_cred(dir, name, &fd)) == ENOENT)
		err = open_cred(getenv("CREDENTIALS_DIRECTORY"), name, &fd);
	if (err != 0) {
		snprintf(why, whylen, "credential %s: %s", name,
		    strerror(err));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1) {
		snprintf(why, whylen, "credential %s: not a regular file;"
		    " the credential must be a file (mode 0600) in the"
		    " credential_dir", name);
		goto out;
	}
	if ((sb.st_mode & 077) != 0 || sb.st_uid != geteuid()) {
		snprintf(why, whylen, "credential %s: must be owned by uid %u"
		    " with mode 0600", name, (unsigned)geteuid());
		goto out;
	}
	if ((fp = fdopen(fd, "r")) == NULL)
		goto out;
	fd = -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		k = trim(line);
		if (*k == '\0' || *k == '#' || *k == ';')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(why, whylen, "credential %s:%d: expected"
			    " key = value", name, lineno);
			goto out;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (strcmp(k, "username") == 0)
			slot = &c->username;
		else if (strcmp(k, "password") == 0)
			slot = &c->password;
		else if (strcmp(k, "domain") == 0)
			slot = &c->domain;
		else {
			snprintf(why, whylen, "credential %s:%d: unknown key"
			    " (username, password, domain)", name, lineno);
			goto out;
		}
		free(*slot);
		if ((*slot = strdup(v)) == NULL)
			goto out;
	}
	if (c->username == NULL) {
		snprintf(why, whylen, "credential %s: no username", name);
		goto out;
	}
	if (c->password == NULL && (c->password = strdup("")) == NULL)
		goto out;
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		cred_free(c);
	return rc;
}

/* A client certificate NAME.pem holds a certificate chain and its
 * private key; a larger file is not one. */
#define CRED_PEM_MAX (1 << 20)

int
cred_load_pem(const char *dir, const char *name, char **pem, size_t *len,
    char *why, size_t whylen)
{
	struct stat sb;
	char file[300];
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd = -1, err, rc = -1;

	*pem = NULL;
	*len = 0;
	/* The same name rules as a helper token's credential: never a path
	 * (the manifest names it; rules.c refuses a bad one too). */
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') ||
	    strlen(name) > 200) {
		snprintf(why, whylen, "bad client certificate name");
		goto out;
	}
	snprintf(file, sizeof(file), "%s.pem", name);
	if ((err = open_cred(dir, file, &fd)) == ENOENT)
		err = open_cred(getenv("CREDENTIALS_DIRECTORY"), file, &fd);
	if (err != 0) {
		snprintf(why, whylen, "client certificate %s: %s: put the"
		    " certificate and its key (PEM, mode 0600) there",
		    file, strerror(err));
		goto out;
	}
	/* The checks of cred_load, for the same reason: a key others can
	 * read is not a secret, one they can swap is not ours.  The bytes
	 * reach libcurl as a blob read through this very descriptor, so
	 * nothing can be swapped between the check and the use. */
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1) {
		snprintf(why, whylen, "client certificate %s: not a regular"
		    " file; the certificate must be a file (mode 0600) in the"
		    " credential_dir", file);
		goto out;
	}
	if ((sb.st_mode & 077) != 0 || sb.st_uid != geteuid()) {
		snprintf(why, whylen, "client certificate %s: its private key"
		    " must be owned by uid %u with mode 0600 (it is %04o):"
		    " chown %u and chmod 600 it", file, (unsigned)geteuid(),
		    (unsigned)(sb.st_mode & 07777), (unsigned)geteuid());
		goto out;
	}
	if (sb.st_size <= 0 || sb.st_size > CRED_PEM_MAX) {
		snprintf(why, whylen, "client certificate %s: %s; expected"
		    " a PEM certificate and key of at most %d KiB", file,
		    sb.st_size <= 0 ? "empty" : "too large", CRED_PEM_MAX >> 10);
		goto out;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != (size_t)sb.st_size) {
		snprintf(why, whylen, "client certificate %s: short read",
		    file);
		goto out;
	}
	buf[got] = '\0';
	if (strstr(buf, "-----BEGIN CERTIFICATE-----") == NULL ||
	    strstr(buf, "PRIVATE KEY-----") == NULL) {
		snprintf(why, whylen, "client certificate %s: needs a PEM"
		    " certificate and its PEM private key in the one file"
		    " (cat cert.pem key.pem > %s)", file, file);
		goto out;
	}
	*pem = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, got);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

void
cred_free_pem(char *pem, size_t len)
{
	if (pem == NULL)
		return;
	explicit_bzero(pem, len);
	free(pem);
}

void
cred_free(struct cred *c)
{
	if (c->password != NULL)
		explicit_bzero(c->password, strlen(c->password));
	free(c->username);
	free(c->password);
	free(c->domain);
	memset(c, 0, sizeof(*c));
}
