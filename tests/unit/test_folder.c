/* test_folder.c - from a listing or an index to a folder set's files
 * (agent/folder.c): names a server sends, globs, limits. */
#include <stdlib.h>

#include "check.h"
#include "folder.h"

static const char *const inc_bin[] = { "**/*.bin", NULL };
static const char *const exc_pdb[] = { "**/*.pdb", NULL };

static struct mset
set_of(const char *const *inc, size_t ninc, const char *index)
{
	struct mset s;

	memset(&s, 0, sizeof(s));
	s.name = "t";
	s.folder = 1;
	s.include = inc;
	s.ninclude = ninc;
	s.exclude = exc_pdb;
	s.nexclude = 1;
	s.index = index;
	return s;
}

static void
names(void)
{
	const enum platform P = PLATFORM_POSIX, W = PLATFORM_WINDOWS;

	CHECK(folder_name_refused("a/b c/\xc3\xa9.bin", P) == NULL);
	CHECK(folder_name_refused("a/b c/\xc3\xa9.bin", W) == NULL);
	CHECK(folder_name_refused("../evil", P) != NULL);
	CHECK(folder_name_refused("..\\evil", P) != NULL);
	CHECK(folder_name_refused("sub/..\\..\\evil", P) != NULL);
	CHECK(folder_name_refused("a/./b", P) != NULL);
	CHECK(folder_name_refused("/etc/passwd", P) != NULL);
	CHECK(folder_name_refused("\\x", P) != NULL);
	CHECK(folder_name_refused("C:\\x", P) != NULL);
	CHECK(folder_name_refused("a//b", P) != NULL);
	CHECK(folder_name_refused("a/", P) != NULL);
	CHECK(folder_name_refused("", P) != NULL);
	CHECK(folder_name_refused("a\nb", P) != NULL);
	CHECK(folder_name_refused("a\x7f", P) != NULL);
	/* What only Windows cannot hold. */
	CHECK(folder_name_refused("ab:c", P) == NULL);
	CHECK(folder_name_refused("ab:c", W) != NULL);
	CHECK(folder_name_refused("what?", W) != NULL);
	CHECK(folder_name_refused("dir./x", W) != NULL);
	CHECK(folder_name_refused("x ", W) != NULL);
	CHECK(folder_name_refused("NUL", W) != NULL);
	CHECK(folder_name_refused("sub/com1.txt", W) != NULL);
	CHECK(folder_name_refused("lpt9", W) != NULL);
	CHECK(folder_name_refused("nul", P) == NULL);
	CHECK(folder_name_refused("console.txt", W) == NULL);
	CHECK(folder_name_refused("com10", W) == NULL);
}

static struct bk_entry
ent(const char *name, const char *why)
{
	struct bk_entry e;

	e.name = (char *)name;
	e.size = 3;
	e.mtime = 1700000000;
	e.why = why;
	return e;
}

static void
listing(void)
{
	struct mset s = set_of(inc_bin, 1, NULL);
	struct bk_entry v[] = { ent("a.bin", NULL), ent("sub/b.bin", NULL),
	    ent("sub/x.pdb", NULL), ent("README", NULL),
	    ent("A.BIN", NULL), ent("odd\\name.bin", "separator"),
	    ent("c\001.bin", NULL) };
	struct bk_listing l = { v, 7, 0, 0, 0 };
	struct folder_result r;
	size_t i;

	folder_from_listing(&s, &l, PLATFORM_POSIX, 100, &r);
	CHECK(r.error == NULL);
	CHECK_INT(r.nfiles, 2);		/* a.bin, sub/b.bin (*.bin: case counts) */
	CHECK_INT(r.nrefused, 2);	/* the separator, the control char */
	for (i = 0; i < r.nfiles; i++) {
		CHECK(r.files[i].listed);
		CHECK_INT(r.files[i].list_size, 3);
		CHECK_INT(r.files[i].list_mtime, 1700000000);
	}
	folder_result_free(&r);
	/* Windows: A.BIN matches too, and A.BIN and a.bin are one file
	 * there: one stays, the other is refused. */
	folder_from_listing(&s, &l, PLATFORM_WINDOWS, 100, &r);
	CHECK_INT(r.nfiles, 2);
	CHECK_INT(r.nrefused, 3);
	folder_result_free(&r);
	/* Limits: over max_set_files, and a listing cut by depth. */
	folder_from_listing(&s, &l, PLATFORM_POSIX, 1, &r);
	CHECK(r.error != NULL && strstr(r.error, "max_set_files") != NULL);
	folder_result_free(&r);
	l.over = 1;
	folder_from_listing(&s, &l, PLATFORM_POSIX, 100, &r);
	CHECK(r.error != NULL && r.nfiles == 0);
	folder_result_free(&r);
	l.over = 0;
	l.ndeep = 1;
	folder_from_listing(&s, &l, PLATFORM_POSIX, 100, &r);
	CHECK(r.error != NULL && strstr(r.error, "32") != NULL);
	folder_result_free(&r);
}

static void
index_entries(void)
{
	static const char *const inc_iso[] = { "sums/*.iso", NULL };
	const char *text =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  ./a.iso\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  ../up.iso\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  notes.txt\n";
	struct mset s = set_of(inc_iso, 1, "sums/SHA256SUMS");
	struct sumindex ix;
	struct folder_result r;

	CHECK_INT(sumindex_parse(text, strlen(text), 10, &ix), 0);
	folder_from_index(&s, &ix, PLATFORM_POSIX, &r);
	CHECK_INT(r.nfiles, 1);
	if (r.nfiles == 1) {
		CHECK_STR(r.files[0].local, "sums/a.iso");
		CHECK(r.files[0].has_sha256 && !r.files[0].listed);
		CHECK_INT(r.files[0].sha256[0], 0xe3);
	}
	CHECK_INT(r.nrefused, 1);	/* ../up.iso; notes.txt not selected */
	folder_result_free(&r);
	/* No include: every entry (the refused one still refused). */
	s = set_of(NULL, 0, "sums/SHA256SUMS");
	folder_from_index(&s, &ix, PLATFORM_POSIX, &r);
	CHECK_INT(r.nfiles, 2);
	folder_result_free(&r);
	sumindex_free(&ix);
}

/* One name twice (two index lines, "./a" and "a", "a\\b" and "a/b", a
 * listing that repeats an entry) is one local path for two files: every
 * copy refused, the rest kept, on every host. */
static void
duplicates(void)
{
	const char *text =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  a.iso\n"
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "  ./a.iso\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  d/b.iso\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  d\\b.iso\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	    "  c.iso\n";
	struct mset s = set_of(NULL, 0, "SHA256SUMS");
	struct bk_entry v[] = { ent("x.bin", NULL), ent("y.bin", NULL),
	    ent("x.bin", NULL) };
	struct bk_listing l = { v, 3, 0, 0, 0 };
	struct sumindex ix;
	struct folder_result r;

	CHECK_INT(sumindex_parse(text, strlen(text), 10, &ix), 0);
	folder_from_index(&s, &ix, PLATFORM_POSIX, &r);
	CHECK_INT(r.nfiles, 1);
	if (r.nfiles == 1)
		CHECK_STR(r.files[0].local, "c.iso");
	CHECK_INT(r.nrefused, 4);
	folder_result_free(&r);
	sumindex_free(&ix);
	s = set_of(NULL, 0, NULL);
	folder_from_listing(&s, &l, PLATFORM_POSIX, 100, &r);
	CHECK_INT(r.nfiles, 1);
	if (r.nfiles == 1)
		CHECK_STR(r.files[0].local, "y.bin");
	CHECK_INT(r.nrefused, 2);
	folder_result_free(&r);
}

int
main(void)
{
	names();
	listing();
	index_entries();
	duplicates();
	return check_done();
}
