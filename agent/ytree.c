/* ytree.c - libyaml events to a positioned tree, refusing what the
 * manifest format forbids.
 *
 * Why events and not yaml_parser_load(): the document loader expands
 * nothing either, but it builds libyaml's own node graph (about 15 bytes of
 * heap per byte of input here) and resolves aliases into shared nodes that
 * every consumer would have to guard against.  Building our own compact
 * tree from events costs one pass, keeps memory near the input size, and
 * lets us refuse an alias the moment we see it. */
#include "ytree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <yaml.h>

#include "util.h"

#define RULE_SYNTAX	"yaml-syntax"
#define RULE_FEATURE	"yaml-feature"
#define RULE_DUPKEY	"duplicate-key"
#define RULE_IO		"io-error"

/* Maps with more keys than this detect duplicates with a hash set; below
 * it a linear scan is cheaper than hashing. */
#define DUPKEY_LINEAR_MAX 8

/* ---- arena ---------------------------------------------------------- */

struct chunk {
	struct chunk *next;
	size_t used, size;
	int mapped;		/* from mmap, not malloc */
	void *data[];		/* pointer-aligned: nodes hold pointers */
};

struct arena {
	struct chunk *head;
	size_t bytes;
};

struct arena *
arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

/* Big chunks come from mmap with MAP_POPULATE: the kernel fills all
 * their pages in one call instead of one fault per page as the tree is
 * written, which on a virtual machine (where a fault traps to the
 * hypervisor) was most of validate's time at 10,000 sets.  Small chunks,
 * the common case for small manifests, stay with malloc. */
#define CHUNK_MMAP_MIN (256u * 1024)
#define HUGE_PAGE (2u * 1024 * 1024)

/* A chunk for a whole big tree or model, backed by transparent huge
 * pages where the kernel offers them (madvise mode is Debian's default):
 * on a virtual machine every page-table update is expensive, and a huge
 * page is one entry for 512 pages.  The mapping starts on a huge-page
 * boundary so every whole 2 MiB inside it can be one; the tail beyond the
 * last boundary stays in small pages, so memory follows use (a huge page
 * is resident in full at its first touch).  Nothing is populated ahead:
 * what is never used costs nothing.  NULL where this is not possible;
 * the caller then takes the plain path. */
static struct chunk *
chunk_new_huge(size_t bytes)
{
#if defined(MADV_HUGEPAGE)
	char *p, *a;

	p = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) &
	    ~(uintptr_t)(HUGE_PAGE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + bytes, (size_t)(p + HUGE_PAGE - a));
	(void)madvise(a, bytes, MADV_HUGEPAGE);
	return (struct chunk *)(void *)a;
#else
	(void)bytes;
	return NULL;
#endif
}

static struct chunk *
chunk_new(size_t bytes)
{
	struct chunk *c = MAP_FAILED;

	if (bytes >= HUGE_PAGE && (c = chunk_new_huge(bytes)) != NULL) {
		c->mapped = 1;
		return c;
	}
	c = MAP_FAILED;
	if (bytes >= CHUNK_MMAP_MIN)
		c = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c == MAP_FAILED) {
		c = xmalloc(bytes);
		c->mapped = 0;
	} else
		c->mapped = 1;
	return c;
}

static void
chunk_free(struct chunk *c)
{
	if (c->mapped)
		munmap(c, sizeof(*c) + c->size);
	else
		free(c);
}

/* Strings take exactly their bytes (align 1); everything else is aligned
 * for pointers and 64-bit integers, the strictest thing the tree and the
 * model hold.  Padding every string to 16 bytes cost a third of the
 * arena on a real manifest, and memory here is time: fresh pages fault. */
static void *
arena_take(struct arena *a, size_t n, size_t al)
{
	struct chunk *c = a->head;
	void *p;

	if (c != NULL)
		c->used = (c->used + al - 1) / al * al;
	if (c == NULL || c->used > c->size || c->size - c->used < n) {
		/* Chunks grow with the arena: few allocations for big
		 * inputs, little waste for small ones; at most 512 KiB, the
		 * most a populated, partly used last chunk can waste. */
		size_t size = a->bytes / 4;

		if (size < 16384)
			size = 16384;
		if (size > 524288 - sizeof(*c))
			size = 524288 - sizeof(*c);
		if (size < n)
			size = n;
		/* A big arena grows by huge pages (see chunk_new_huge). */
		if (a->bytes >= HUGE_PAGE)
			size = (sizeof(*c) + size + HUGE_PAGE - 1) /
			    HUGE_PAGE * HUGE_PAGE - sizeof(*c);
		c = chunk_new(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->bytes += size;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

void
arena_reserve(struct arena *a, size_t n)
{
	struct chunk *c;

	if (n < HUGE_PAGE || (a->head != NULL && a->head->used <=
	    a->head->size && a->head->size - a->head->used >= n))
		return;
	/* Whole huge pages: nothing is resident before it is touched, so
	 * rounding up costs at most the unused part of the last one. */
	n = (n + sizeof(*c) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	c = chunk_new(n);
	c->size = n - sizeof(*c);
	c->used = 0;
	c->next = a->head;
	a->head = c;
	a->bytes += c->size;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	return arena_take(a, n, sizeof(uint64_t) > sizeof(void *) ?
	    sizeof(uint64_t) : sizeof(void *));
}

void *
arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	/* Mapped chunks come zeroed from the kernel and the arena never
	 * hands out a byte twice: only malloc'ed chunks need the memset
	 * (which on a big fresh mapping would touch every page for
	 * nothing). */
	if (!a->head->mapped)
		memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_take(a, n + 1, 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

void
arena_free(struct arena *a)
{
	struct chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		chunk_free(c);
	}
	free(a);
}

size_t
arena_bytes(const struct arena *a)
{
	return a->bytes;
}

/* ---- scalar resolution (YAML 1.2 core schema) ------------------------ */

/* Whether s is one or more characters, each a digit of the base (8, 10
 * or 16). */
static int
all_digits(const char *s, int base)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		int ok = base == 8 ? ch >= '0' && ch <= '7' :
		    (ch >= '0' && ch <= '9') || (base == 16 &&
		    ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f'));

		if (!ok)
			return 0;
	}
	return 1;
}

static int
is_float(const char *s)
{
	int digits = 0;

	if (*s == '-' || *s == '+')
		s++;
	if (*s == '.' && (strcmp(s, ".inf") == 0 || strcmp(s, ".Inf") == 0 ||
	    strcmp(s, ".INF") == 0))
		return 1;
	while (*s >= '0' && *s <= '9') {
		s++;
		digits++;
	}
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			s++;
			digits++;
		}
	}
	if (digits == 0)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static enum yscalar_type
resolve_plain(const char *s)
{
	const char *d = s;

	/* Most plain scalars are names and paths: only a few first
	 * characters can start a null, a boolean or a number. */
	switch (*s) {
	case '\0':
		return YS_NULL;
	case '~': case 'n': case 'N':
		return strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
		    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0 ?
		    YS_NULL : YS_STR;
	case 't': case 'T': case 'f': case 'F':
		return strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
		    strcmp(s, "TRUE") == 0 || strcmp(s, "false") == 0 ||
		    strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0 ?
		    YS_BOOL : YS_STR;
	case '.': case '-': case '+':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		break;
	default:
		return YS_STR;
	}
	if (*d == '-' || *d == '+')
		d++;
	if (all_digits(d, 10))
		return YS_INT;
	if (strncmp(s, "0o", 2) == 0 && all_digits(s + 2, 8))
		return YS_INT;
	if (strncmp(s, "0x", 2) == 0 && all_digits(s + 2, 16))
		return YS_INT;
	if (is_float(s) || strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 ||
	    strcmp(s, ".NAN") == 0)
		return YS_FLOAT;
	return YS_STR;
}

/* ---- the builder ----------------------------------------------------- */

struct frame {
	struct ynode node;	/* the collection being built */
	struct ynode *kids;	/* children so far (map: key, value, ...) */
	size_t n, cap;
	/* The previous collection at this depth left its children in kids:
	 * how many, and whether it was a mapping (see intern_key). */
	size_t prev_n;
	int prev_map;
	struct strset keys;	/* duplicate detection for big maps */
};

struct builder {
	struct ydoc *doc;
	struct diags *d;
	struct frame stack[YTREE_MAX_DEPTH + 1];
	int depth;		/* frames in use */
	int documents;
	int stop;		/* a refusal that ends reading this file */
	struct strset keys;	/* mapping keys seen: each stored once */
	FILE *fp;		/* input from a file, or */
	const unsigned char *buf;	/* from a buffer */
	size_t len;
	size_t bytes_read;
	int too_big;
	int read_errno;
};

static void
report(struct builder *b, const yaml_mark_t *m, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
report(struct builder *b, const yaml_mark_t *m, const char *rule,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(b->d, b->doc->file, (unsigned)m->line + 1,
	    (unsigned)m->column + 1, DIAG_ERROR, rule, fmt, ap);
	va_end(ap);
}

static void
check_duplicate_key(struct builder *b, struct frame *f, const struct ynode *k)
{
	const struct ynode *first = NULL;
	size_t i;

	if (k->kind != YN_SCALAR)
		return;
	if (f->n / 2 < DUPKEY_LINEAR_MAX) {
		for (i = 0; i < f->n; i += 2)
			if (f->kids[i].kind == YN_SCALAR &&
			    strcmp(f->kids[i].u.s, k->u.s) == 0) {
				first = &f->kids[i];
				break;
			}
	} else {
		const void *prev;

		/* Entering hash mode: index the keys the scan covered. */
		if (f->keys.n == 0)
			for (i = 0; i < f->n; i += 2)
				if (f->kids[i].kind == YN_SCALAR)
					strset_add(&f->keys, f->kids[i].u.s,
					    (void *)(uintptr_t)(i + 1), NULL);
		if (strset_add(&f->keys, k->u.s,
		    (void *)(uintptr_t)(f->n + 1), &prev) == 1)
			first = &f->kids[(uintptr_t)prev - 1];
	}
	if (first != NULL)
		diag_add(b->d, b->doc->file, k->line, k->col, DIAG_ERROR,
		    RULE_DUPKEY, "key '%s' appears twice in this mapping "
		    "(first at line %u); YAML parsers silently keep one: "
		    "remove one of them", k->u.s, first->line);
}

/* Appends a finished node to the collection on top of the stack, or makes
 * it the document root. */
static void
add_node(struct builder *b, const struct ynode *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->doc->root = *n;
		b->doc->has_root = 1;
		return;
	}
	f = &b->stack[b->depth - 1];
	if (f->node.kind == YN_MAP && f->n % 2 == 0)
		check_duplicate_key(b, f, n);
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->kids = xrealloc(f->kids, f->cap * sizeof(*f->kids));
	}
	f->kids[f->n++] = *n;
}

static void
refuse_anchor(struct builder *b, const yaml_mark_t *m, const yaml_char_t *a)
{
	if (a != NULL)
		report(b, m, RULE_FEATURE, "anchor '&%s' is refused: anchors "
		    "and aliases are not allowed in manifests; repeat the "
		    "value, or move shared settings to 'defaults:' or a "
		    "named source", (const char *)a);
}

/* The core schema's tags are fine (and "!" means "a string"); anything
 * else would ask the reader for semantics a manifest must not have. */
static int
check_tag(struct builder *b, const yaml_mark_t *m, const yaml_char_t *tag)
{
	static const char *const core[] = {
		YAML_STR_TAG, YAML_INT_TAG, YAML_BOOL_TAG, YAML_NULL_TAG,
		YAML_FLOAT_TAG, YAML_MAP_TAG, YAML_SEQ_TAG, "!"
	};
	size_t i;

	if (tag == NULL)
		return 0;
	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (strcmp((const char *)tag, core[i]) == 0)
			return 0;
	report(b, m, RULE_FEATURE, "tag '%s' is refused: only the YAML core "
	    "tags (!!str, !!int, !!bool, !!null, !!float, !!map, !!seq) are "
	    "allowed; remove the tag", (const char *)tag);
	return -1;
}

/* Keys repeat (name, source, files, ... once per set): one copy of each
 * saves about a tenth of a big manifest's tree.  They mostly repeat in
 * the same order, too: the key in the same place of the previous mapping
 * at this depth, still in the frame's vector, is compared before the
 * table is asked. */
static const char *
intern_key(struct builder *b, const struct frame *f, const char *v,
    size_t len)
{
	const struct ynode *same = f->n < f->prev_n && f->prev_map ?
	    &f->kids[f->n] : NULL;
	const char *s;

	if (same != NULL && same->kind == YN_SCALAR && same->n == len &&
	    memcmp(same->u.s, v, len) == 0)
		return same->u.s;
	if ((s = strset_get(&b->keys, v)) != NULL)
		return s;
	s = arena_strndup(b->doc->arena, v, len);
	if (b->keys.n < 1024)
		strset_add(&b->keys, s, s, NULL);
	return s;
}

static void
on_scalar(struct builder *b, const yaml_event_t *e)
{
	struct ynode n;
	const char *v = (const char *)e->data.scalar.value;
	size_t len = e->data.scalar.length;
	const char *tag = (const char *)e->data.scalar.tag;

	memset(&n, 0, sizeof(n));
	n.kind = YN_SCALAR;
	n.line = (uint32_t)e->start_mark.line + 1;
	n.col = (uint32_t)e->start_mark.column + 1;
	n.n = (uint32_t)len;
	refuse_anchor(b, &e->start_mark, e->data.scalar.anchor);
	if (memchr(v, '\0', len) != NULL) {
		report(b, &e->start_mark, RULE_FEATURE, "a NUL character "
		    "inside a string is refused; remove the \\0 escape");
		n.kind = YN_REFUSED;
	}
	if (check_tag(b, &e->start_mark, e->data.scalar.tag) != 0)
		n.kind = YN_REFUSED;
	if (b->depth > 0 && b->stack[b->depth - 1].node.kind == YN_MAP &&
	    b->stack[b->depth - 1].n % 2 == 0 && len < 64)
		n.u.s = intern_key(b, &b->stack[b->depth - 1], v, len);
	else
		n.u.s = arena_strndup(b->doc->arena, v, len);
	if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0)
		n.type = YS_STR;
	else if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
	    (tag != NULL && strcmp(tag, "!") != 0))
		n.type = (uint8_t)resolve_plain(n.u.s);
	else
		n.type = YS_STR;
	/* "<<" as a plain key is YAML 1.1's merge key: refused for the same
	 * reason as aliases. */
	if (n.kind == YN_SCALAR && e->data.scalar.style ==
	    YAML_PLAIN_SCALAR_STYLE && strcmp(n.u.s, "<<") == 0 &&
	    b->depth > 0 && b->stack[b->depth - 1].node.kind == YN_MAP &&
	    b->stack[b->depth - 1].n % 2 == 0) {
		report(b, &e->start_mark, RULE_FEATURE, "merge key '<<' is "
		    "refused; write the keys out, or put shared settings in "
		    "'defaults:'");
		n.kind = YN_REFUSED;
	}
	add_node(b, &n);
}

static void
on_start(struct builder *b, const yaml_event_t *e, enum ynode_kind kind,
    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	struct frame *f;

	if (b->depth == YTREE_MAX_DEPTH) {
		report(b, &e->start_mark, RULE_FEATURE, "nesting deeper than "
		    "%d levels is refused; a manifest needs at most 6",
		    YTREE_MAX_DEPTH);
		b->stop = 1;
		return;
	}
	refuse_anchor(b, &e->start_mark, anchor);
	check_tag(b, &e->start_mark, tag);
	f = &b->stack[b->depth++];
	f->prev_n = f->n;
	f->prev_map = f->node.kind == YN_MAP;
	memset(&f->node, 0, sizeof(f->node));
	f->node.kind = (uint8_t)kind;
	f->node.line = (uint32_t)e->start_mark.line + 1;
	f->node.col = (uint32_t)e->start_mark.column + 1;
	f->n = 0;
	if (f->keys.n > 0) {
		strset_free(&f->keys);
		strset_init(&f->keys, 0);
	}
}

static void
on_end(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	struct ynode n = f->node;
	size_t bytes = f->n * sizeof(struct ynode);

	/* The frame's vector is kept for the next collection at this depth;
	 * the finished children move into the arena. */
	if (n.kind == YN_MAP) {
		n.n = (uint32_t)(f->n / 2);
		n.u.pairs = f->n ? arena_alloc(b->doc->arena, bytes) : NULL;
		if (f->n)
			memcpy(n.u.pairs, f->kids, bytes);
	} else {
		n.n = (uint32_t)f->n;
		n.u.items = f->n ? arena_alloc(b->doc->arena, bytes) : NULL;
		if (f->n)
			memcpy(n.u.items, f->kids, bytes);
	}
	add_node(b, &n);
}

static void
on_alias(struct builder *b, const yaml_event_t *e)
{
	struct ynode n;

	report(b, &e->start_mark, RULE_FEATURE, "alias '*%s' is refused (it "
	    "is never expanded): anchors and aliases are not allowed in "
	    "manifests; repeat the value, or move shared settings to "
	    "'defaults:' or a named source",
	    (const char *)e->data.alias.anchor);
	memset(&n, 0, sizeof(n));
	n.kind = YN_REFUSED;
	n.line = (uint32_t)e->start_mark.line + 1;
	n.col = (uint32_t)e->start_mark.column + 1;
	add_node(b, &n);
}

/* Reader errors (bad encoding) carry a byte offset, not a mark: count
 * lines up to it, from the buffer or by reading the file again. */
static void
offset_position(const struct builder *b, size_t offset, unsigned *line,
    unsigned *col)
{
	size_t i;
	int ch;

	if (b->buf != NULL) {
		for (i = 0; i < offset && i < b->len; i++) {
			(*col)++;
			if (b->buf[i] == '\n') {
				(*line)++;
				*col = 1;
			}
		}
		return;
	}
	if (b->fp == NULL || fseek(b->fp, 0, SEEK_SET) != 0)
		return;
	for (i = 0; i < offset && (ch = getc(b->fp)) != EOF; i++) {
		(*col)++;
		if (ch == '\n') {
			(*line)++;
			*col = 1;
		}
	}
}

static void
report_parser_error(struct builder *b, const yaml_parser_t *p)
{
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "malformed YAML";

	if (b->too_big) {
		diag_add(b->d, b->doc->file, 0, 0, DIAG_ERROR, RULE_FEATURE,
		    "file is larger than 16 MiB; split it into drop-in files");
		return;
	}
	if (b->read_errno != 0) {
		diag_add(b->d, b->doc->file, 0, 0, DIAG_ERROR, RULE_IO,
		    "read failed: %s", strerror(b->read_errno));
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		unsigned line = 1, col = 1;

		offset_position(b, p->problem_offset, &line, &col);
		diag_add(b->d, b->doc->file, line, col, DIAG_ERROR, RULE_SYNTAX,
		    "%s (byte %zu); save the file as UTF-8", problem,
		    p->problem_offset);
		return;
	}
	if (p->context != NULL)
		report(b, &m, RULE_SYNTAX, "%s %s (line %zu); check the "
		    "indentation and quoting here", problem, p->context,
		    p->context_mark.line + 1);
	else
		report(b, &m, RULE_SYNTAX, "%s; check the indentation and "
		    "quoting here", problem);
}

static int
read_handler(void *data, unsigned char *buf, size_t size, size_t *got)
{
	struct builder *b = data;
	size_t n;

	n = fread(buf, 1, size, b->fp);
	if (n == 0 && ferror(b->fp)) {
		b->read_errno = errno ? errno : EIO;
		return 0;
	}
	b->bytes_read += n;
	if (b->bytes_read > YTREE_MAX_BYTES) {
		b->too_big = 1;
		return 0;
	}
	*got = n;
	return 1;
}

static void
run_parser(struct builder *b, yaml_parser_t *p)
{
	yaml_event_t e;
	int done = 0, i;

	while (!done && !b->stop) {
		if (!yaml_parser_parse(p, &e)) {
			if (p->error == YAML_MEMORY_ERROR) {
				fputs("bitsync: out of memory\n", stderr);
				exit(70);
			}
			report_parser_error(b, p);
			b->stop = 1;
			break;
		}
		switch (e.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++b->documents > 1) {
				report(b, &e.start_mark, RULE_FEATURE, "a second "
				    "YAML document is refused: one manifest per "
				    "file; move it to its own drop-in file");
				b->stop = 1;
			}
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(b, &e);
			break;
		case YAML_SEQUENCE_START_EVENT:
			on_start(b, &e, YN_SEQ, e.data.sequence_start.anchor,
			    e.data.sequence_start.tag);
			break;
		case YAML_MAPPING_START_EVENT:
			on_start(b, &e, YN_MAP, e.data.mapping_start.anchor,
			    e.data.mapping_start.tag);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			on_end(b);
			break;
		case YAML_ALIAS_EVENT:
			on_alias(b, &e);
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&e);
	}
	/* A file not read to its end is not half-trusted: no tree. */
	if (b->stop) {
		b->doc->has_root = 0;
		b->doc->refused = 1;
	}
	for (i = 0; i <= YTREE_MAX_DEPTH; i++) {
		free(b->stack[i].kids);
		strset_free(&b->stack[i].keys);
	}
	strset_free(&b->keys);
}

static struct ydoc *
new_doc(const char *name, struct arena *a)
{
	struct ydoc *doc = xcalloc(1, sizeof(*doc));

	doc->file = xstrdup(name);
	doc->own_arena = a == NULL;
	doc->arena = a != NULL ? a : arena_new();
	return doc;
}

static void
init_builder(struct builder *b, struct ydoc *doc, struct diags *d)
{
	int i;

	memset(b, 0, sizeof(*b));
	b->doc = doc;
	b->d = d;
	for (i = 0; i <= YTREE_MAX_DEPTH; i++)
		strset_init(&b->stack[i].keys, 0);
	strset_init(&b->keys, 0);
}

struct ydoc *
ydoc_load_file(const char *path, struct diags *d)
{
	return ydoc_load_file_in(path, NULL, YTREE_BYTES_PER_BYTE, d);
}

struct ydoc *
ydoc_load_file_in(const char *path, struct arena *a, double reserve,
    struct diags *d)
{
	struct ydoc *doc = new_doc(path, a);
	struct builder b;
	yaml_parser_t p;
	struct stat st;
	FILE *fp;

	fp = fopen(path, "rb");
	if (fp == NULL) {
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_IO, "cannot open: %s",
		    strerror(errno));
		doc->refused = 1;
		goto out;
	}
	/* Refuse big regular files before reading a byte; the read handler
	 * still counts, for pipes and files that grow while we read. */
	if (fstat(fileno(fp), &st) != 0)
		st.st_mode = 0;	/* unknown: read it and count */
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)YTREE_MAX_BYTES) {
		diag_add(d, path, 0, 0, DIAG_ERROR, RULE_FEATURE,
		    "file is larger than 16 MiB (%lld bytes); split it into "
		    "drop-in files", (long long)st.st_size);
		doc->refused = 1;
		goto out;
	}
	if (S_ISREG(st.st_mode))
		arena_reserve(doc->arena, (size_t)((double)st.st_size *
		    reserve));
	init_builder(&b, doc, d);
	b.fp = fp;
	if (!yaml_parser_initialize(&p)) {
		fputs("bitsync: out of memory\n", stderr);
		exit(70);
	}
	yaml_parser_set_input(&p, read_handler, &b);
	run_parser(&b, &p);
	yaml_parser_delete(&p);
out:
	if (fp != NULL)
		fclose(fp);
	return doc;
}

struct ydoc *
ydoc_load_buffer(const char *name, const void *buf, size_t len,
    struct diags *d)
{
	return ydoc_load_buffer_in(name, buf, len, NULL, YTREE_BYTES_PER_BYTE,
	    d);
}

struct ydoc *
ydoc_load_buffer_in(const char *name, const void *buf, size_t len,
    struct arena *a, double reserve, struct diags *d)
{
	struct ydoc *doc = new_doc(name, a);
	struct builder b;
	yaml_parser_t p;

	if (len > YTREE_MAX_BYTES) {
		diag_add(d, name, 0, 0, DIAG_ERROR, RULE_FEATURE,
		    "file is larger than 16 MiB; split it into drop-in files");
		doc->refused = 1;
		return doc;
	}
	arena_reserve(doc->arena, (size_t)((double)len * reserve));
	init_builder(&b, doc, d);
	b.buf = buf;
	b.len = len;
	if (!yaml_parser_initialize(&p)) {
		fputs("bitsync: out of memory\n", stderr);
		exit(70);
	}
	yaml_parser_set_input_string(&p, buf, len);
	run_parser(&b, &p);
	yaml_parser_delete(&p);
	return doc;
}

void
ydoc_free(struct ydoc *doc)
{
	if (doc == NULL)
		return;
	if (doc->own_arena)
		arena_free(doc->arena);
	free(doc->file);
	free(doc);
}

const struct ynode *
ynode_get(const struct ynode *map, const char *key)
{
	uint32_t i;

	if (map == NULL || map->kind != YN_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (map->u.pairs[i].key.kind == YN_SCALAR &&
		    strcmp(map->u.pairs[i].key.u.s, key) == 0)
			return &map->u.pairs[i].value;
	return NULL;
}

long long
ynode_int(const struct ynode *n)
{
	const char *s = n->u.s;

	if (strncmp(s, "0o", 2) == 0)
		return strtoll(s + 2, NULL, 8);
	if (strncmp(s, "0x", 2) == 0)
		return strtoll(s + 2, NULL, 16);
	return strtoll(s, NULL, 10);
}

const char *
ynode_describe(const struct ynode *n)
{
	switch (n->kind) {
	case YN_MAP:
		return "a mapping";
	case YN_SEQ:
		return "a list";
	case YN_REFUSED:
		return "a refused value";
	default:
		break;
	}
	switch (n->type) {
	case YS_INT:
		return "a number";
	case YS_FLOAT:
		return "a decimal number";
	case YS_BOOL:
		return "true/false";
	case YS_NULL:
		return "an empty value";
	default:
		return "a string";
	}
}
