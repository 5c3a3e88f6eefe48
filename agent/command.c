/* command.c - the on_change runner (see command.h). */
#include "command.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command_proc.h"
#include "log.h"
#include "platform.h"
#include "spec.h"
#include "util.h"

#define POLL_MS		100	/* while a run is in progress */
#define MAX_RUNNING	4	/* runs at once, over all sets */
#define LINE_MAX_BYTES	4096	/* a longer line is logged in pieces */
#define READ_PER_POLL	(1u << 20)

struct cmd_entry {
	char *set;
	char **argv;
	size_t argc;
	char *dest;		/* the destination as a local path */
	size_t trusted;		/* of dest: the allowed root's length */
	char *state_dir;
	uint64_t timeout, retry_delay;
	int64_t next_run;	/* Unix seconds */
	const char *blocked;	/* why it may not run now; NULL: may */
	int armed;		/* seen pending in the last schedule */
	/* While it runs: */
	struct cproc *proc;
	uint64_t gen;
	int64_t started, deadline_ms;
	char *changed_file;
	size_t logged;
	uint64_t dropped;
	char line[LINE_MAX_BYTES];
	size_t nline;
	int timed_out;
};

struct command_runner {
	struct cmd_entry *v;
	size_t n, cap;
	int ended;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct command_runner *
command_new(void)
{
	return xcalloc(1, sizeof(struct command_runner));
}

static void
entry_spec_free(struct cmd_entry *e)
{
	size_t i;

	for (i = 0; i < e->argc; i++)
		free(e->argv[i]);
	free(e->argv);
	free(e->dest);
	free(e->state_dir);
	e->argv = NULL;
	e->argc = 0;
	e->dest = e->state_dir = NULL;
}

static void
entry_free(struct cmd_entry *e)
{
	cproc_free(e->proc);
	if (e->changed_file != NULL)
		remove(e->changed_file);
	free(e->changed_file);
	entry_spec_free(e);
	free(e->set);
}

void
command_free(struct command_runner *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		if (r->v[i].proc != NULL)
			log_warn("event=on-change-killed set=%s pid=%ld "
			    "reason=\"the agent stops; the run stays pending "
			    "and runs again at the next start\"", r->v[i].set,
			    cproc_pid(r->v[i].proc));
		entry_free(&r->v[i]);
	}
	free(r->v);
	free(r);
}

/* ---- noting changes -------------------------------------------------- */

/* Appends s and a newline to the list unless seen already. */
static void
list_add(struct strset *seen, const char *s, char **list, size_t *len,
    size_t *cap)
{
	size_t l = strlen(s);
	const void *prev;

	/* A name with a newline would read as two. */
	if (l == 0 || strchr(s, '\n') != NULL ||
	    strset_add(seen, s, NULL, &prev) != 0)
		return;
	if (*len + l + 2 > *cap) {
		*cap = (*len + l + 2) * 2;
		*list = xrealloc(*list, *cap);
	}
	memcpy(*list + *len, s, l);
	*len += l;
	(*list)[(*len)++] = '\n';
	(*list)[*len] = '\0';
}

int
command_note_changed(struct state *st, const char *set,
    const char *const *paths, size_t n)
{
	struct state_command c;
	struct strset seen;
	char *old = NULL, *list = NULL, *p, *nl;
	size_t len = 0, cap = 0, i;
	int rc, g;

	if (n == 0)
		return 0;
	if ((g = state_command_get(st, set, &c)) == -1)
		return -1;
	if (g == 1)
		c.set = xstrdup(set);
	strset_init(&seen, 0);
	/* The paths still waiting for a run, then the new ones, each
	 * once: the program sees every change since its last success. */
	if (c.pending && c.changed != NULL)
		old = xstrdup(c.changed);
	for (p = old; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL) {
			list_add(&seen, p, &list, &len, &cap);
			break;
		}
		*nl = '\0';
		list_add(&seen, p, &list, &len, &cap);
	}
	for (i = 0; i < n; i++)
		list_add(&seen, paths[i], &list, &len, &cap);
	free(c.changed);
	c.changed = list;
	c.pending = 1;
	c.gen++;
	c.next_run = 0;		/* a new change runs at once */
	rc = state_command_put(st, &c);
	strset_free(&seen);
	free(old);
	state_command_clear(&c);
	return rc;
}

/* ---- arming ---------------------------------------------------------- */

static struct cmd_entry *
find_entry(struct command_runner *r, const char *set)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].set, set) == 0)
			return &r->v[i];
	return NULL;
}

/* The manifest's sets by name, built when a schedule first needs one:
 * 10,000 sets with pending runs must not cost 10,000 scans of the list. */
static const struct mset *
find_set(const struct manifest *m, struct strset *idx, const char *name)
{
	size_t i;

	if (m == NULL)
		return NULL;
	if (idx->cap == 0)
		for (i = 0; i < m->nsets; i++)
			if (m->sets[i].name != NULL)
				strset_add(idx, m->sets[i].name, &m->sets[i],
				    NULL);
	return strset_get(idx, name);
}

/* The allowed root dest lies under (its length), as the reconciler
 * trusts it for folder creation; 0: none, only "/" is trusted. */
static size_t
trusted_len(const struct config *cfg, const char *dest)
{
	size_t i, len, best = 0;

	for (i = 0; cfg != NULL && i < cfg->nallow_roots; i++) {
		const char *root = cfg->allow_roots[i];

		len = strlen(root);
		while (len > 1 && platform_is_sep(root[len - 1]))
			len--;
		if (len > best && strncmp(dest, root, len) == 0 &&
		    (dest[len] == '\0' || platform_is_sep(dest[len])))
			best = len;
	}
	return best;
}

static void
remove_entry(struct command_runner *r, struct cmd_entry *e)
{
	size_t i = (size_t)(e - r->v);

	entry_free(e);
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*e));
	r->n--;
}

static void start_due(struct command_runner *r, struct state *st);

void
command_schedule(struct command_runner *r, struct state *st,
    const struct manifest *m, const struct config *cfg, int retry_now,
    int whole)
{
	struct state_command *rows = NULL;
	struct cmd_entry *e;
	struct strset idx;
	size_t n = 0, i, k;

	if (state_command_list(st, &rows, &n) == -1) {
		log_error("event=on-change-state error=\"%s\"",
		    state_errmsg(st));
		return;
	}
	strset_init(&idx, 0);
	for (i = 0; i < r->n; i++)
		r->v[i].armed = 0;
	for (i = 0; i < n; i++) {
		const struct mset *ms;

		if (!rows[i].pending)
			continue;
		ms = find_set(m, &idx, rows[i].set);
		e = find_entry(r, rows[i].set);
		if (ms == NULL || ms->on_change == NULL) {
			/* The set left the manifest, or no longer asks for
			 * a command: nobody wants this run any more.  Only
			 * a manifest that validated says so (m is the model
			 * in force, last-known-good copies included). */
			if (m == NULL || !whole || (e != NULL &&
			    e->proc != NULL))
				continue;
			log_info("event=on-change-dropped set=%s reason=\"%s\"",
			    rows[i].set, ms == NULL ? "the set left the "
			    "manifest" : "the set has no on_change any more");
			rows[i].pending = 0;
			free(rows[i].changed);
			rows[i].changed = NULL;
			if (state_command_put(st, &rows[i]) == -1)
				log_error("event=on-change-state set=%s "
				    "error=\"%s\"", rows[i].set,
				    state_errmsg(st));
			continue;
		}
		if (e == NULL) {
			if (r->n == r->cap) {
				r->cap = r->cap ? r->cap * 2 : 8;
				r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
			}
			e = &r->v[r->n++];
			memset(e, 0, sizeof(*e));
			e->set = xstrdup(rows[i].set);
		}
		/* The command as the manifest now says; a run in progress
		 * keeps what it was started with (its own argv copy lives
		 * in the child). */
		entry_spec_free(e);
		e->argv = xcalloc(ms->on_change->argc, sizeof(*e->argv));
		for (k = 0; k < ms->on_change->argc; k++)
			e->argv[k] = xstrdup(ms->on_change->argv[k]);
		e->argc = ms->on_change->argc;
		e->dest = spec_local_path(ms->destination, "",
		    model_host_platform());
		e->trusted = trusted_len(cfg, e->dest);
		e->state_dir = xstrdup(cfg->state_dir);
		e->timeout = ms->on_change->timeout;
		e->retry_delay = ms->settings.retry_delay;
		e->next_run = retry_now ? 0 : rows[i].next_run;
		e->blocked = !cfg->allow_commands ? "allow_commands is not "
		    "yes in the agent config" : ms->settings.mode ==
		    MODE_MONITOR ? "the set is in monitor mode" : NULL;
		e->armed = 1;
	}
	/* Entries whose run is no longer pending (done elsewhere, dropped)
	 * go, unless running. */
	for (i = r->n; i-- > 0;)
		if (!r->v[i].armed && r->v[i].proc == NULL)
			remove_entry(r, &r->v[i]);
	state_command_free(rows, n);
	strset_free(&idx);
	start_due(r, st);
}

/* ---- running --------------------------------------------------------- */

/* Writes the list of changed paths where only the agent can reach it:
 * <state_dir>/commands/<set>.changed, the folder private (0700 / SYSTEM
 * and Administrators), the file written anew, never through a link. */
static char *
write_changed(const struct cmd_entry *e, const char *list, char **why)
{
	char *dir = platform_join(e->state_dir, "commands"), *name, *path;

	name = xasprintf("%s.changed", e->set);
	path = platform_join(dir, name);
	free(name);
	if (platform_mkdir_private(dir) == -1 ||
	    platform_write_private(path, list ? list : "",
	    list ? strlen(list) : 0) == -1) {
		*why = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		path = NULL;
	}
	free(dir);
	return path;
}

static void
finish(struct command_runner *r, struct state *st, struct cmd_entry *e,
    int started, int code, int sig, const char *why);

static void
start_one(struct command_runner *r, struct state *st, struct cmd_entry *e)
{
	struct state_command c;
	struct cproc_spec sp;
	char *env[5] = { NULL, NULL, NULL, NULL, NULL }, *why = NULL, *prog;
	size_t i;
	int g;

	e->started = (int64_t)time(NULL);
	e->logged = 0;
	e->dropped = 0;
	e->nline = 0;
	e->timed_out = 0;
	if ((g = state_command_get(st, e->set, &c)) != 0) {
		if (g == -1)
			log_error("event=on-change-state set=%s error=\"%s\"",
			    e->set, state_errmsg(st));
		e->next_run = e->started + 60;
		goto out;
	}
	e->gen = c.gen;
	if ((e->changed_file = write_changed(e, c.changed, &why)) == NULL) {
		finish(r, st, e, 0, 0, 0, why);
		goto out;
	}
	env[0] = xstrdup(cproc_path_env());
	env[1] = xasprintf("BITSYNC_SET=%s", e->set);
	env[2] = xasprintf("BITSYNC_DESTINATION=%s", e->dest);
	env[3] = xasprintf("BITSYNC_CHANGED=%s", e->changed_file);
	sp.argv = (const char *const *)e->argv;
	sp.argc = e->argc;
	sp.cwd = e->dest;
	sp.trusted_len = e->trusted;
	sp.env = (const char *const *)env;
	if (cproc_start(&sp, &e->proc, &why) == -1) {
		finish(r, st, e, 0, 0, 0, why);
		goto out;
	}
	e->deadline_ms = mono_ms() + (int64_t)e->timeout * 1000;
	prog = command_escape(e->argv[0], strlen(e->argv[0]));
	log_info("event=on-change-started set=%s pid=%ld program=\"%s\" "
	    "timeout=%" PRIu64 "s", e->set, cproc_pid(e->proc), prog,
	    e->timeout);
	free(prog);
out:
	state_command_clear(&c);
	for (i = 0; i < 4; i++)
		free(env[i]);
	free(why);
}

static void
start_due(struct command_runner *r, struct state *st)
{
	int64_t now = (int64_t)time(NULL);
	size_t i, running = 0;

	for (i = 0; i < r->n; i++)
		running += r->v[i].proc != NULL;
	for (i = 0; i < r->n && running < MAX_RUNNING; i++) {
		struct cmd_entry *e = &r->v[i];

		if (e->proc != NULL || !e->armed || e->blocked != NULL ||
		    e->next_run > now || e->argc == 0)
			continue;
		start_one(r, st, e);
		running += e->proc != NULL;
	}
}

/* Output of a program as log text (command.h). */
char *
command_escape(const char *s, size_t n)
{
	char *out = xmalloc(n * 4 + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		size_t k, need = ch >= 0xf0 && ch < 0xf5 ? 3 :
		    ch >= 0xe0 && ch < 0xf0 ? 2 : ch >= 0xc2 && ch < 0xe0 ?
		    1 : 0;

		/* A whole UTF-8 sequence passes (no overlong forms, no
		 * surrogates, nothing past U+10FFFF); anything else is
		 * escaped byte by byte. */
		if (need > 0 && i + need < n) {
			unsigned char c1 = (unsigned char)s[i + 1];

			for (k = 1; k <= need; k++)
				if (((unsigned char)s[i + k] & 0xc0) != 0x80)
					break;
			if (k > need && !(ch == 0xe0 && c1 < 0xa0) &&
			    !(ch == 0xed && c1 >= 0xa0) &&
			    !(ch == 0xf0 && c1 < 0x90) &&
			    !(ch == 0xf4 && c1 >= 0x90)) {
				memcpy(out + o, s + i, need + 1);
				o += need + 1;
				i += need;
				continue;
			}
		}
		if (ch < 0x20 || ch == 0x7f || ch >= 0x80) {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
		} else if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	return out;
}

/* One line of output into the log, escaped so that a program cannot
 * forge records or break a JSON log. */
static void
log_output(const struct cmd_entry *e, const char *s, size_t n)
{
	char *out = command_escape(s, n);

	log_info("event=on-change-output set=%s line=\"%s\"", e->set, out);
	free(out);
}

static void
take_output(struct cmd_entry *e, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (e->logged >= COMMAND_OUTPUT_MAX) {
			e->dropped += n - i;
			return;
		}
		e->logged++;
		if (buf[i] == '\n') {
			log_output(e, e->line, e->nline);
			e->nline = 0;
			continue;
		}
		e->line[e->nline++] = buf[i];
		if (e->nline == sizeof(e->line)) {
			log_output(e, e->line, e->nline);
			e->nline = 0;
		}
	}
}

static void
drain(struct cmd_entry *e)
{
	char buf[65536];
	size_t total = 0;
	long got;

	while (total < READ_PER_POLL &&
	    (got = cproc_read(e->proc, buf, sizeof(buf))) > 0) {
		take_output(e, buf, (size_t)got);
		total += (size_t)got;
	}
}

/* A run ended (or could not start: started 0, why says why): the
 * record, the log, the retry. */
static void
finish(struct command_runner *r, struct state *st, struct cmd_entry *e,
    int started, int code, int sig, const char *why)
{
	struct state_command c;
	int64_t now = (int64_t)time(NULL);
	char *err = NULL;
	int ok = started && code == 0 && sig == 0 && !e->timed_out, g;

	if (e->nline > 0) {
		log_output(e, e->line, e->nline);
		e->nline = 0;
	}
	if (!started)
		err = xstrdup(why);
	else if (e->timed_out)
		err = xasprintf("timed out after %" PRIu64 "s; its process "
		    "group was killed", e->timeout);
	else if (sig != 0)
		err = xasprintf("killed by signal %d", sig);
	else if (code != 0)
		err = xasprintf("exited with status %d", code);
	if (ok)
		log_info("event=on-change-done set=%s result=success "
		    "duration=%llds output_bytes=%zu dropped_bytes=%" PRIu64,
		    e->set, (long long)(now - e->started), e->logged,
		    e->dropped);
	else
		log_error("event=on-change-failed set=%s result=%s error=\"%s\" "
		    "retry_in=%" PRIu64 "s output_bytes=%zu dropped_bytes=%"
		    PRIu64, e->set, e->timed_out ? "timeout" : "failure", err,
		    e->retry_delay, e->logged, e->dropped);
	if ((g = state_command_get(st, e->set, &c)) == 1)
		c.set = xstrdup(e->set);
	if (g == -1) {
		log_error("event=on-change-state set=%s error=\"%s\"", e->set,
		    state_errmsg(st));
	} else {
		c.last_run = e->started;
		c.last_exit = sig != 0 ? -sig : code;
		free(c.last_result);
		c.last_result = xstrdup(ok ? "success" : e->timed_out ?
		    "timeout" : "failure");
		free(c.last_error);
		c.last_error = err != NULL ? xstrdup(err) : NULL;
		if (ok) {
			c.successes++;
			c.attempts = 0;
			/* Changes noted while it ran need a run of their
			 * own; else nothing is pending any more. */
			if (c.gen == e->gen) {
				c.pending = 0;
				free(c.changed);
				c.changed = NULL;
			}
			c.next_run = 0;
		} else {
			c.failures++;
			c.attempts++;
			/* now is truncated: at least retry_delay from now. */
			c.next_run = now + (int64_t)e->retry_delay + 1;
		}
		e->next_run = c.next_run;
		if (state_command_put(st, &c) == -1)
			log_error("event=on-change-state set=%s error=\"%s\"",
			    e->set, state_errmsg(st));
		if (!c.pending)
			e->armed = 0;
		state_command_clear(&c);
	}
	free(err);
	cproc_free(e->proc);
	e->proc = NULL;
	if (e->changed_file != NULL)
		remove(e->changed_file);
	free(e->changed_file);
	e->changed_file = NULL;
	r->ended = 1;
}

int
command_poll(struct command_runner *r, struct state *st)
{
	int64_t now = mono_ms();
	size_t i;
	int code, sig, ended;

	for (i = 0; i < r->n; i++) {
		struct cmd_entry *e = &r->v[i];

		if (e->proc == NULL)
			continue;
		drain(e);
		if (cproc_poll(e->proc, &code, &sig)) {
			drain(e);	/* what it wrote before it ended */
			finish(r, st, e, 1, code, sig, NULL);
			continue;
		}
		if (now >= e->deadline_ms && !e->timed_out) {
			log_warn("event=on-change-timeout set=%s pid=%ld "
			    "timeout=%" PRIu64 "s action=\"killing its "
			    "process group\"", e->set, cproc_pid(e->proc),
			    e->timeout);
			e->timed_out = 1;
			cproc_kill(e->proc);
		}
	}
	for (i = r->n; i-- > 0;)
		if (!r->v[i].armed && r->v[i].proc == NULL)
			remove_entry(r, &r->v[i]);
	start_due(r, st);
	ended = r->ended;
	r->ended = 0;
	return ended;
}

int
command_busy(const struct command_runner *r)
{
	size_t i;

	for (i = 0; r != NULL && i < r->n; i++)
		if (r->v[i].proc != NULL)
			return 1;
	return 0;
}

int
command_wait_ms(const struct command_runner *r)
{
	int64_t now = (int64_t)time(NULL), best = -1, d;
	size_t i;

	if (r == NULL)
		return -1;
	if (command_busy(r))
		return POLL_MS;
	for (i = 0; i < r->n; i++) {
		const struct cmd_entry *e = &r->v[i];

		if (!e->armed || e->blocked != NULL)
			continue;
		d = e->next_run > now ? (e->next_run - now) * 1000 : 0;
		if (best == -1 || d < best)
			best = d;
	}
	return best > 86400000 ? 86400000 : (int)best;
}

/* ---- status and metrics ---------------------------------------------- */

static int
cmp_row(const void *key, const void *row)
{
	return strcmp((const char *)key,
	    ((const struct state_command *)row)->set);
}

void
command_status(const struct command_runner *r, struct state *st,
    json_t *status)
{
	struct state_command *rows = NULL;
	json_t *sets = json_object_get(status, "sets"), *s;
	int64_t now = (int64_t)time(NULL);
	size_t n = 0, i, k;

	if (state_command_list(st, &rows, &n) == -1)
		return;
	json_array_foreach(sets, k, s) {
		const char *name = json_string_value(json_object_get(s,
		    "name"));
		const struct cmd_entry *e = NULL;
		const struct state_command *c = NULL;
		const char *state;

		/* rows come sorted by name (byte order, as strcmp). */
		if (name != NULL && n > 0)
			c = bsearch(name, rows, n, sizeof(*rows), cmp_row);
		if (c == NULL)
			continue;
		for (i = 0; r != NULL && i < r->n; i++)
			if (strcmp(r->v[i].set, name) == 0)
				e = &r->v[i];
		if (e != NULL && e->proc != NULL)
			state = "running";
		else if (c->pending && e != NULL && e->blocked != NULL)
			state = "blocked";
		else if (c->pending && c->attempts > 0 && c->next_run > now)
			state = "waiting-to-retry";
		else if (c->pending)
			state = "pending";
		else
			state = "done";
		json_object_set_new(s, "on_change", json_pack("{s:s,s:b,s:I,"
		    "s:I,s:I,s:i,s:s?,s:s?,s:I,s:I,s:s?}", "state", state,
		    "pending", c->pending, "attempts", (json_int_t)c->attempts,
		    "next_run", (json_int_t)(c->pending ? c->next_run : 0),
		    "last_run", (json_int_t)c->last_run, "last_exit",
		    c->last_exit, "last_result", c->last_result,
		    "last_error", c->last_error, "successes",
		    (json_int_t)c->successes, "failures",
		    (json_int_t)c->failures, "blocked", e != NULL &&
		    c->pending ? e->blocked : NULL));
	}
	state_command_free(rows, n);
}

static void
put_label(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void
command_metrics(FILE *f, const json_t *sets)
{
	static const char *const results[] = { "success", "failure" };
	const json_t *s, *oc;
	size_t i, k;

	fputs("# HELP bitsync_on_change_runs_total Runs of the set's "
	    "on_change command, by result (failure: non-zero exit, signal, "
	    "timeout or not started).\n# TYPE bitsync_on_change_runs_total "
	    "counter\n", f);
	json_array_foreach(sets, i, s) {
		if (!json_is_object(oc = json_object_get(s, "on_change")))
			continue;
		for (k = 0; k < 2; k++) {
			fputs("bitsync_on_change_runs_total{set=\"", f);
			put_label(f, json_string_value(json_object_get(s,
			    "name")));
			fprintf(f, "\",result=\"%s\"} %lld\n", results[k],
			    (long long)json_integer_value(json_object_get(oc,
			    k == 0 ? "successes" : "failures")));
		}
	}
	fputs("# HELP bitsync_on_change_pending 1 while a run of the set's "
	    "on_change command is due or failing.\n# TYPE "
	    "bitsync_on_change_pending gauge\n", f);
	json_array_foreach(sets, i, s) {
		if (!json_is_object(oc = json_object_get(s, "on_change")))
			continue;
		fputs("bitsync_on_change_pending{set=\"", f);
		put_label(f, json_string_value(json_object_get(s, "name")));
		fprintf(f, "\"} %d\n", json_is_true(json_object_get(oc,
		    "pending")));
	}
}

void
command_status_text(const json_t *oc, char *buf, size_t len)
{
	const char *st = json_string_value(json_object_get(oc, "state"));
	const char *err = json_string_value(json_object_get(oc,
	    "last_error"));
	const char *blk = json_string_value(json_object_get(oc, "blocked"));

	long long next = (long long)json_integer_value(json_object_get(oc,
	    "next_run")) - (long long)time(NULL);
	char when[48] = "";

	if (st != NULL && strcmp(st, "waiting-to-retry") == 0 && next > 0)
		snprintf(when, sizeof(when), "; next try in %llds", next);
	snprintf(buf, len, "on_change: %s (runs ok %lld, failed %lld)%s%s%s%s%s",
	    st ? st : "?",
	    (long long)json_integer_value(json_object_get(oc, "successes")),
	    (long long)json_integer_value(json_object_get(oc, "failures")),
	    err ? "; last error: " : "", err ? err : "", when,
	    blk ? "; " : "", blk ? blk : "");
}

size_t
command_run_pending(struct state *st, const struct manifest *m,
    const struct config *cfg, int whole, volatile sig_atomic_t *stop)
{
	struct command_runner *r = command_new();
	struct state_command *rows = NULL;
	size_t n = 0, i, failed = 0;
	int64_t since = (int64_t)time(NULL);

	command_schedule(r, st, m, cfg, 1, whole);
	while (command_busy(r) && !*stop) {
		platform_sleep_ms(POLL_MS);
		/* Only what this apply started: a failure waits for its
		 * retry time in the daemon or the next apply. */
		for (i = 0; i < r->n; i++)
			if (r->v[i].proc == NULL && r->v[i].started != 0)
				r->v[i].next_run = INT64_MAX;
		command_poll(r, st);
	}
	command_free(r);
	if (state_command_list(st, &rows, &n) == 0)
		for (i = 0; i < n; i++)
			failed += rows[i].pending && rows[i].last_run >= since &&
			    rows[i].last_result != NULL &&
			    strcmp(rows[i].last_result, "success") != 0;
	state_command_free(rows, n);
	return failed;
}
