/* daemon.h - the streaming service: model, worker threads, WebSocket/HTTP server, microphone feed,
 * signals and systemd notification, run until SIGTERM/SIGINT.
 *
 * DESIGN (shutdown order, all in the main loop; signal handlers only set flags)
 *   SIGTERM/SIGINT: 1. STOPPING=1 to systemd; the microphone feed stops reading and queues its
 *   end of audio; new connections and further client audio are refused; every Vosk session gets
 *   an end-of-audio job (its final result, then close 1001). 2. The loop keeps serving until every
 *   final result is written and every connection closed (at most 10 s). 3. Workers are joined,
 *   the server, the capture and the model freed (a capture blocked reading a silent pipe is
 *   unblocked, capture.h); exit status 0. Hard deadline: an alarm armed at SIGTERM ends the
 *   process 15 s after it, with a line on stderr and exit status 1, whatever still blocks.
 *   SIGHUP reopens the log file (log.file, for logrotate); it does not reload the configuration:
 *   the model and listening socket are fixed for the process's life (restart to change them).
 *   READY=1 is sent once the model is loaded and the port is open; WATCHDOG=1 from the main loop
 *   every WatchdogSec/2 when the unit asks for it; STATUS= carries the session counts.
 *
 * Thread safety: daemon_run belongs to the main thread (it installs signal handlers).
 */
#ifndef ASRD_DAEMON_H
#define ASRD_DAEMON_H

#include "config.h"

/* Runs the daemon with configuration c, model file model_path and static files www_root (NULL:
 * none). Returns the process exit status: 0 after a clean shutdown, 1 if start-up failed (the
 * reason is logged). */
int daemon_run(const cfg *c, const char *model_path, const char *www_root);

#endif
