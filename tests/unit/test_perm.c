/* test_perm.c - StrictModes: a temp tree with each way a file or a
 * directory above it can be unsafe, and the ways that are fine. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "diag.h"
#include "perm.h"

static char tmpdir[] = "/tmp/bitsync-test-perm-XXXXXX";
static char me[64], mygroup[64];

static char *
path_of(const char *rel)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, rel);
	return buf[i];
}

static void
make_file(const char *rel, mode_t mode)
{
	int fd;

	fd = open(path_of(rel), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || fchmod(fd, mode) == -1) {
		perror(path_of(rel));
		exit(2);
	}
	close(fd);
}

static void
make_dir(const char *rel, mode_t mode)
{
	/* chmod after mkdir: the umask would strip group and other bits. */
	if (mkdir(path_of(rel), 0700) == -1 ||
	    chmod(path_of(rel), mode) == -1) {
		perror(path_of(rel));
		exit(2);
	}
}

/* perm_check(path) passes. */
static void
expect_ok_at(int line, const char *path)
{
	struct diags d;
	int rc;

	diags_init(&d);
	rc = perm_check(path, DIAG_ERROR, &d);
	if (rc != 0 || d.n != 0) {
		fprintf(stderr, "%s:%d: expected %s to pass:\n", __FILE__,
		    line, path);
		diags_print_text(&d, stderr);
		check_failures++;
	}
	diags_free(&d);
}
#define expect_ok(p) expect_ok_at(__LINE__, (p))

/* perm_check(path) fails with one diagnostic of rule whose message holds
 * every needle. */
static void
expect_fail_at(int line, const char *path, const char *rule,
    const char *const *needles)
{
	struct diags d;
	int rc, bad = 0;

	diags_init(&d);
	rc = perm_check(path, DIAG_ERROR, &d);
	if (rc != -1 || d.n != 1)
		bad = 1;
	else {
		if (strcmp(d.v[0].rule, rule) != 0 ||
		    strcmp(d.v[0].file, path) != 0 || d.v[0].line != 0 ||
		    d.v[0].col != 0 || d.v[0].severity != DIAG_ERROR)
			bad = 1;
		for (; *needles != NULL; needles++)
			if (strstr(d.v[0].message, *needles) == NULL) {
				fprintf(stderr, "%s:%d: missing \"%s\"\n",
				    __FILE__, line, *needles);
				bad = 1;
			}
	}
	if (bad) {
		fprintf(stderr, "%s:%d: expected %s to fail with %s, got "
		    "rc %d:\n", __FILE__, line, path, rule, rc);
		diags_print_text(&d, stderr);
		check_failures++;
	}
	diags_free(&d);
}
#define expect_fail(p, r, ...) expect_fail_at(__LINE__, (p), (r),	\
	(const char *const []){ __VA_ARGS__, NULL })

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* A formatted needle; several live at once in one expect_fail call. */
static char *
fmt(const char *f, ...)
{
	static char buf[16][1024];
	static int i;
	va_list ap;

	i = (i + 1) % 16;
	va_start(ap, f);
	vsnprintf(buf[i], sizeof(buf[i]), f, ap);
	va_end(ap);
	return buf[i];
}

static void
test_good(void)
{
	char cwd[1024];

	make_file("good.yaml", 0644);
	expect_ok(path_of("good.yaml"));
	expect_ok(tmpdir);
	/* Read-only for everyone, and owner-only, are both fine. */
	make_file("ro.yaml", 0444);
	expect_ok(path_of("ro.yaml"));
	make_file("private.yaml", 0600);
	expect_ok(path_of("private.yaml"));

	/* A relative path is judged from the working directory. */
	if (getcwd(cwd, sizeof(cwd)) != NULL && chdir(tmpdir) == 0) {
		expect_ok("good.yaml");
		expect_ok("./good.yaml");
		CHECK(chdir(cwd) == 0);
	}
}

static void
test_writable_file(void)
{
	make_file("gw.yaml", 0664);
	expect_fail(path_of("gw.yaml"), "file-permissions",
	    fmt("%s is writable by group '", path_of("gw.yaml")),
	    fmt("' (owner %s, mode 0664)", me),
	    fmt("; run: chmod g-w %s", path_of("gw.yaml")));
	make_file("gw2.yaml", 0660);
	expect_fail(path_of("gw2.yaml"), "file-permissions",
	    fmt("writable by group '%s'", mygroup));

	make_file("ow.yaml", 0646);
	expect_fail(path_of("ow.yaml"), "file-permissions",
	    "is writable by everyone", "mode 0646",
	    fmt("run: chmod o-w %s", path_of("ow.yaml")));

	make_file("gow.yaml", 0666);
	expect_fail(path_of("gow.yaml"), "file-permissions",
	    "and by everyone", "mode 0666", "run: chmod go-w ");

	/* A path a shell would split is quoted in the fix. */
	make_file("it's here.yaml", 0664);
	expect_fail(path_of("it's here.yaml"), "file-permissions",
	    fmt("run: chmod g-w '%s/it'\\''s here.yaml'", tmpdir));
}

static void
test_dirs(void)
{
	/* World-writable without the sticky bit: anyone may replace the
	 * file, however it is owned. */
	make_dir("ww", 0777);
	make_file("ww/m.yaml", 0644);
	expect_fail(path_of("ww/m.yaml"), "file-permissions",
	    fmt("%s is writable by group '", path_of("ww")),
	    "and by everyone", fmt("(owner %s, mode 0777)", me),
	    fmt("run: chmod go-w %s", path_of("ww")));
	make_dir("ow", 0703);
	make_file("ow/m.yaml", 0644);
	expect_fail(path_of("ow/m.yaml"), "file-permissions",
	    fmt("%s is writable by everyone", path_of("ow")), "mode 0703",
	    fmt("run: chmod o-w %s", path_of("ow")));
	make_dir("gw", 0775);
	make_file("gw/m.yaml", 0644);
	expect_fail(path_of("gw/m.yaml"), "file-permissions",
	    fmt("%s is writable by group", path_of("gw")), "mode 0775",
	    fmt("run: chmod g-w %s", path_of("gw")));

	/* With the sticky bit (like /tmp), what root or the agent owns in
	 * it cannot be replaced by others. */
	make_dir("sticky", 01777);
	make_file("sticky/m.yaml", 0644);
	expect_ok(path_of("sticky/m.yaml"));
	/* ...but a sticky world-writable directory named itself would let
	 * anyone add a drop-in. */
	expect_fail(path_of("sticky"), "file-permissions",
	    "mode 1777", fmt("run: chmod go-w %s", path_of("sticky")));

	/* Several offenders: one diagnostic, one command that fixes all. */
	make_dir("gw/sub", 0757);
	make_file("gw/sub/m.yaml", 0664);
	expect_fail(path_of("gw/sub/m.yaml"), "file-permissions",
	    fmt("run: chmod g-w %s/gw/sub/m.yaml && ", tmpdir),
	    fmt("chmod o-w %s/gw/sub && ", tmpdir),
	    fmt("chmod g-w %s/gw", tmpdir));
}

static void
test_symlinks(void)
{
	/* A link is judged where it points... */
	CHECK(symlink(path_of("good.yaml"), path_of("link.yaml")) == 0);
	expect_ok(path_of("link.yaml"));
	CHECK(symlink(path_of("gw.yaml"), path_of("link-gw.yaml")) == 0);
	expect_fail(path_of("link-gw.yaml"), "file-permissions",
	    fmt("%s is writable by group", path_of("gw.yaml")));
	/* ...and where it lives: whoever can replace the link can point
	 * it at any file. */
	CHECK(symlink(path_of("good.yaml"), path_of("ww/link.yaml")) == 0);
	expect_fail(path_of("ww/link.yaml"), "file-permissions",
	    fmt("%s is writable by group", path_of("ww")));
	/* A link to a directory in the middle of the path. */
	CHECK(symlink(path_of("ww"), path_of("wwlink")) == 0);
	expect_fail(path_of("wwlink/m.yaml"), "file-permissions",
	    fmt("%s is writable", path_of("ww")));
}

static void
test_owner(void)
{
	struct passwd *pw;
	char nobody[64];

	if (geteuid() != 0) {
		CHECK_SKIP("not root: cannot give a file to another uid; "
		    "the owner cases did not run");
		return;
	}
	pw = getpwuid(65534);
	snprintf(nobody, sizeof(nobody), "%s", pw ? pw->pw_name : "65534");
	make_file("theirs.yaml", 0644);
	CHECK(chown(path_of("theirs.yaml"), 65534, (gid_t)-1) == 0);
	expect_fail(path_of("theirs.yaml"), "file-permissions",
	    fmt("%s is owned by '", path_of("theirs.yaml")),
	    fmt("owned by '%s'", nobody), fmt("(owner %s, mode 0644)", nobody),
	    "but must be owned by root",
	    fmt("run: chown root %s", path_of("theirs.yaml")));

	make_dir("theirdir", 0755);
	make_file("theirdir/m.yaml", 0664);
	CHECK(chown(path_of("theirdir"), 65534, (gid_t)-1) == 0);
	expect_fail(path_of("theirdir/m.yaml"), "file-permissions",
	    fmt("run: chmod g-w %s && ", path_of("theirdir/m.yaml")),
	    fmt("chown root %s", path_of("theirdir")));

	/* In a sticky directory, only what root or the agent owns. */
	make_file("sticky/theirs.yaml", 0644);
	CHECK(chown(path_of("sticky/theirs.yaml"), 65534, (gid_t)-1) == 0);
	expect_fail(path_of("sticky/theirs.yaml"), "file-permissions",
	    fmt("owned by '%s'", nobody));

	/* Another owner and writable: both fixes. */
	make_file("theirs-gw.yaml", 0664);
	CHECK(chown(path_of("theirs-gw.yaml"), 65534, (gid_t)-1) == 0);
	expect_fail(path_of("theirs-gw.yaml"), "file-permissions",
	    fmt("owned by '%s' and writable by group", nobody),
	    fmt("run: chown root %s && chmod g-w", path_of("theirs-gw.yaml")));

	/* A link owned by someone else can be swapped by them. */
	CHECK(symlink(path_of("good.yaml"), path_of("theirlink.yaml")) == 0);
	CHECK(lchown(path_of("theirlink.yaml"), 65534, (gid_t)-1) == 0);
	expect_fail(path_of("theirlink.yaml"), "file-permissions",
	    "(a symlink) is owned by",
	    fmt("chown -h root %s", path_of("theirlink.yaml")));
}

static void
test_io_error(void)
{
	expect_fail(path_of("missing.yaml"), "io-error",
	    "No such file or directory", "missing.yaml");
	expect_fail(path_of("good.yaml/x"), "io-error", "Not a directory");
}

int
main(void)
{
	struct diags d;
	struct passwd *pw;
	struct group *gr;
	char cmd[600];
	int rc;

	umask(022);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	pw = getpwuid(geteuid());
	snprintf(me, sizeof(me), "%s", pw ? pw->pw_name : "?");
	gr = getgrgid(getegid());
	snprintf(mygroup, sizeof(mygroup), "%s", gr ? gr->gr_name : "?");

	/* The tree lives under /tmp: if the machine's own /tmp chain is
	 * unsafe, every case would fail for a reason not under test. */
	diags_init(&d);
	rc = perm_check(tmpdir, DIAG_ERROR, &d);
	diags_free(&d);
	if (rc != 0) {
		CHECK_SKIP("the temp directory itself fails perm_check; fix "
		    "/tmp's permissions (1777, owned by root)");
		rc = 77;
		goto out;
	}
	test_good();
	test_writable_file();
	test_dirs();
	test_symlinks();
	test_owner();
	test_io_error();
	rc = check_done();
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
