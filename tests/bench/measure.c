/* measure.c - runs a command and reports its CPU time (user + sys), wall time and peak RSS.
 *
 * Usage: measure [-o FILE] [-i FILE] -- COMMAND [ARG...]
 *   -o FILE   write the report there instead of stderr
 *   -i FILE   command's standard input comes from FILE
 * The command's stdout and stderr pass through untouched. The report is one line:
 *   exit=N user_s=U sys_s=S cpu_s=U+S wall_s=W maxrss_kb=K
 * GNU time is not installed here, and a Python wrapper would inflate ru_maxrss: on Linux a child's
 * maxrss starts from its parent's resident size at fork/exec, so the parent must be this small
 * program. Exit status: the command's, or 127 if it could not be started.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void)
{
    fprintf(stderr, "usage: measure [-o FILE] [-i FILE] -- COMMAND [ARG...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL, *in_path = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
            in_path = argv[++i];
        else
            usage();
    }
    if (i >= argc)
        usage();

    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 127;
    }
    if (pid == 0) {
        if (in_path) {
            int fd = open(in_path, O_RDONLY);
            if (fd < 0 || dup2(fd, 0) < 0) {
                fprintf(stderr, "measure: %s: %s\n", in_path, strerror(errno));
                _exit(127);
            }
            close(fd);
        }
        execvp(argv[i], argv + i);
        fprintf(stderr, "measure: %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("measure: wait4");
            return 127;
        }
    }
    double wall = now_s() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    FILE *out = stderr;
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "measure: %s: %s\n", out_path, strerror(errno));
        return 127;
    }
    double u = tv_s(ru.ru_utime), s = tv_s(ru.ru_stime);
    fprintf(out, "exit=%d user_s=%.4f sys_s=%.4f cpu_s=%.4f wall_s=%.4f maxrss_kb=%ld\n", code, u, s, u + s,
            wall, ru.ru_maxrss);
    if (out != stderr && fclose(out) != 0) {
        fprintf(stderr, "measure: %s: write failed\n", out_path);
        return 127;
    }
    return code;
}
