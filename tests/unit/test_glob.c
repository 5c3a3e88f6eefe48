/* test_glob.c - the folder-set glob matcher (agent/glob.c). */
#include "check.h"
#include "glob.h"

static void
match(void)
{
	CHECK(glob_match("*.bin", "a.bin", 0));
	CHECK(!glob_match("*.bin", "sub/a.bin", 0));	/* one component */
	CHECK(glob_match("**/*.bin", "a.bin", 0));	/* ** is zero or more */
	CHECK(glob_match("**/*.bin", "x/y/z/a.bin", 0));
	CHECK(!glob_match("**/*.bin", "x/y/a.pdb", 0));
	CHECK(glob_match("**\\*.bin", "x\\y/a.bin", 0));	/* both separators */
	CHECK(glob_match("tools/**", "tools/a/b", 0));
	CHECK(!glob_match("tools/**", "other/a", 0));
	CHECK(glob_match("a/**/b/*.dll", "a/x/y/b/c.dll", 0));
	CHECK(glob_match("a/**/b/*.dll", "a/b/c.dll", 0));
	CHECK(!glob_match("a/**/b/*.dll", "a/x/c.dll", 0));
	CHECK(glob_match("?.txt", "a.txt", 0));
	CHECK(!glob_match("?.txt", "ab.txt", 0));
	CHECK(glob_match("?.txt", "\xc3\xa9.txt", 0));	/* one UTF-8 char */
	CHECK(glob_match("[a-c]x", "bx", 0));
	CHECK(!glob_match("[a-c]x", "dx", 0));
	CHECK(glob_match("[!a-c]x", "dx", 0));
	CHECK(glob_match("[^a-c]x", "dx", 0));
	CHECK(glob_match("[]]x", "]x", 0));
	CHECK(glob_match("[x", "[x", 0));	/* unclosed: literal */
	CHECK(glob_match("README.txt", "README.txt", 0));
	CHECK(!glob_match("README.txt", "readme.txt", 0));
	CHECK(glob_match("README.txt", "readme.txt", GLOB_FOLD));
	CHECK(glob_match("*.BIN", "x.bin", GLOB_FOLD));
	CHECK(glob_match("[A-C]x", "bX", GLOB_FOLD));
	CHECK(glob_match("a*b*c*d", "aXbYcZd", 0));
	CHECK(!glob_match("a*b*c*d", "aXbYcZ", 0));
	CHECK(glob_match("*", "with space.bin", 0));
	CHECK(!glob_match("*", "", 0));
	/* Pathological: no exponential backtracking. */
	CHECK(!glob_match("**/**/**/**/**/**/**/**/**/**/**/b",
	    "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/c", 0));
	CHECK(!glob_match("*a*a*a*a*a*a*a*a*a*a*b",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", 0));
}

static void
enter(void)
{
	CHECK(glob_may_enter("**/*.bin", "a/b", 0));
	CHECK(glob_may_enter("tools/*.exe", "tools", 0));
	CHECK(!glob_may_enter("tools/*.exe", "other", 0));
	CHECK(!glob_may_enter("tools/*.exe", "tools/sub", 0));
	CHECK(!glob_may_enter("*.exe", "sub", 0));
	CHECK(glob_may_enter("a/**/b", "a/x/y", 0));
	CHECK(glob_may_enter("*/x.dll", "anything", 0));
}

static void
checks(void)
{
	CHECK(glob_check("**/*.bin") == NULL);
	CHECK(glob_check("a/b/[ab].txt") == NULL);
	CHECK(glob_check("") != NULL);
	CHECK(glob_check("/etc/*") != NULL);
	CHECK(glob_check("\\x") != NULL);
	CHECK(glob_check("C:\\x") != NULL);
	CHECK(glob_check("a/../b") != NULL);
	CHECK(glob_check("..\\b") != NULL);
	CHECK(glob_check("**.dll") != NULL);
	CHECK(glob_check("a\001b") != NULL);
	CHECK_INT(glob_depth("a/b/*.c"), 3);
	CHECK_INT(glob_depth("a/**/c"), -1);
}

int
main(void)
{
	match();
	enter();
	checks();
	return check_done();
}
