/* test_state.c - recorded state: round trip, last-known-good copies, and
 * kill -9 safety (a writer SIGKILLed at a random instant leaves a store
 * that opens, passes SQLite's integrity check, and holds at least the
 * last transaction the writer saw committed). */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "spec.h"
#include "state.h"
#include "util.h"

static int failures;

#define CHECK(cond, what) do {						\
	if (!(cond)) {							\
		printf("FAIL %s (line %d)\n", what, __LINE__);		\
		failures++;						\
	} else								\
		printf("ok   %s\n", what);				\
} while (0)

static struct state *
open_or_die(const char *dir)
{
	struct state *st;
	char *err;

	if (state_open(dir, &st, &err) != 0) {
		printf("FAIL state_open: %s\n", err);
		free(err);
		exit(1);
	}
	return st;
}

static void
test_roundtrip(const char *dir)
{
	struct state *st = open_or_die(dir);
	struct state_set s, *v;
	struct state_file f[2];
	bk_guid g1 = { { 1, 2, 3 } }, g2 = { { 9 } };
	size_t n, len;
	void *data;
	char **names;

	memset(&s, 0, sizeof(s));
	s.name = (char *)"b-set";
	s.spec_hash = (char *)"ab";
	s.manifest_file = (char *)"/etc/bitsync/manifest.d/b.yaml";
	s.on_remove = 1;
	s.last_success = 1700000000;
	s.last_check = 1700000001;
	s.last_error = (char *)"HTTP 404";
	s.last_error_code = (int32_t)0x80190194;
	s.last_error_context = 5;
	s.attempts = 3;
	s.next_retry = 1700000600;
	s.remote_changed = 1;
	s.create_pending = 1699999999;
	CHECK(state_put_set(st, &s) == 0, "put set");
	s.name = (char *)"a-set";
	s.spec_hash = NULL;
	s.last_error = NULL;
	CHECK(state_put_set(st, &s) == 0, "put second set");
	memset(f, 0, sizeof(f));
	f[0].local = (char *)"/srv/z";
	f[0].remote = (char *)"https://h/z";
	f[0].size = 10;
	f[0].etag = (char *)"\"e1\"";
	f[0].local_size = 10;
	f[0].local_mtime_ns = 1700000000123456789LL;
	f[0].local_dev = 2049;
	f[0].local_ino = (uint64_t)1 << 40;
	f[0].has_sha256 = 1;
	memset(f[0].sha256, 0x11, 32);
	f[1].local = (char *)"/srv/a";
	f[1].size = BK_SIZE_UNKNOWN;
	f[1].last_modified = (char *)"Wed, 21 Oct 2015 07:28:00 GMT";
	CHECK(state_begin(st) == 0, "begin");
	CHECK(state_put_files(st, "b-set", f, 2) == 0, "put files in tx");
	CHECK(state_add_job(st, "b-set", &g1, "ab", 5) == 0, "add job");
	CHECK(state_add_job(st, "b-set", &g2, "ab", 4) == 0, "add job 2");
	CHECK(state_commit(st) == 0, "commit");
	CHECK(state_lkg_put(st, "/etc/m.d/a.yaml", "version: 1\n", 11, 7)
	    == 0, "lkg put");
	state_close(st);

	st = open_or_die(dir);
	CHECK(state_load(st, &v, &n) == 0 && n == 2, "load two sets");
	if (n == 2) {
		CHECK(strcmp(v[0].name, "a-set") == 0 && v[0].spec_hash == NULL,
		    "sorted by name, NULL hash kept");
		CHECK(strcmp(v[1].spec_hash, "ab") == 0 &&
		    v[1].on_remove == 1 && v[1].attempts == 3 &&
		    v[1].next_retry == 1700000600 && v[1].remote_changed &&
		    v[1].create_pending == 1699999999 &&
		    v[1].last_error_code == (int32_t)0x80190194 &&
		    v[1].last_error_context == 5 &&
		    strcmp(v[1].last_error, "HTTP 404") == 0,
		    "set fields round trip");
		CHECK(v[1].njobs == 2 && v[1].jobs[0].guid.b[0] == 9 &&
		    v[1].jobs[1].guid.b[2] == 3, "jobs, oldest first");
		CHECK(v[1].nfiles == 2 && strcmp(v[1].files[0].local,
		    "/srv/a") == 0 && v[1].files[0].size == BK_SIZE_UNKNOWN &&
		    !v[1].files[0].has_sha256 &&
		    v[1].files[1].local_mtime_ns == 1700000000123456789LL &&
		    v[1].files[1].local_dev == 2049 &&
		    v[1].files[1].local_ino == (uint64_t)1 << 40 &&
		    v[1].files[0].local_dev == 0 &&
		    v[1].files[1].has_sha256 &&
		    v[1].files[1].sha256[31] == 0x11 &&
		    strcmp(v[1].files[1].etag, "\"e1\"") == 0,
		    "files sorted by path, validators round trip");
	}
	state_free_sets(v, n);
	CHECK(state_lkg_get(st, "/etc/m.d/a.yaml", &data, &len) == 0 &&
	    len == 11 && memcmp(data, "version: 1\n", 11) == 0, "lkg get");
	free(data);
	CHECK(state_lkg_get(st, "/nope", &data, &len) == 1, "lkg absent");
	CHECK(state_lkg_list(st, &names, &n) == 0 && n == 1, "lkg list");
	while (n > 0)
		free(names[--n]);
	free(names);
	CHECK(state_lkg_delete(st, "/etc/m.d/a.yaml") == 0 &&
	    state_lkg_get(st, "/etc/m.d/a.yaml", &data, &len) == 1,
	    "lkg delete");
	CHECK(state_remove_job(st, &g1) == 0, "remove job");
	CHECK(state_delete_set(st, "b-set") == 0, "delete set");
	CHECK(state_load(st, &v, &n) == 0 && n == 1 &&
	    strcmp(v[0].name, "a-set") == 0, "deleted set gone");
	state_free_sets(v, n);
	/* A failed transaction leaves nothing behind. */
	CHECK(state_begin(st) == 0, "begin 2");
	s.name = (char *)"c-set";
	state_put_set(st, &s);
	state_rollback(st);
	CHECK(state_load(st, &v, &n) == 0 && n == 1, "rollback leaves nothing");
	state_free_sets(v, n);
	state_close(st);
}

/* Writes set-<j>'s three files, in reverse order when reverse. */
static void
put_three(struct state *st, size_t j, int reverse)
{
	struct state_file f[3];
	char name[32], loc[3][64];
	size_t k;

	memset(f, 0, sizeof(f));
	snprintf(name, sizeof(name), "set-%03zu", j);
	for (k = 0; k < 3; k++) {
		size_t kk = reverse ? 2 - k : k;

		snprintf(loc[k], sizeof(loc[k]), "/d/%s/f%zu", name, kk);
		f[k].local = loc[k];
		f[k].local_size = j * 10 + kk;
	}
	state_put_files(st, name, f, 3);
}

/* Every one of the 300 sets loaded with exactly its own files, sorted. */
static int
many_ok(struct state *st)
{
	struct state_set *v;
	char name[32], loc[64];
	size_t n, i, k;
	int ok;

	if (state_load(st, &v, &n) != 0)
		return 0;
	ok = n == 300;
	for (i = 0; i < n && ok; i++) {
		snprintf(name, sizeof(name), "set-%03zu", i);
		if (strcmp(v[i].name, name) != 0 || v[i].nfiles != 3)
			ok = 0;
		for (k = 0; ok && k < 3; k++) {
			snprintf(loc, sizeof(loc), "/d/%s/f%zu", name, k);
			if (strcmp(v[i].files[k].local, loc) != 0 ||
			    v[i].files[k].local_size != i * 10 + k)
				ok = 0;
		}
	}
	state_free_sets(v, n);
	return ok;
}

/* Many sets, recorded in another order than their names: the load hands
 * every set exactly its own files, sorted, and skips file rows of a set
 * that has no row of its own -- both when each set's rows lie together
 * and sorted in the table (as apply writes them) and when they do not. */
static void
test_many(const char *dir)
{
	struct state *st = open_or_die(dir);
	struct state_set s;
	struct state_file ghost;
	char name[32];
	size_t i;

	memset(&s, 0, sizeof(s));
	memset(&ghost, 0, sizeof(ghost));
	CHECK(state_begin(st) == 0, "many: begin");
	for (i = 0; i < 300; i++) {
		size_t j = (i * 7) % 300;	/* not in name order */

		snprintf(name, sizeof(name), "set-%03zu", j);
		s.name = name;
		s.spec_hash = (char *)"h";
		state_put_set(st, &s);
		put_three(st, j, 0);
	}
	ghost.local = (char *)"/d/ghost/f0";
	state_put_files(st, "ghost", &ghost, 1);
	CHECK(state_commit(st) == 0, "many: commit");
	CHECK(many_ok(st), "many: each set its own files (table in order)");
	put_three(st, 7, 1);
	CHECK(many_ok(st), "many: each set its own files, sorted (one set's "
	    "rows out of order)");
	state_close(st);
}

/* The child records set "k" with attempts = i in a loop, each write one
 * transaction with its files and job, and tells the parent every i it
 * saw committed. */
static void
writer(const char *dir, int fd)
{
	struct state *st = open_or_die(dir);
	struct state_set s;
	struct state_file f;
	bk_guid g;
	unsigned i;

	memset(&s, 0, sizeof(s));
	memset(&f, 0, sizeof(f));
	s.name = (char *)"k";
	s.spec_hash = (char *)"h";
	f.local = (char *)"/srv/k";
	for (i = 1;; i++) {
		s.attempts = i;
		f.local_size = i;
		memset(&g, 0, sizeof(g));
		memcpy(g.b, &i, sizeof(i));
		if (state_begin(st) != 0 || state_put_set(st, &s) != 0 ||
		    state_put_files(st, "k", &f, 1) != 0 ||
		    state_add_job(st, "k", &g, "h", i) != 0 ||
		    state_commit(st) != 0)
			_exit(2);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(3);
	}
}

static int
integrity_ok(const char *dir)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	char *path = xasprintf("%s/state.db", dir);
	int ok = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_prepare_v2(db, "PRAGMA integrity_check",
	    -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(path);
	return ok;
}

static void
test_kill9(const char *dir, int rounds)
{
	int r, bad = 0;
	unsigned long total = 0;

	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (r = 0; r < rounds; r++) {
		int p[2];
		pid_t pid;
		unsigned seen = 0, v;
		struct timespec ts;
		struct state *st;
		struct state_set *sets, *k;
		size_t n, i;

		if (pipe(p) == -1)
			exit(1);
		if ((pid = fork()) == 0) {
			close(p[0]);
			writer(dir, p[1]);
		}
		close(p[1]);
		/* Let it commit a while, then kill it at a random instant. */
		ts.tv_sec = 0;
		ts.tv_nsec = 30000000 + (rand() % 170) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		while (read(p[0], &v, sizeof(v)) == sizeof(v))
			seen = v;
		close(p[0]);

		if (!integrity_ok(dir)) {
			printf("FAIL round %d: integrity check\n", r);
			bad++;
			continue;
		}
		st = open_or_die(dir);
		k = NULL;
		if (state_load(st, &sets, &n) == 0)
			for (i = 0; i < n; i++)
				if (strcmp(sets[i].name, "k") == 0)
					k = &sets[i];
		if (k == NULL ? seen != 0 : (k->attempts < seen ||
		    k->attempts > seen + 1 || k->nfiles != 1 ||
		    k->files[0].local_size != k->attempts || k->njobs < 1 ||
		    k->jobs[k->njobs - 1].created != k->attempts)) {
			printf("FAIL round %d: saw %u committed, store has "
			    "%u\n", r, seen, k ? k->attempts : 0);
			bad++;
		}
		total += seen;
		state_free_sets(sets, n);
		/* Start each round from an empty set k. */
		state_delete_set(st, "k");
		state_close(st);
	}
	if (bad)
		failures++;
	else
		printf("ok   kill -9 at a random instant, %d rounds, %lu "
		    "commits: store opens, intact, last commit kept\n",
		    rounds, total);
}

/* A store written before files recorded device and inode opens, keeps
 * its rows (identity 0: unknown) and records identities from then on. */
static void
test_migrate(const char *dir)
{
	char *path = xasprintf("%s/state.db", dir);
	struct state_set *v = NULL;
	struct state_file f;
	struct state *st;
	sqlite3 *db;
	size_t n = 0;

	CHECK(mkdir(dir, 0700) == 0, "migrate dir");
	CHECK(sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db,
	    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	    "INSERT INTO meta VALUES('schema_version', '1');"
	    "CREATE TABLE files(set_name TEXT NOT NULL, local TEXT NOT NULL,"
	    " remote TEXT, size INTEGER, mtime INTEGER, etag TEXT,"
	    " last_modified TEXT, local_size INTEGER, local_mtime_ns INTEGER,"
	    " sha256 TEXT, PRIMARY KEY(set_name, local));"
	    "INSERT INTO files(set_name, local, local_size) "
	    "VALUES('s', '/srv/old', 7);", NULL, NULL, NULL) == SQLITE_OK,
	    "old store written");
	sqlite3_close(db);
	st = open_or_die(dir);
	memset(&f, 0, sizeof(f));
	f.local = (char *)"/srv/new";
	f.local_dev = 5;
	f.local_ino = 6;
	CHECK(state_put_files(st, "t", &f, 1) == 0, "put after migration");
	state_close(st);
	st = open_or_die(dir);
	CHECK(state_load(st, &v, &n) == 0, "load migrated");
	state_free_sets(v, n);
	state_close(st);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db,
	    "SELECT 1 FROM files WHERE local='/srv/old' AND local_dev=0 AND "
	    "local_size=7", NULL, NULL, NULL) == SQLITE_OK, "old row kept");
	{
		sqlite3_stmt *q = NULL;

		CHECK(sqlite3_prepare_v2(db, "SELECT local_dev, local_ino FROM "
		    "files WHERE local='/srv/new'", -1, &q, NULL) ==
		    SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
		    sqlite3_column_int64(q, 0) == 5 &&
		    sqlite3_column_int64(q, 1) == 6, "identity recorded");
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	free(path);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/bitsync-state-XXXXXX";
	char *dir, *cmd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((dir = mkdtemp(tmpl)) == NULL)
		return 1;
	test_roundtrip(dir);
	cmd = xasprintf("%s/migrate", dir);
	test_migrate(cmd);
	free(cmd);
	cmd = xasprintf("%s/many", dir);
	test_many(cmd);
	free(cmd);
	test_kill9(dir, argc > 1 ? atoi(argv[1]) : 20);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", dir);
	free(cmd);
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
