/* service.h - bitsync as a Windows service: installation under the
 * Service Control Manager with a chosen service account, the SCM's
 * dispatcher (or a console run with Ctrl+C as stop), and the Event Log
 * source with its message table (packaging/windows/bitsync_msg.mc). */
#ifndef BITSYNC_SERVICE_H
#define BITSYNC_SERVICE_H

#include <windows.h>

#define SERVICE_NAME_DEFAULT	"bitsync"

/* The service's failure actions, however it is installed: restart after
 * SERVICE_RESTART_DELAY_MS, SERVICE_RESTARTS times, then nothing; the
 * failure count resets after SERVICE_FAILURE_RESET_S.  The MSI declares
 * the same in its MsiServiceConfigFailureActions table, which
 * packaging/windows/msi/build-msi.sh writes from these three lines. */
#define SERVICE_RESTART_DELAY_MS	60000
#define SERVICE_RESTARTS		2
#define SERVICE_FAILURE_RESET_S		86400

/* The account the service runs as (design §1, README "Service
 * accounts"): what each means for network identity is documented there. */
enum service_account { SVC_LOCAL_SYSTEM, SVC_NETWORK_SERVICE,
	SVC_LOCAL_SERVICE };

/* "LocalSystem", "NetworkService" or "LocalService" (any case); -1 else. */
int service_parse_account(const char *s, enum service_account *out);

/* Installs service `name` running "<this exe>" run --service as account,
 * started automatically, restarted on failure, and registers the Event Log
 * source `name` with this exe as its message file.  Returns 0, or -1 with
 * a sentence in err. */
int service_install(const char *name, enum service_account account,
    char *err, size_t errlen);

/* Gives the installed service `name` the command line service_install
 * writes ("<this exe>" run --service, the path quoted) and its failure
 * actions.  The MSI runs it (`bitsync service configure`) after Windows
 * Installer's InstallServices, so a Group Policy install ends up as
 * `service install` leaves it. */
int service_configure(const char *name, char *err, size_t errlen);

/* Stops (if running) and deletes the service and its Event Log source. */
int service_uninstall(const char *name, char *err, size_t errlen);

/* The agent's main loop: runs until stop is signalled, returns an exit
 * code. */
typedef int (*service_body_fn)(void *ctx, HANDLE stop);

/* Runs body under the SCM's dispatcher when the process was started as
 * service `name`; otherwise (a console) runs it directly with Ctrl+C,
 * Ctrl+Break and console close as stop.  Returns body's exit code. */
int service_run(const char *name, service_body_fn body, void *ctx);

/* Runs body directly with Ctrl+C, Ctrl+Break and console close as stop,
 * without asking the SCM's dispatcher first: Wine's
 * StartServiceCtrlDispatcher does not fail in a process the SCM did not
 * start (it connects to the control pipe of the service started last and
 * waits), so a console run must not call it. */
int service_run_console(service_body_fn body, void *ctx);

/* Inside service_run's body: an auto-reset event the SCM's
 * SERVICE_CONTROL_PARAMCHANGE sets (never set in a console run). */
HANDLE service_reload_event(void);

/* Which account this process runs as now (for the LocalService warning
 * of design §3 about auth: computer); -1 when it is none of the three. */
int service_current_account(enum service_account *out);

/* Writes one Event Log record of source `name` (opened on first use):
 * id is an MSG_* from bitsync_msg.h, text its insertion string (UTF-8). */
void eventlog_report(const char *name, unsigned long id, const char *text);

#endif
