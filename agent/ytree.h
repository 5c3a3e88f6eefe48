/* ytree.h - the manifest reader: one YAML file in, one positioned tree out.
 *
 * Built on libyaml's event parser.  Refuses, with yaml-feature diagnostics,
 * what the manifest format forbids: anchors, aliases (never expanded),
 * merge keys, tags other than the YAML core ones, more than one document,
 * files over 16 MiB and nesting deeper than 64.  Reports duplicate keys in
 * a mapping (duplicate-key) and malformed YAML (yaml-syntax).
 *
 * Every node carries its line and column; nodes live in one arena owned by
 * the document, so a tree is freed in one call. */
#ifndef BITSYNC_YTREE_H
#define BITSYNC_YTREE_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define YTREE_MAX_BYTES (16u * 1024 * 1024)
#define YTREE_MAX_DEPTH 64

enum ynode_kind {
	YN_SCALAR,
	YN_MAP,
	YN_SEQ,
	YN_REFUSED	/* an alias or a refused construct, already reported */
};

/* The type a scalar resolves to under the YAML 1.2 core schema. */
enum yscalar_type { YS_STR, YS_INT, YS_BOOL, YS_NULL, YS_FLOAT };

struct ypair;

/* 20 bytes, 4-byte aligned: a 10,000-set manifest holds some 190,000
 * nodes, and natural alignment would make each 24. */
struct __attribute__((packed, aligned(4))) ynode {
	uint8_t kind;		/* enum ynode_kind */
	uint8_t type;		/* enum yscalar_type, scalars only */
	uint32_t line, col;	/* 1-based */
	uint32_t n;		/* scalar: bytes; map: pairs; seq: items */
	union {
		const char *s;		/* scalar text, NUL-terminated */
		struct ynode *items;	/* YN_SEQ */
		struct ypair *pairs;	/* YN_MAP */
	} u;
};

struct ypair {
	struct ynode key, value;
};

struct ydoc {
	char *file;		/* the path as given, for diagnostics */
	int has_root;		/* 0 for an empty file or one of comments */
	int refused;		/* the file hit a limit and was not read whole */
	struct ynode root;
	struct arena *arena;
	int own_arena;		/* freed by ydoc_free, or the caller's */
};

/* A tree takes about 2.25 bytes of arena per byte of YAML (measured on
 * generated manifests of 1,000 to 100,000 sets). */
#define YTREE_BYTES_PER_BYTE 2.25

/* Reads and parses one file.  Always returns a document (possibly empty or
 * partial) unless memory runs out; problems go to d.  A file that cannot be
 * opened or read gives an io-error diagnostic and a document with no root. */
struct ydoc *ydoc_load_file(const char *path, struct diags *d);

/* The same into a caller's arena, which outlives the document (ydoc_free
 * leaves it alone), after reserving reserve bytes of it per byte of the
 * file: for a caller that builds more from the tree in the same arena. */
struct ydoc *ydoc_load_file_in(const char *path, struct arena *a,
    double reserve, struct diags *d);

/* The same over a buffer (fuzzing, tests); name is used in diagnostics. */
struct ydoc *ydoc_load_buffer(const char *name, const void *buf, size_t len,
    struct diags *d);
/* Both: a buffer into a caller's arena (a manifest read once, hashed and
 * parsed from the same bytes). */
struct ydoc *ydoc_load_buffer_in(const char *name, const void *buf,
    size_t len, struct arena *a, double reserve, struct diags *d);

void ydoc_free(struct ydoc *doc);

/* The key of a value that sits in a mapping (container_of on its pair):
 * diagnostics about a mapping-valued key point at the key, where the
 * admin looks, not at the first line inside it. */
static inline const struct ynode *
ynode_key_of(const struct ynode *value)
{
	return &((const struct ypair *)(const void *)((const char *)value -
	    offsetof(struct ypair, value)))->key;
}

/* The value of key in a mapping node, or NULL. */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* The value of a YS_INT scalar in any of the core schema's notations
 * (decimal, 0o octal, 0x hex); saturates far outside int range. */
long long ynode_int(const struct ynode *n);

/* Human names for messages: "a string", "a mapping", "a list", ... */
const char *ynode_describe(const struct ynode *n);

/* A bump allocator for trees and models: many small objects, freed at once. */
struct arena *arena_new(void);
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);	/* zeroed */
/* Room for about n more bytes in one populated chunk (ignored below
 * 2 MiB): for callers that know how big they will get. */
void arena_reserve(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);
size_t arena_bytes(const struct arena *a);

#endif
