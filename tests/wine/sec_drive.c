/* sec_drive.c - the promises of design §7 kept under LocalSystem, checked
 * under Wine (issue 11, audit U1, U13, U14, U20, U22 and h2's Windows
 * residual): platform_win.c's folder walks, private files, status temps
 * and deletes, and the bits backend's path check before Resume and
 * Complete.
 *
 *   sec_drive.exe WORKDIR
 *
 * WORKDIR is the Windows path of a folder run.sh prepared (and watches:
 * see ask()): besides plain
 * folders it holds unix symbolic links, which Wine shows as reparse points
 * by their names (GetFileAttributesW) and follows in handles, the nearest
 * Wine comes to a junction a user plants (Wine 8 cannot make a junction:
 * FSCTL_SET_REPARSE_POINT answers ERROR_NOT_SUPPORTED, and
 * CreateSymbolicLinkW answers TRUE and makes nothing):
 *   u1\jn        -> u1\elsewhere       (a folder link below the root)
 *   u20\link.dat -> u20\victim2.dat    (a file link where state goes)
 *   u13\jn       -> u13\elsewhere      (a folder link on a status path)
 *   rm\jn        -> rm\real            (a folder link above a placed file)
 *   bj\d         <-> bj\elsewhere      (swapped into a BITS destination
 *                                       on request: want.N, done.N)
 *   bj\src.bin                         (a local BITS source)
 * Prints "PASS name" or "FAIL name: why" and "N passed, N failed". */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bits/bits.h"
#include "platform.h"
#include "util.h"
#include "win/wincheck.h"
#include "win/winutil.h"

static int passed, failed;

static void
result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		passed++;
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failed++;
	}
	fflush(stdout);
}

static char *
join(const char *a, const char *b)
{
	return platform_join(a, b);
}

static int
put(const char *path, const char *text)
{
	wchar_t *w = win_widen(path);
	HANDLE h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0,
	    NULL);
	DWORD n;
	int ok;

	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return -1;
	ok = WriteFile(h, text, (DWORD)strlen(text), &n, NULL);
	CloseHandle(h);
	return ok ? 0 : -1;
}

/* The file's text (at most 255 bytes), "" when it cannot be read. */
static const char *
get(const char *path)
{
	static char buf[256];
	wchar_t *w = win_widen(path);
	HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING, 0,
	    NULL);
	DWORD n = 0;

	free(w);
	buf[0] = 0;
	if (h == INVALID_HANDLE_VALUE)
		return buf;
	if (ReadFile(h, buf, sizeof(buf) - 1, &n, NULL))
		buf[n] = 0;
	CloseHandle(h);
	return buf;
}

static int
exists(const char *path)
{
	wchar_t *w = win_widen(path);
	DWORD a = GetFileAttributesW(w);

	free(w);
	return a != INVALID_FILE_ATTRIBUTES;
}

static void
mkdir_plain(const char *path)
{
	wchar_t *w = win_widen(path);

	CreateDirectoryW(w, NULL);
	free(w);
}

/* Gives path exactly the security descriptor of sddl (owner and DACL). */
static int
set_sddl(const char *path, const wchar_t *sddl)
{
	PSECURITY_DESCRIPTOR sd;
	PACL dacl = NULL;
	PSID owner = NULL;
	BOOL present, def;
	wchar_t *w = win_widen(path);
	DWORD e;

	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL))
		return -1;
	GetSecurityDescriptorDacl(sd, &present, &dacl, &def);
	GetSecurityDescriptorOwner(sd, &owner, &def);
	e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION |
	    (owner ? OWNER_SECURITY_INFORMATION : 0), owner, NULL, dacl, NULL);
	LocalFree(sd);
	free(w);
	return e == ERROR_SUCCESS ? 0 : -1;
}

/* Whether path's DACL grants Users (S-1-5-32-545) and Everyone no write
 * (and, where the host keeps it, is protected): what bitsync gives a
 * folder it creates. */
static int
admin_only(const char *path, char *why, size_t n)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	SECURITY_DESCRIPTOR_CONTROL ctl = 0;
	DWORD rev, e;
	PACL dacl = NULL;
	wchar_t *w = win_widen(path);
	WORD i;
	int ok = 1;

	e = GetNamedSecurityInfoW(w, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd);
	free(w);
	if (e != ERROR_SUCCESS || dacl == NULL) {
		snprintf(why, n, "no DACL (error %lu)", (unsigned long)e);
		return 0;
	}
	/* Wine 8 keeps unix modes only: no protected bit to see there. */
	GetSecurityDescriptorControl(sd, &ctl, &rev);
	if (!(ctl & SE_DACL_PROTECTED))
		printf("  # %s: the DACL is not reported protected (Wine keeps "
		    "a unix mode, not the DACL bitsync gave)\n", path);
	for (i = 0; ok && i < dacl->AceCount; i++) {
		ACE_HEADER *h;
		ACCESS_ALLOWED_ACE *a;

		if (!GetAce(dacl, i, (void **)&h) ||
		    h->AceType != ACCESS_ALLOWED_ACE_TYPE)
			continue;
		a = (ACCESS_ALLOWED_ACE *)h;
		if ((IsWellKnownSid((PSID)&a->SidStart, WinBuiltinUsersSid) ||
		    IsWellKnownSid((PSID)&a->SidStart, WinWorldSid)) &&
		    (a->Mask & (FILE_WRITE_DATA | FILE_APPEND_DATA | DELETE |
		    WRITE_DAC | WRITE_OWNER | GENERIC_WRITE | GENERIC_ALL))) {
			snprintf(why, n, "ACE %u grants write (0x%08lx)", i,
			    (unsigned long)a->Mask);
			ok = 0;
		}
	}
	LocalFree(sd);
	return ok;
}

/* U20: the files of state_dir are judged through the handle. */
static void
test_private(const char *work)
{
	char *d = join(work, "u20"), *victim = join(d, "victim.dat");
	char *hl = join(d, "hard.dat"), *link = join(d, "link.dat");
	char *victim2 = join(d, "victim2.dat");
	wchar_t *wv = win_widen(victim), *wh = win_widen(hl);
	int rc, e;

	put(victim, "root's file");
	if (!CreateHardLinkW(wh, wv, NULL)) {
		result(0, "U20: plant a hard link", "CreateHardLinkW %lu",
		    (unsigned long)GetLastError());
	} else {
		rc = platform_write_private(hl, "forged", 6);
		e = errno;
		result(rc == -1 && strcmp(get(victim), "root's file") == 0,
		    "U20: a hard link planted at a state_dir file is refused, "
		    "its other name left as it was", "rc %d errno %d, the "
		    "victim now holds '%s'", rc, e, get(victim));
	}
	rc = platform_write_private(link, "forged", 6);
	e = errno;
	result(rc == -1 && e == ELOOP && strcmp(get(victim2),
	    "another file") == 0, "U20: a symbolic link planted at a "
	    "state_dir file is not written through", "rc %d errno %d, the "
	    "target now holds '%s'", rc, e, get(victim2));
	free(link);
	link = join(d, "plain.dat");
	rc = platform_write_private(link, "state", 5);
	result(rc == 0 && strcmp(get(link), "state") == 0 &&
	    platform_write_private(link, "st", 2) == 0 &&
	    strcmp(get(link), "st") == 0 && platform_create_private(link) == 0 &&
	    strcmp(get(link), "st") == 0, "U20: a plain private file is "
	    "written, rewritten (truncated) and kept by create_private",
	    "rc %d '%s'", rc, get(link));
	free(wv);
	free(wh);
	free(d);
	free(victim);
	free(victim2);
	free(hl);
	free(link);
}

/* U13: status.json's temp. */
static void
test_replace(const char *work)
{
	char *d = join(work, "u13"), *st = join(d, "status.json");
	char *victim = join(d, "victim.dat"), *tmp = NULL, *old;
	char *viaj, *other;
	wchar_t *wv = win_widen(victim), *wo;
	FILE *f;
	int rc, e;

	put(victim, "root's file");
	/* The old name: <path>.tmp.<pid>, opened "wb" (truncating). */
	old = xasprintf("%s.tmp.%lu", st, (unsigned long)GetCurrentProcessId());
	wo = win_widen(old);
	if (!CreateHardLinkW(wo, wv, NULL))
		result(0, "U13: plant a hard link", "CreateHardLinkW %lu",
		    (unsigned long)GetLastError());
	f = platform_replace_open(st, &tmp);
	if (f != NULL) {
		fputs("{\"ok\":1}", f);
		rc = platform_replace_commit(f, tmp, st);
	} else
		rc = -1;
	result(rc == 0 && strcmp(get(st), "{\"ok\":1}") == 0 &&
	    strcmp(get(victim), "root's file") == 0, "U13: status.json is "
	    "replaced through a new temp; a hard link planted at the old "
	    "temp name is left alone", "rc %d, status '%s', the victim holds "
	    "'%s'", rc, get(st), get(victim));
	/* A folder of the path that leads elsewhere: refused. */
	viaj = join(d, "jn\\status.json");
	other = join(d, "elsewhere\\status.json");
	tmp = NULL;
	f = platform_replace_open(viaj, &tmp);
	e = errno;
	if (f != NULL) {
		fputs("{}", f);
		platform_replace_commit(f, tmp, viaj);
	}
	result(f == NULL && e == ELOOP && !exists(other), "U13: a status "
	    "temp reached through a linked folder is refused (final path "
	    "of the handle)", "f %p errno %d, written there: %d", (void *)f,
	    e, exists(other));
	free(viaj);
	free(other);
	free(wv);
	free(wo);
	free(old);
	free(victim);
	free(st);
	free(d);
}

static int
owned_by_users(const char *path)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID owner = NULL;
	wchar_t *w = win_widen(path);
	int r;

	r = GetNamedSecurityInfoW(w, SE_FILE_OBJECT,
	    OWNER_SECURITY_INFORMATION, &owner, NULL, NULL, NULL, &sd) ==
	    ERROR_SUCCESS && owner != NULL &&
	    IsWellKnownSid(owner, WinBuiltinUsersSid);
	LocalFree(sd);
	free(w);
	return r;
}

/* U14: an existing state_dir is judged. */
static void
test_state_dir(const char *work)
{
	char *d = join(work, "u14"), *ok = join(d, "mine");
	char *loose = join(d, "loose"), *owned = join(d, "owned");
	const char *why;
	int rc, e;

	mkdir_plain(d);
	rc = platform_mkdir_private(ok);
	result(rc == 0 && platform_mkdir_private(ok) == 0, "U14: a state_dir "
	    "bitsync made is created and accepted again", "rc %d errno %d",
	    rc, errno);
	mkdir_plain(loose);
	/* Everyone: Wine 8 keeps a file's unix mode only, and maps an
	 * Everyone ACE to its "other" bits (an ACE for Users is dropped). */
	if (set_sddl(loose, L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	    L"(A;OICI;FA;;;WD)") != 0)
		result(0, "U14: set a DACL", "SetNamedSecurityInfo failed");
	rc = platform_mkdir_private(loose);
	e = errno;
	why = platform_last_why();
	result(rc == -1 && e == EACCES && why != NULL &&
	    strstr(why, "S-1-1-0") != NULL && strstr(why, "icacls"),
	    "U14: a state_dir Everyone may write is refused, naming them and "
	    "the icacls fix", "rc %d errno %d why %s", rc, e,
	    why ? why : "-");
	mkdir_plain(owned);
	if (set_sddl(owned, L"O:BUD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	    != 0 || !owned_by_users(owned))
		printf("  # this host cannot give a folder another owner (Wine "
		    "reports the process's user): the owner check is not "
		    "exercised here\n");
	else {
		rc = platform_mkdir_private(owned);
		e = errno;
		why = platform_last_why();
		result(rc == -1 && e == EACCES && why != NULL &&
		    strstr(why, "owned by") != NULL, "U14: a state_dir "
		    "owned by Users is refused", "rc %d errno %d why %s", rc,
		    e, why ? why : "-");
	}
	free(d);
	free(ok);
	free(loose);
	free(owned);
}

/* U1: the folders below the allowed root. */
static void
test_make_dirs(const char *work)
{
	char *root = join(work, "u1"), *p, *q, why[160];
	const char *w;
	size_t t = strlen(root);
	int rc, e;

	p = join(root, "new\\a\\b");
	rc = platform_make_dirs(p, t);
	q = join(root, "new");
	result(rc == 0 && exists(p) && admin_only(q, why, sizeof(why)) &&
	    admin_only(p, why, sizeof(why)), "U1: missing folders are "
	    "created with a DACL that lets no one but admins write", "rc %d "
	    "errno %d: %s", rc, errno, why);
	free(p);
	free(q);
	q = join(root, "open");
	mkdir_plain(q);
	set_sddl(q, L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;WD)");
	p = join(q, "sub");
	rc = platform_make_dirs(p, t);
	e = errno;
	w = platform_last_why();
	result(rc == -1 && e == EACCES && !exists(p) && w != NULL &&
	    strstr(w, "open") != NULL && strstr(w, "icacls") != NULL,
	    "U1: a folder below the allowed root that Everyone may write is "
	    "refused (nothing made inside), naming it and the fix",
	    "rc %d errno %d why %s", rc, e, w ? w : "-");
	free(p);
	/* The same folder is the admin's business when it is the root. */
	p = join(q, "sub");
	rc = platform_make_dirs(p, strlen(q));
	result(rc == 0, "U1: the allowed root itself is not judged",
	    "rc %d errno %d", rc, errno);
	free(p);
	free(q);
	p = join(root, "notyet\\x");
	q = join(root, "notyet");
	rc = platform_make_dirs(p, strlen(q));
	result(rc == 0 && exists(p), "U1: a missing allowed root is created "
	    "with what is below it", "rc %d errno %d", rc, errno);
	free(p);
	free(q);
	p = join(root, "jn\\x");
	q = join(root, "elsewhere\\x");
	rc = platform_make_dirs(p, t);
	e = errno;
	result(rc == -1 && e == ELOOP && !exists(q), "U1: a linked folder "
	    "below the allowed root is refused, nothing made behind it",
	    "rc %d errno %d made: %d", rc, e, exists(q));
	free(p);
	free(q);
	free(root);
}

/* h2's Windows residual: platform_remove_placed. */
static void
test_remove(const char *work)
{
	char *d = join(work, "rm"), *real = join(d, "real\\f.bin");
	char *viaj = join(d, "jn\\f.bin"), *f2 = join(d, "f2.bin");
	char *f3 = join(d, "f3.bin"), *tmp = join(d, "f2.new");
	struct platform_stat want, sb;
	wchar_t *w1, *w2;
	HANDLE h;
	FILETIME ft;
	int rc, e;

	put(real, "placed");
	platform_lstat(real, &want);
	rc = platform_remove_placed(viaj, &want);
	e = errno;
	result(rc == -1 && e == ELOOP && exists(real), "h2: a linked folder "
	    "above a placed file is not followed by the delete", "rc %d "
	    "errno %d, file still there: %d", rc, e, exists(real));
	put(f2, "placed!");
	platform_lstat(f2, &want);
	result(want.dev != 0 || want.ino != 0, "h2: platform_lstat records "
	    "the volume serial and file index", "dev %llu ino %llu",
	    (unsigned long long)want.dev, (unsigned long long)want.ino);
	/* Another file of the same size and time put in its place. */
	put(tmp, "other!!");
	w1 = win_widen(f2);
	h = CreateFileW(w1, GENERIC_READ, FILE_SHARE_READ, NULL,
	    OPEN_EXISTING, 0, NULL);
	GetFileTime(h, NULL, NULL, &ft);
	CloseHandle(h);
	w2 = win_widen(tmp);
	h = CreateFileW(w2, FILE_WRITE_ATTRIBUTES, 0, NULL, OPEN_EXISTING, 0,
	    NULL);
	SetFileTime(h, NULL, NULL, &ft);
	CloseHandle(h);
	MoveFileExW(w2, w1, MOVEFILE_REPLACE_EXISTING);
	platform_lstat(f2, &sb);
	rc = platform_remove_placed(f2, &want);
	result(rc == 1 && exists(f2) && sb.size == want.size &&
	    sb.mtime_ns == want.mtime_ns, "h2: another file of the same size "
	    "and mtime is kept (file index differs)", "rc %d, size %llu/%llu "
	    "mtime equal %d", rc, (unsigned long long)sb.size,
	    (unsigned long long)want.size, sb.mtime_ns == want.mtime_ns);
	put(f3, "placed");
	platform_lstat(f3, &want);
	rc = platform_remove_placed(f3, &want);
	result(rc == 0 && !exists(f3), "h2: the placed file itself is "
	    "deleted", "rc %d errno %d", rc, errno);
	free(w1);
	free(w2);
	free(d);
	free(real);
	free(viaj);
	free(f2);
	free(f3);
	free(tmp);
}

/* U12: a squatter on the control pipe's name is named, and not talked
 * to.  Under Wine every process runs as one user, so the server-token
 * check cannot tell a squatter from the agent here: what is checked is
 * the holder's identification (the service's alert names it) and the
 * refusal of a pipe whose owner is another account. */
static void
test_pipe(const char *work)
{
	char *dir = join(work, "u12"), *who, mine[32];
	wchar_t *name = win_control_pipe(dir);
	SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, FALSE };
	HANDLE p;
	int fd, e;

	mkdir_plain(dir);
	ConvertStringSecurityDescriptorToSecurityDescriptorW(
	    L"O:BUD:(A;;GA;;;WD)", SDDL_REVISION_1, &sa.lpSecurityDescriptor,
	    NULL);
	p = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX |
	    FILE_FLAG_FIRST_PIPE_INSTANCE, PIPE_TYPE_BYTE | PIPE_WAIT, 4,
	    4096, 4096, 0, &sa);
	if (p == INVALID_HANDLE_VALUE) {
		result(0, "U12: squat the control pipe", "error %lu",
		    (unsigned long)GetLastError());
		goto out;
	}
	who = win_pipe_holder(dir);
	snprintf(mine, sizeof(mine), "process %lu",
	    (unsigned long)GetCurrentProcessId());
	result(who != NULL && strncmp(who, mine, strlen(mine)) == 0,
	    "U12: the holder of a squatted pipe name is identified (the "
	    "service names it in its alert)", "%s, want %s",
	    who ? who : "-", mine);
	free(who);
	/* A fresh instance: the identification used the first one. */
	CloseHandle(p);
	p = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX |
	    FILE_FLAG_FIRST_PIPE_INSTANCE, PIPE_TYPE_BYTE | PIPE_WAIT, 4,
	    4096, 4096, 0, &sa);
	fd = platform_control_connect(dir);
	e = errno;
	result(fd == -1 && e == EACCES, "U12: apply does not talk to a pipe "
	    "owned by another account", "fd %d errno %d", fd, e);
	if (p != INVALID_HANDLE_VALUE)
		CloseHandle(p);
out:
	LocalFree(sa.lpSecurityDescriptor);
	free(name);
	free(dir);
}

/* U1 in the backend: the path is checked again right before Resume and
 * before Complete. */
static const struct backend_ops *ops = &bits_backend_ops;

/* Asks run.sh (which watches bj\ for want.N) to swap bj\d for a unix
 * symlink ("swap") or to put the real folder back ("back"): Wine's
 * MoveFileW renames a symlink's target, not the link, so only the unix
 * side can plant it.  0 once done (done.N), -1 after 30 s. */
static int
ask(const char *dir, const char *what)
{
	static int seq;
	char *want, *done;
	int k, rc = -1;

	seq++;
	want = xasprintf("%s\\want.%d", dir, seq);
	done = xasprintf("%s\\done.%d", dir, seq);
	put(want, what);
	for (k = 0; k < 300; k++) {
		if (exists(done)) {
			rc = 0;
			break;
		}
		Sleep(100);
	}
	free(want);
	free(done);
	return rc;
}

static enum bk_state
wait_state(struct backend *be, const bk_guid *id, int secs)
{
	struct bk_job *jobs;
	size_t n, i;
	enum bk_state st = BK_ERROR;
	int k;

	for (k = 0; k < secs * 10; k++) {
		if (ops->list_jobs(be, &jobs, &n) != BK_OK)
			break;
		for (i = 0; i < n; i++)
			if (memcmp(&jobs[i].id, id, sizeof(*id)) == 0)
				st = jobs[i].state;
		backend_free_jobs(jobs, n);
		if (st == BK_TRANSFERRED || st == BK_ERROR)
			break;
		Sleep(100);
	}
	return st;
}

static void
test_bits(const char *work)
{
	char *d = join(work, "bj"), *src = join(d, "src.bin");
	char *dst = join(d, "d"), *local = join(d, "d\\f.bin");
	char *behind = join(d, "elsewhere\\f.bin");
	struct bk_file_spec f[1];
	struct bk_job_spec s;
	struct backend *be;
	bk_guid id;
	enum bk_state st;
	const char *err;
	int rc;

	if ((rc = ops->open(NULL, &be)) != BK_OK) {
		result(0, "U1: open the bits backend", "rc %d", rc);
		goto out;
	}
	mkdir_plain(dst);
	memset(&s, 0, sizeof(s));
	f[0].remote = src;
	f[0].local = local;
	s.display_name = "bitsync:sec";
	s.description = "bitsync/1 set=sec spec=0";
	s.priority = BK_NORMAL;
	s.retry_delay = 5;
	s.no_progress_timeout = 60;
	s.proxy_usage = BK_PROXY_PRECONFIG;
	s.files = f;
	s.nfiles = 1;
	/* Before Resume: the folder is swapped for a link after the job
	 * was made (Wine: renamed in place of the real one). */
	if ((rc = ops->create_job(be, &s, &id)) != BK_OK) {
		result(0, "U1: create a BITS job", "rc %d %s", rc,
		    ops->last_error(be));
		goto close;
	}
	if (ask(d, "swap") != 0) {
		result(0, "U1: swap the destination folder for a link",
		    "run.sh did not answer");
		ops->cancel(be, &id);
		goto close;
	}
	rc = ops->resume(be, &id);
	err = ops->last_error(be);
	result(rc == BK_E_IO && err != NULL && strstr(err, "Resume") &&
	    strstr(err, "\\bj\\d") != NULL, "U1: Resume is refused when a "
	    "destination folder became a link", "rc %d: %s", rc,
	    err ? err : "-");
	ops->cancel(be, &id);
	Sleep(300);
	/* Before Complete: the swap comes once the job has transferred. */
	ask(d, "back");
	if ((rc = ops->create_job(be, &s, &id)) != BK_OK ||
	    (rc = ops->resume(be, &id)) != BK_OK) {
		result(0, "U1: create and resume a BITS job", "rc %d %s", rc,
		    ops->last_error(be));
		goto close;
	}
	st = wait_state(be, &id, 30);
	if (st != BK_TRANSFERRED) {
		result(0, "U1: a local-path job transfers", "state %s",
		    bk_state_name(st));
		ops->cancel(be, &id);
		goto close;
	}
	ask(d, "swap");
	rc = ops->complete(be, &id);
	err = ops->last_error(be);
	result(rc == BK_E_IO && !exists(behind) && err != NULL &&
	    strstr(err, "Complete") != NULL, "U1: Complete is refused when "
	    "a destination folder became a link (nothing placed behind it)",
	    "rc %d placed behind: %d: %s", rc, exists(behind),
	    err ? err : "-");
	/* Put back: the job completes into the real folder. */
	ask(d, "back");
	rc = ops->complete(be, &id);
	result(rc == BK_OK && exists(local), "U1: Complete goes through once "
	    "the real folder is back", "rc %d %s", rc, ops->last_error(be));
close:
	ops->close(be);
out:
	free(d);
	free(src);
	free(dst);
	free(local);
	free(behind);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sec_drive WORKDIR\n");
		return 64;
	}
	test_private(argv[1]);
	test_replace(argv[1]);
	test_state_dir(argv[1]);
	test_make_dirs(argv[1]);
	test_remove(argv[1]);
	test_pipe(argv[1]);
	test_bits(argv[1]);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
