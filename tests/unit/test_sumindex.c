/* test_sumindex.c - the index file parser (agent/sumindex.c). */
#include "check.h"
#include "sumindex.h"

#define H1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H2 "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"

static int
parse(const char *s, size_t max, struct sumindex *ix)
{
	return sumindex_parse(s, strlen(s), max, ix);
}

int
main(void)
{
	struct sumindex ix;

	/* GNU text and binary mode, BSD tags, comments, CRLF. */
	CHECK_INT(parse(H1 "  a.iso\n" H2 " *dir/b c.iso\r\n# note\n\n"
	    "SHA256 (x (1)) = y.iso) = " H1 "\n", 10, &ix), 0);
	CHECK_INT(ix.n, 3);
	if (ix.n == 3) {
		CHECK_STR(ix.v[0].path, "a.iso");
		CHECK_INT(ix.v[0].sha256[0], 0xe3);
		CHECK_STR(ix.v[1].path, "dir/b c.iso");
		CHECK_INT(ix.v[1].sha256[0], 0x2c);
		CHECK_INT(ix.v[1].line, 2);
		CHECK_STR(ix.v[2].path, "x (1)) = y.iso");
	}
	sumindex_free(&ix);
	/* No trailing newline. */
	CHECK_INT(parse(H1 "  last", 10, &ix), 0);
	CHECK_INT(ix.n, 1);
	sumindex_free(&ix);
	/* sha256sum's escaped names. */
	CHECK_INT(parse("\\" H1 "  a\\\\b\n", 10, &ix), 0);
	CHECK(ix.n == 1 && strcmp(ix.v[0].path, "a\\b") == 0);
	sumindex_free(&ix);
	CHECK_INT(parse("\\" H1 "  a\\nb\n", 10, &ix), -1);	/* newline: control */
	CHECK_INT(ix.bad_line, 1);
	sumindex_free(&ix);
	/* Bad lines refuse the whole index and say which line. */
	CHECK_INT(parse(H1 "  a\nnot a line\n", 10, &ix), -1);
	CHECK_INT(ix.bad_line, 2);
	CHECK_INT(ix.n, 0);
	CHECK(ix.bad_why != NULL);
	sumindex_free(&ix);
	CHECK_INT(parse(H1 " a\n", 10, &ix), -1);	/* one space */
	sumindex_free(&ix);
	CHECK_INT(parse("zz" H1 "  a\n", 10, &ix), -1);
	sumindex_free(&ix);
	CHECK_INT(parse(H1 "  \n", 10, &ix), -1);	/* empty name */
	sumindex_free(&ix);
	CHECK_INT(parse(H1 "  a\tb\n", 10, &ix), -1);	/* control char */
	sumindex_free(&ix);
	CHECK_INT(parse("SHA256 (a) = 12\n", 10, &ix), -1);
	sumindex_free(&ix);
	/* Over max: refused. */
	CHECK_INT(parse(H1 "  a\n" H1 "  b\n" H1 "  c\n", 2, &ix), -1);
	CHECK_INT(ix.bad_line, 3);
	sumindex_free(&ix);
	/* NUL inside a name. */
	CHECK_INT(sumindex_parse(H1 "  a\0b\n", 64 + 2 + 4, 10, &ix), -1);
	sumindex_free(&ix);
	return check_done();
}
