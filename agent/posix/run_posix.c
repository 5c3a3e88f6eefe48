/* run_posix.c - `bitsync run`: the service loop (issue 4).
 *
 * Reconciles at once, then whenever something may have changed: a
 * manifest or the config changed (inotify, after a short debounce for
 * editors' write-rename dance), a job changed state (the backend's
 * notification: a transferred job is completed at once), `apply` asked
 * over the control socket, SIGHUP, a retry or refresh fell due, or
 * `interval` (plus a random splay) passed.  Between those it sleeps in
 * one poll(): idle means idle.  SIGTERM stops it; transfers stay
 * resumable.  With NOTIFY_SOCKET set (systemd Type=notify) it reports
 * READY=1, STATUS= and STOPPING=1.  After every pass it writes
 * status_file and metrics_file (atomically).
 *
 * Control socket <state_dir>/control.sock (mode 0600; peers other than
 * root and the agent's own user are refused by SO_PEERCRED): a client
 * sends "apply\n" and gets one line of JSON back, the summary of the
 * pass it caused; or "plan JSON DETAILED VERBOSE\n", PATH lines and an
 * empty line, and gets "RC OUTLEN ERRLEN\n" and what `plan` prints. */
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

static int notify_pipe[2] = { -1, -1 };

static void
on_job_event(void *ctx, const bk_guid *job, enum bk_state state)
{
	char b = 1;

	(void)ctx;
	(void)job;
	(void)state;
	if (write(notify_pipe[1], &b, 1) == -1) {
		/* full: a wake-up is pending anyway */
	}
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void
sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (path == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len);
	close(fd);
}

static char *
dir_of(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

static void
watch(int fd, const char *path)
{
	if (path == NULL || path[0] == '\0')
		return;
	/* A directory that does not exist yet is not watched; the
	 * interval still picks it up. */
	(void)inotify_add_watch(fd, path, IN_CLOSE_WRITE | IN_MOVED_TO |
	    IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB |
	    IN_DELETE_SELF | IN_MOVE_SELF);
}

static int
open_inotify(const struct config *cfg, const char *config_path)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	char *d;

	if (fd == -1)
		return -1;
	watch(fd, cfg->manifest_dir);
	if (cfg->manifest != NULL && cfg->manifest[0] != '\0') {
		d = dir_of(cfg->manifest);
		watch(fd, d);
		free(d);
	}
	d = dir_of(config_path);
	watch(fd, d);
	free(d);
	return fd;
}

static int
open_control(const char *state_dir, char **pathp)
{
	struct sockaddr_un sa;
	char *path = xasprintf("%s/control.sock", state_dir);
	mode_t old;
	int fd = -1, rc;

	*pathp = path;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	/* Only one daemon holds the engine's lock, so a socket file left
	 * here is stale. */
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	/* Born 0600: no window in which another user could connect. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc == -1 || listen(fd, 8) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SO_PEERCRED: root or the agent's own user only. */
static int
peer_allowed(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return 0;
	return uc.uid == 0 || uc.uid == geteuid();
}

/* Whether an event's name can matter: manifests (*.yaml, *.yml) and the
 * config; editors' temporary files do not. */
static int
relevant(const struct inotify_event *ev, const char *config_path)
{
	const char *base = strrchr(config_path, '/');
	size_t l;

	if (ev->len == 0 || ev->name[0] == '\0')
		return 1;
	base = base ? base + 1 : config_path;
	l = strlen(ev->name);
	return strcmp(ev->name, base) == 0 ||
	    (l > 5 && strcmp(ev->name + l - 5, ".yaml") == 0) ||
	    (l > 4 && strcmp(ev->name + l - 4, ".yml") == 0);
}

/* Drains inotify and moves the debounce deadline: a complete write
 * (close or rename into place) sets it near; a removal or a bare create
 * only pushes it out, so editors' unlink-and-rename never withdraws a
 * set and a real removal waits DEBOUNCE_REMOVE_MS. */
static void
inotify_debounce(int fd, const char *config_path, int64_t *debounce,
    int *reload)
{
	const char *base = strrchr(config_path, '/');
	char buf[4096] __attribute__((aligned(__alignof__(struct
	    inotify_event))));
	int complete = 0, other = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->len > 0 && strcmp(ev->name, base ? base + 1 :
			    config_path) == 0 && (ev->mask & (IN_CLOSE_WRITE |
			    IN_MOVED_TO | IN_ATTRIB)))
				/* The config changed, or its mode did
				 * (StrictModes): re-read and re-judge. */
				*reload = 1;
			if (relevant(ev, config_path)) {
				if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO |
				    IN_ATTRIB))
					complete = 1;
				else
					other = 1;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	daemon_debounce(debounce, complete, other);
}

/* daemon_serve's reader over a socket. */
static long
read_fd(void *arg, char *buf, size_t len)
{
	return (long)read(*(int *)arg, buf, len);
}

static int
write_all_fd(int fd, const char *p, size_t len)
{
	ssize_t w;

	while (len > 0 && (w = write(fd, p, len)) > 0) {
		p += w;
		len -= (size_t)w;
	}
	return len == 0 ? 0 : -1;
}

/* daemon_serve's writer over a socket. */
static int
put_fd(void *arg, const char *buf, size_t len)
{
	return write_all_fd(*(int *)arg, buf, len);
}

static void
serve_control(struct daemon *dm, int lfd)
{
	static const char denied[] = "bitsync: permission denied: the "
	    "control socket answers root and the agent's user only\n";
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
		struct timeval tv = { 5, 0 };

		if (!peer_allowed(fd)) {
			/* Before reading anything a stranger sent. */
			control_write_reply(put_fd, &fd, EXIT_UNAVAILABLE, "",
			    0, denied, sizeof(denied) - 1);
			close(fd);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		daemon_serve(dm, read_fd, put_fd, &fd);
		close(fd);
	}
}

/* The descriptors a refresh probe gives way to (reconcile_ctx.interrupt):
 * a pending signal or a client at the control socket.  Probes run on this
 * thread; a server that accepts and never answers must not keep SIGTERM
 * or `status` waiting for the probe's timeout. */
static int interrupt_fds[2] = { -1, -1 };

static int
probe_interrupt(void *arg)
{
	struct pollfd p[2];

	(void)arg;
	p[0] = (struct pollfd){ interrupt_fds[0], POLLIN, 0 };
	p[1] = (struct pollfd){ interrupt_fds[1], POLLIN, 0 };
	return poll(p, 2, 0) > 0 &&
	    ((p[0].revents & POLLIN) || (p[1].revents & POLLIN));
}

int
cmd_run(const struct cli *cli, int argc, char **argv)
{
	struct daemon dm;
	sigset_t mask;
	char *sockpath = NULL, buf[4096];
	int sfd = -1, ifd = -1, cfd = -1, rc, r, stop = 0, reload = 0;
	int64_t debounce = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "bitsync run: takes no arguments; the "
		    "manifests come from the config (%s)\n", cli->config_path);
		return EXIT_USAGE;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) == -1 ||
	    pipe2(notify_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("bitsync run");
		return EXIT_SOFTWARE;
	}
	rc = daemon_open(&dm, cli);
	dm.on_status = sd_notify_msg;
	if (rc != EXIT_OK)
		goto out;
	log_info("event=started pid=%ld version=%s config=%s state_dir=%s",
	    (long)getpid(), BITSYNC_VERSION, cli->config_path,
	    dm.s.cfg.state_dir);
	for (;;) {
		struct pollfd pfd[4];

		if (reload) {
			reload = 0;
			if ((r = daemon_reload(&dm, &rc)) == -1)
				goto out;
			if (r == 0)
				continue;
			close(ifd);
			close(cfd);
			ifd = cfd = -1;
		}
		if (ifd == -1) {
			ifd = open_inotify(&dm.s.cfg, cli->config_path);
			free(sockpath);
			cfd = open_control(dm.s.cfg.state_dir, &sockpath);
			if (cfd == -1)
				log_error("file=%s key=control_socket error="
				    "\"%s\"", sockpath, strerror(errno));
			interrupt_fds[0] = sfd;
			interrupt_fds[1] = cfd;
			dm.s.ctx.interrupt = probe_interrupt;
			if (dm.s.ctx.ops->set_notify != NULL)
				dm.s.ctx.ops->set_notify(dm.s.ctx.b,
				    on_job_event, NULL);
			daemon_schedule_interval(&dm);
			daemon_pass(&dm, "start");
			sd_notify_msg("READY=1");
		}
		daemon_run_due(&dm, &debounce);
		pfd[0] = (struct pollfd){ sfd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ notify_pipe[0], POLLIN, 0 };
		pfd[2] = (struct pollfd){ ifd, POLLIN, 0 };
		pfd[3] = (struct pollfd){ cfd, POLLIN, 0 };
		if (poll(pfd, 4, daemon_wait_ms(&dm, debounce)) == -1 &&
		    errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					reload = 1;
				else
					stop = 1;
			}
			if (stop)
				break;
		}
		if (pfd[1].revents & POLLIN) {
			/* A job changed state: act now (complete what
			 * transferred) without waiting for a timer. */
			while (read(notify_pipe[0], buf, sizeof(buf)) > 0)
				;
			daemon_pass(&dm, "job event");
		}
		if (pfd[2].revents & POLLIN)
			inotify_debounce(ifd, cli->config_path, &debounce,
			    &reload);
		if (pfd[3].revents & POLLIN)
			serve_control(&dm, cfd);
	}
	rc = EXIT_OK;
	log_info("event=stopped pid=%ld version=%s", (long)getpid(),
	    BITSYNC_VERSION);
out:
	sd_notify_msg("STOPPING=1");
	daemon_close(&dm);
	if (sockpath != NULL && cfd != -1)
		unlink(sockpath);
	free(sockpath);
	if (cfd != -1)
		close(cfd);
	if (ifd != -1)
		close(ifd);
	close(sfd);
	close(notify_pipe[0]);
	close(notify_pipe[1]);
	return rc;
}
