/* test_ytree.c - the reader's refusals and limits, which fixtures cannot
 * show well: sizes past 16 MiB (file, buffer, pipe), nesting depth, the
 * memory a billion-laughs document costs, type resolution, positions. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util.h"
#include "ytree.h"

static size_t
count_rule(const struct diags *d, const char *rule)
{
	size_t i, n = 0;

	for (i = 0; i < d->n; i++)
		n += strcmp(d->v[i].rule, rule) == 0;
	return n;
}

/* Nine levels of nine aliases: expanded it would hold 9^9 (387 million)
 * strings; refused, the tree must stay tiny and no alias be expanded. */
static void
test_billion_laughs(void)
{
	char *buf = xmalloc(8192), *p = buf;
	struct ydoc *doc;
	struct diags d;
	int lvl, i;

	p += sprintf(p, "version: 1\nl0: &l0 [lol, lol, lol, lol, lol, lol, "
	    "lol, lol, lol]\n");
	for (lvl = 1; lvl < 10; lvl++) {
		p += sprintf(p, "l%d: &l%d [", lvl, lvl);
		for (i = 0; i < 9; i++)
			p += sprintf(p, "%s*l%d", i ? ", " : "", lvl - 1);
		p += sprintf(p, "]\n");
	}
	diags_init(&d);
	doc = ydoc_load_buffer("laughs.yaml", buf, strlen(buf), &d);
	CHECK_INT(count_rule(&d, "yaml-feature"), 10 + 9 * 9);
	CHECK(arena_bytes(doc->arena) <= 64 * 1024);
	CHECK(doc->has_root);
	CHECK_INT(doc->root.u.pairs[2].value.u.items[0].kind, YN_REFUSED);
	ydoc_free(doc);
	diags_free(&d);
	free(buf);
}

static void
test_depth(void)
{
	char buf[4096], *p = buf;
	struct ydoc *doc;
	struct diags d;
	int i;

	/* Exactly the limit is fine; one more is refused. */
	for (i = 0; i < YTREE_MAX_DEPTH; i++)
		*p++ = '[';
	for (i = 0; i < YTREE_MAX_DEPTH; i++)
		*p++ = ']';
	*p = '\0';
	diags_init(&d);
	doc = ydoc_load_buffer("ok.yaml", buf, strlen(buf), &d);
	CHECK_INT(d.n, 0);
	CHECK(doc->has_root && !doc->refused);
	ydoc_free(doc);
	diags_free(&d);

	p = buf;
	for (i = 0; i < 100; i++)
		*p++ = '[';
	for (i = 0; i < 100; i++)
		*p++ = ']';
	*p = '\0';
	diags_init(&d);
	doc = ydoc_load_buffer("deep.yaml", buf, strlen(buf), &d);
	CHECK_INT(d.n, 1);
	CHECK_STR(d.v[0].rule, "yaml-feature");
	CHECK_INT(d.v[0].col, YTREE_MAX_DEPTH + 1);
	CHECK(doc->refused && !doc->has_root);
	ydoc_free(doc);
	diags_free(&d);
}

/* A regular file over the limit is refused from its size alone; a pipe
 * is counted while read. */
static void
test_size_limits(void)
{
	char path[] = "/tmp/bitsync-ytree-XXXXXX";
	size_t big = YTREE_MAX_BYTES + 1, off;
	char *buf = xmalloc(big);
	struct ydoc *doc;
	struct diags d;
	int fd, pfd[2], status;
	pid_t pid;

	/* Valid YAML all the way, so only the size can refuse it. */
	memset(buf, ' ', big);
	memcpy(buf, "version: 1\n#", 12);
	buf[big - 1] = '\n';

	diags_init(&d);
	doc = ydoc_load_buffer("big.yaml", buf, big, &d);
	CHECK_INT(count_rule(&d, "yaml-feature"), 1);
	CHECK(doc->refused);
	ydoc_free(doc);
	diags_free(&d);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, buf, big) == (ssize_t)big);
	close(fd);
	diags_init(&d);
	doc = ydoc_load_file(path, &d);
	CHECK_INT(count_rule(&d, "yaml-feature"), 1);
	CHECK_HAS(d.n ? d.v[0].message : NULL, "16 MiB");
	CHECK(doc->refused);
	ydoc_free(doc);
	diags_free(&d);
	unlink(path);

	CHECK(pipe(pfd) == 0);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);
		for (off = 0; off < big; ) {
			ssize_t w = write(pfd[1], buf + off, big - off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		_exit(0);
	}
	close(pfd[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", pfd[0]);
	diags_init(&d);
	doc = ydoc_load_file(path, &d);
	CHECK_INT(count_rule(&d, "yaml-feature"), 1);
	CHECK(doc->refused);
	ydoc_free(doc);
	diags_free(&d);
	close(pfd[0]);
	waitpid(pid, &status, 0);
	free(buf);
}

static void
test_types_and_positions(void)
{
	static const char text[] =
	    "a: 1\n"
	    "b: '1'\n"
	    "c: !!str 1\n"
	    "d: ~\n"
	    "e: true\n"
	    "f: 1.5\n"
	    "g: yes\n"	/* YAML 1.2: a string, not YAML 1.1's boolean */
	    "h: 0x1F\n"
	    "  # comment\n"
	    "i:\n"
	    "  - x\n"
	    /* the YAML 1.2 core schema's corners (first characters decide
	     * what is looked at) */
	    "j: 0o17\n" "k: 0o19\n" "l: -3\n" "m: +.inf\n" "n: .NaN\n"
	    "o: Null\n" "p: nullx\n" "q: FALSE\n" "r: tRUE\n" "s: 1e5\n"
	    "t: 0xG\n" "u: -a\n" "v: 1.2.3\n" "w: n\n" "x: ~x\n"
	    "y: 0xaBc\n" "z: .5\n";
	static const struct { const char *key; int type; } want[] = {
		{ "a", YS_INT }, { "b", YS_STR }, { "c", YS_STR },
		{ "d", YS_NULL }, { "e", YS_BOOL }, { "f", YS_FLOAT },
		{ "g", YS_STR }, { "h", YS_INT },
		{ "j", YS_INT }, { "k", YS_STR }, { "l", YS_INT },
		{ "m", YS_FLOAT }, { "n", YS_FLOAT }, { "o", YS_NULL },
		{ "p", YS_STR }, { "q", YS_BOOL }, { "r", YS_STR },
		{ "s", YS_FLOAT }, { "t", YS_STR }, { "u", YS_STR },
		{ "v", YS_STR }, { "w", YS_STR }, { "x", YS_STR },
		{ "y", YS_INT }, { "z", YS_FLOAT },
	};
	const struct ynode *i_node;
	struct ydoc *doc;
	struct diags d;
	size_t k;

	diags_init(&d);
	doc = ydoc_load_buffer("t.yaml", text, strlen(text), &d);
	CHECK_INT(d.n, 0);
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		const struct ynode *v = ynode_get(&doc->root, want[k].key);

		CHECK(v != NULL);
		if (v != NULL)
			CHECK_INT(v->type, want[k].type);
	}
	i_node = ynode_get(&doc->root, "i");
	CHECK(i_node != NULL && i_node->kind == YN_SEQ);
	if (i_node != NULL) {
		CHECK_INT(i_node->u.items[0].line, 11);
		CHECK_INT(i_node->u.items[0].col, 5);
		CHECK_INT(ynode_key_of(i_node)->line, 10);
	}
	ydoc_free(doc);
	diags_free(&d);
}

int
main(void)
{
	test_billion_laughs();
	test_depth();
	test_size_limits();
	test_types_and_positions();
	return check_done();
}
