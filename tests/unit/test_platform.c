/* test_platform.c - path kinds, drop-in listing (which names, what
 * order), joining, stats through kept folder handles. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "platform.h"

static char tmpdir[] = "/tmp/bitsync-test-platform-XXXXXX";

static char *
path_of(const char *rel)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, rel);
	return buf[i];
}

static void
touch(const char *rel)
{
	int fd;

	fd = open(path_of(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1) {
		perror(path_of(rel));
		exit(2);
	}
	close(fd);
}

static void
test_list(void)
{
	/* Byte order: digits, then upper case, then '_', then lower case;
	 * a locale would sort "B" after "a". */
	static const char *const want[] = {
		"10-base.yaml", "2-second.yml", "50-app.yaml", "B.yaml",
		"Z_last.yml", "_under.yaml", "a.yaml", "link.yaml",
		"x.y.yaml",
	};
	char **names;
	size_t n, i;
	int rc;

	touch("50-app.yaml");
	touch("10-base.yaml");
	touch("2-second.yml");
	touch("a.yaml");
	touch("B.yaml");
	touch("_under.yaml");
	touch("Z_last.yml");
	touch("x.y.yaml");
	/* Not drop-ins: other suffixes, case, hidden, bare suffix,
	 * directories, dangling links. */
	touch("readme.txt");
	touch("c.yaml.bak");
	touch("c.yaml~");
	touch("d.YAML");
	touch("e.json");
	touch(".hidden.yaml");
	touch(".yaml");
	touch("yaml");
	CHECK(mkdir(path_of("dir.yaml"), 0755) == 0);
	CHECK(symlink(path_of("a.yaml"), path_of("link.yaml")) == 0);
	CHECK(symlink(path_of("nowhere"), path_of("dangling.yaml")) == 0);
	CHECK(symlink(path_of("dir.yaml"), path_of("dirlink.yml")) == 0);

	rc = platform_list_manifests(tmpdir, &names, &n);
	CHECK_INT(rc, 0);
	CHECK_INT(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n && i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_STR(names[i], want[i]);
	platform_free_names(names, n);

	/* An empty directory is an empty list, not an error. */
	CHECK(mkdir(path_of("empty"), 0755) == 0);
	rc = platform_list_manifests(path_of("empty"), &names, &n);
	CHECK_INT(rc, 0);
	CHECK_INT(n, 0);
	platform_free_names(names, n);

	errno = 0;
	rc = platform_list_manifests(path_of("missing"), &names, &n);
	CHECK_INT(rc, -1);
	CHECK_INT(errno, ENOENT);
	errno = 0;
	rc = platform_list_manifests(path_of("a.yaml"), &names, &n);
	CHECK_INT(rc, -1);
	CHECK_INT(errno, ENOTDIR);
}

static void
test_kind(void)
{
	enum platform_kind k;

	CHECK_INT(platform_path_kind(path_of("a.yaml"), &k), 0);
	CHECK_INT(k, PLATFORM_KIND_FILE);
	CHECK_INT(platform_path_kind(tmpdir, &k), 0);
	CHECK_INT(k, PLATFORM_KIND_DIR);
	CHECK_INT(platform_path_kind(path_of("link.yaml"), &k), 0);
	CHECK_INT(k, PLATFORM_KIND_FILE);
	CHECK_INT(platform_path_kind(path_of("dirlink.yml"), &k), 0);
	CHECK_INT(k, PLATFORM_KIND_DIR);
	CHECK_INT(platform_path_kind(path_of("missing"), &k), 0);
	CHECK_INT(k, PLATFORM_KIND_MISSING);
	CHECK_INT(platform_path_kind(path_of("dangling.yaml"), &k), 0);
	CHECK_INT(k, PLATFORM_KIND_MISSING);
	CHECK_INT(platform_path_kind(path_of("a.yaml/x"), &k), 0);
	CHECK_INT(k, PLATFORM_KIND_MISSING);
	CHECK_INT(platform_path_kind("/dev/null", &k), 0);
	CHECK_INT(k, PLATFORM_KIND_OTHER);
}

static void
test_join(void)
{
	char *s;

	s = platform_join("/etc/bitsync/manifest.d", "a.yaml");
	CHECK_STR(s, "/etc/bitsync/manifest.d/a.yaml");
	free(s);
	s = platform_join("/etc/bitsync/manifest.d/", "a.yaml");
	CHECK_STR(s, "/etc/bitsync/manifest.d/a.yaml");
	free(s);
	s = platform_join("/", "a.yaml");
	CHECK_STR(s, "/a.yaml");
	free(s);
	s = platform_join("", "a.yaml");
	CHECK_STR(s, "a.yaml");
	free(s);
}

/* platform_lstat_in sees what platform_lstat sees, whatever order the
 * paths come in: folders switched, missing, linked, relative, short. */
static void
test_lstat_in(void)
{
	static const char *const rel[] = {
		"d/s1/a", "d/s1/sub/b", "d/s2/a", "d/s2/link", "d/s2/none",
		"d/gone/a", "e/s1/a", "d/s1/a", "d/s2/dir", "d/s2/dir/",
		"d", "d/s1", "d/s2/a/not-a-dir", "e/s1/a",
	};
	struct platform_statdir *sd = platform_statdir_new();
	struct platform_stat x, y;
	size_t i;
	char cwd[512];

	CHECK(mkdir(path_of("d"), 0755) == 0 && mkdir(path_of("d/s1"), 0755)
	    == 0 && mkdir(path_of("d/s1/sub"), 0755) == 0 &&
	    mkdir(path_of("d/s2"), 0755) == 0 &&
	    mkdir(path_of("d/s2/dir"), 0755) == 0 &&
	    mkdir(path_of("e"), 0755) == 0 && mkdir(path_of("e/s1"), 0755)
	    == 0);
	touch("d/s1/a");
	touch("d/s1/sub/b");
	touch("d/s2/a");
	touch("e/s1/a");
	CHECK(truncate(path_of("d/s2/a"), 1234) == 0);
	CHECK(symlink(path_of("d/s1/a"), path_of("d/s2/link")) == 0);
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		const char *p = path_of(rel[i]);
		int rx = platform_lstat(p, &x), ry = platform_lstat_in(sd, p,
		    &y);

		CHECK_INT(ry, rx);
		CHECK_INT(y.kind, x.kind);
		CHECK_INT(y.is_link, x.is_link);
		CHECK_INT(y.size, x.size);
		CHECK_INT(y.mtime_ns, x.mtime_ns);
	}
	CHECK(platform_lstat_in(sd, path_of("d/s2/a"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_FILE && y.size == 1234);
	CHECK(platform_lstat_in(sd, path_of("d/s2/link"), &y) == 0 &&
	    y.is_link);
	CHECK(platform_lstat_in(sd, path_of("d/gone/a"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_MISSING);
	/* Under a kept handle (on d), what changes below it is seen: a
	 * file removed, a set's folder replaced by another. */
	CHECK(platform_lstat_in(sd, path_of("d/s1/a"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_FILE);
	CHECK(unlink(path_of("d/s1/a")) == 0);
	CHECK(platform_lstat_in(sd, path_of("d/s1/a"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_MISSING);
	CHECK(rename(path_of("d/s2"), path_of("d/old-s2")) == 0 &&
	    mkdir(path_of("d/s2"), 0755) == 0);
	touch("d/s2/a");
	CHECK(platform_lstat_in(sd, path_of("d/s2/a"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_FILE && y.size == 0);
	CHECK(platform_lstat_in(sd, path_of("d/s2/link"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_MISSING);
	/* A NULL handle is platform_lstat. */
	CHECK(platform_lstat_in(NULL, path_of("d/s2/a"), &y) == 0 &&
	    y.kind == PLATFORM_KIND_FILE);
	/* Relative paths and paths right under / are looked up whole. */
	if (getcwd(cwd, sizeof(cwd)) != NULL && chdir(tmpdir) == 0) {
		CHECK(platform_lstat_in(sd, "d/old-s2/a", &y) == 0 &&
		    y.size == 1234);
		CHECK(chdir(cwd) == 0);
	}
	CHECK(platform_lstat_in(sd, "/tmp", &y) == 0 &&
	    y.kind == PLATFORM_KIND_DIR);
	CHECK(platform_lstat_in(sd, "/", &y) == 0 &&
	    y.kind == PLATFORM_KIND_DIR);
	platform_statdir_free(sd);
	platform_statdir_free(NULL);
}

/* The no-follow walks (issue 11): make_dirs below the trusted part,
 * remove_placed's re-check, open_nofollow of a FIFO, replace_open's temp
 * names. */
static void
test_nofollow(void)
{
	struct platform_stat st, want;
	char *tmp = NULL;
	size_t trusted = strlen(tmpdir);
	FILE *f;
	int fd;

	CHECK(mkdir(path_of("n"), 0750) == 0);
	CHECK(mkdir(path_of("victim"), 0755) == 0);
	/* New folders take their parent's mode and are real folders. */
	CHECK(platform_make_dirs(path_of("n/a/b"), trusted) == 0);
	CHECK(platform_lstat(path_of("n/a/b"), &st) == 0 &&
	    st.kind == PLATFORM_KIND_DIR && !st.is_link);
	/* A link below the trusted part is refused, nothing is made where
	 * it points, whether the link is the last component or one on the
	 * way. */
	CHECK(symlink(path_of("victim"), path_of("n/link")) == 0);
	errno = 0;
	CHECK(platform_make_dirs(path_of("n/link"), trusted) == -1 &&
	    errno == ELOOP);
	errno = 0;
	CHECK(platform_make_dirs(path_of("n/link/x/y"), trusted) == -1 &&
	    errno == ELOOP);
	CHECK(platform_lstat(path_of("victim/x"), &st) == 0 &&
	    st.kind == PLATFORM_KIND_MISSING);
	/* With no trusted part (no allow_roots) the same holds. */
	errno = 0;
	CHECK(platform_make_dirs(path_of("n/link/x"), 0) == -1 &&
	    errno == ELOOP);
	/* ... and the trusted part is the administrator's: a link there is
	 * followed. */
	CHECK(platform_make_dirs(path_of("n/link/t"),
	    strlen(path_of("n/link"))) == 0);
	CHECK(platform_lstat(path_of("victim/t"), &st) == 0 &&
	    st.kind == PLATFORM_KIND_DIR);
	CHECK(platform_make_dirs(path_of("n/a/b"), 0) == 0);
	/* A trusted root not there yet is created (without following). */
	CHECK(platform_make_dirs(path_of("n/root/s"),
	    strlen(path_of("n/root"))) == 0);
	CHECK(platform_lstat(path_of("n/root/s"), &st) == 0 &&
	    st.kind == PLATFORM_KIND_DIR);

	/* remove_placed: only the file as recorded, never through a link. */
	touch("n/a/f");
	touch("victim/f");
	CHECK(platform_lstat(path_of("n/a/f"), &want) == 0);
	CHECK(symlink(path_of("victim"), path_of("n/alink")) == 0);
	errno = 0;
	CHECK(platform_remove_placed(path_of("n/alink/f"), &want) == -1 &&
	    errno == ELOOP);
	CHECK(access(path_of("victim/f"), F_OK) == 0);
	CHECK(truncate(path_of("n/a/f"), 10) == 0);
	CHECK_INT(platform_remove_placed(path_of("n/a/f"), &want), 1);
	CHECK(access(path_of("n/a/f"), F_OK) == 0);
	CHECK(platform_lstat(path_of("n/a/f"), &want) == 0);
	want.ino++;
	CHECK_INT(platform_remove_placed(path_of("n/a/f"), &want), 1);
	want.ino--;
	CHECK_INT(platform_remove_placed(path_of("n/a/f"), &want), 0);
	CHECK(access(path_of("n/a/f"), F_OK) == -1 && errno == ENOENT);
	CHECK_INT(platform_remove_placed(path_of("n/a/f"), &want), 0);
	CHECK_INT(platform_remove_placed(path_of("n/none/f"), &want), 0);

	/* open_nofollow: a FIFO is refused at once, not waited on; a link
	 * on the way is not followed. */
	CHECK(mkfifo(path_of("n/fifo"), 0600) == 0);
	errno = 0;
	CHECK(platform_open_nofollow(path_of("n/fifo")) == -1 &&
	    errno == EINVAL);
	CHECK(platform_open_nofollow(path_of("n/alink/f")) == -1);
	CHECK((fd = platform_open_nofollow(path_of("victim/f"))) >= 0);
	if (fd >= 0)
		close(fd);

	/* replace_open: an unguessable temp beside the file, never the
	 * old <path>.tmp.<pid> (a FIFO planted there must not matter). */
	{
		char old[600];

		snprintf(old, sizeof(old), "%s.tmp.%ld", path_of("n/st"),
		    (long)getpid());
		CHECK(mkfifo(old, 0666) == 0);
	}
	CHECK((f = platform_replace_open(path_of("n/st"), &tmp)) != NULL);
	if (f != NULL) {
		CHECK(strncmp(tmp, path_of("n/st."), strlen(path_of("n/st.")))
		    == 0 && strstr(tmp, ".tmp.") == NULL);
		fputs("{}", f);
		CHECK(platform_replace_commit(f, tmp, path_of("n/st")) == 0);
	}
	CHECK(platform_lstat(path_of("n/st"), &st) == 0 &&
	    st.kind == PLATFORM_KIND_FILE && st.size == 2);
}

int
main(void)
{
	char cmd[600];
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_list();
	test_kind();
	test_join();
	test_lstat_in();
	test_nofollow();
	rc = check_done();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
